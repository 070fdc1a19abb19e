//! Browser tests' half: a chromedriver process and a headless Debian `chromium` session
//! through WebDriver (`fantoccini`), plus the few page helpers the console tests share.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::{ChildGuard, free_port};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver on a free local port, stopped when dropped.
pub struct Driver {
    _process: ChildGuard,
    url: String,
}

impl Driver {
    /// CI installs both packages (tests/run.sh); a missing browser is a failure, not a skip.
    pub fn start() -> Driver {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).is_file(),
                "{path} not found: install the Debian package `{package}` (tests/run.sh does) \
                 to run the web console browser tests"
            );
        }
        let port = free_port();
        Driver {
            _process: ChildGuard::spawn_listening(CHROMEDRIVER, &[&format!("--port={port}")], port),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new headless browser session; `args` are extra chromium flags.
    pub async fn session(&self, downloads: &Path, args: &[&str]) -> Client {
        let mut flags = vec![
            "--headless=new",
            // The tests run as root in containers, where chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ];
        flags.extend_from_slice(args);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": flags,
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("WebDriver session with chromium")
    }
}

/// Where screenshots go: `target/tmp/console/`.
pub fn shots() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&out).unwrap();
    out
}

pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    assert!(png.len() > 10_000, "{name} looks blank");
    std::fs::write(shots().join(name), png).unwrap();
}

/// The text of the element `css`, `None` while there is none. The page re-renders a table
/// on every alert event, so an element found a moment ago may be gone by the time its text
/// is read: then look again.
pub async fn try_text(client: &Client, css: &str) -> Option<String> {
    let mut attempts = 0;
    loop {
        let element = client.find(Locator::Css(css)).await.ok()?;
        match element.text().await {
            Ok(text) => return Some(text),
            Err(e) if attempts < 20 => {
                attempts += 1;
                eprintln!("reading {css} again: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("text of {css}: {e}"),
        }
    }
}

/// The text of the element `css`, which must be there.
pub async fn text(client: &Client, css: &str) -> String {
    try_text(client, css)
        .await
        .unwrap_or_else(|| panic!("no element {css}"))
}

/// Clicks the element `css`, looking again when a re-render replaced it (see [`text`]).
pub async fn click(client: &Client, css: &str) {
    let mut attempts = 0;
    loop {
        let element = client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        match element.click().await {
            Ok(_) => return,
            Err(e) if attempts < 20 => {
                attempts += 1;
                eprintln!("clicking {css} again: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("click on {css}: {e}"),
        }
    }
}

/// Polls the page until `check` holds; the browser is never reloaded.
pub async fn until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
