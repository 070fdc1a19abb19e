//! Recommendations end to end with real parts: a `redis-server` with a small `maxmemory`
//! and a workload that evicts, the real pulse-exporter scraping it, and two analyzers
//! scraping the exporter, first one in dry-run and then one in apply mode. The eviction
//! recommendation must appear with its evidence, the dry run must leave Redis alone, and the
//! apply run must raise `maxmemory`, but no further than its configured bound.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fantoccini::Locator;
use support::browser::{Driver, click, screenshot, text, try_text, until};
use support::{
    ChildGuard, Process, analyzer, exporter_with, get_json, promtool_check, redis_server, wait_for,
};

const PASSWORD: &str = "pulse-test-secret";
const TOKEN: &str = "pulse-write-token";
const MIB: u64 = 1024 * 1024;

/// redis-server with a 2 MB LRU limit, so a modest workload evicts.
fn start_redis() -> (ChildGuard, u16) {
    redis_server(&[
        "--requirepass",
        PASSWORD,
        "--maxmemory",
        "2mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ])
}

/// Fails the test when redis-server has exited (a crash would otherwise look like a refused apply).
fn assert_running(redis: &mut ChildGuard) {
    let status = redis.0.try_wait().unwrap();
    assert!(status.is_none(), "redis-server exited: {status:?}");
}

/// A RESP connection for the workload and for checking `maxmemory`. Commands are
/// buffered by `send` and written by `reply` or `flush_and_read`.
struct Client {
    stream: BufReader<TcpStream>,
    pending: Vec<u8>,
}

impl Client {
    fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap()
    }

    fn try_connect(port: u16) -> std::io::Result<Client> {
        let mut c = Client {
            stream: BufReader::new(TcpStream::connect(("127.0.0.1", port))?),
            pending: Vec::new(),
        };
        c.send(&["AUTH", PASSWORD]);
        let reply = c.try_reply()?;
        assert_eq!(reply, "+OK", "AUTH on our redis-server");
        Ok(c)
    }

    fn send(&mut self, args: &[&str]) {
        self.pending
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            self.pending
                .extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.stream.get_mut().write_all(&pending)
    }

    fn flush_and_read(&mut self, replies: usize) -> std::io::Result<()> {
        for _ in 0..replies {
            self.try_reply()?;
        }
        Ok(())
    }

    /// One reply: the status line, or the bulk body for `$`, or each element for `*`.
    fn try_reply(&mut self) -> std::io::Result<String> {
        if !self.pending.is_empty() {
            self.flush()?;
        }
        let mut line = String::new();
        if self.stream.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_owned();
        if let Some(len) = line.strip_prefix('$') {
            let len: i64 = len.parse().unwrap();
            if len < 0 {
                return Ok("(nil)".into());
            }
            let mut body = vec![0; len as usize + 2];
            self.stream.read_exact(&mut body)?;
            body.truncate(len as usize);
            return Ok(String::from_utf8(body).unwrap());
        }
        if let Some(n) = line.strip_prefix('*') {
            let n: usize = n.parse().unwrap();
            let items: std::io::Result<Vec<String>> = (0..n).map(|_| self.try_reply()).collect();
            return Ok(items?.join(" "));
        }
        Ok(line)
    }

    fn maxmemory(&mut self) -> u64 {
        self.send(&["CONFIG", "GET", "maxmemory"]);
        let reply = self.try_reply().unwrap();
        reply.split(' ').nth(1).unwrap().parse().unwrap()
    }
}

/// Writes 1 KiB values under ever new keys and reads back random older ones, so the
/// working set never fits in 2 MiB: evictions and a low hit ratio. Pipelined in batches;
/// a dropped connection is reopened, so the workload outlives a transient error.
fn workload(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let value = "x".repeat(1024);
        let mut i: u64 = 0;
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut client) = Client::try_connect(port) else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..100 {
                    client.send(&["SET", &format!("key:{i}"), &value]);
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    client.send(&["GET", &format!("key:{}", state % (i + 1))]);
                    i += 1;
                }
                if client.flush_and_read(200).is_err() {
                    eprintln!("workload: connection lost after {i} keys, reconnecting");
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    })
}

fn analyzer_config(dir: &std::path::Path, name: &str, exporter: &Process, body: &str) -> String {
    let path = dir.join(format!("{name}.yml"));
    std::fs::write(
        &path,
        format!(
            "targets:\n  - url: {}\n    name: local\n    interval: 500ms\n    timeout: 400ms\n\
             analysis:\n  interval: 1s\n  step: 1s\n  recommendations:\n    window: 20s\n{body}",
            exporter.url("/metrics")
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn evicting_redis_gets_a_recommendation_and_apply_raises_maxmemory_within_bounds() {
    let (mut redis, port) = start_redis();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("redis-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let exporter = exporter_with(
        dir.path(),
        &["redis"],
        &format!(
            "redis:\n  targets:\n    - address: 127.0.0.1:{port}\n      password_file: {}\n",
            password_file.display()
        ),
    );
    let apply = |enabled: bool| {
        format!(
            "    apply:\n      enabled: {enabled}\n      redis:\n        - address: 127.0.0.1:{port}\n          \
             password_file: {}\n          min_maxmemory_bytes: {}\n          max_maxmemory_bytes: {}\n",
            password_file.display(),
            MIB,
            3 * MIB
        )
    };
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let dry_body = format!(
        "{}web:\n  write_token_file: {}\n",
        apply(false),
        token_file.display()
    );
    let dry = analyzer(
        std::path::Path::new(&analyzer_config(dir.path(), "dry", &exporter, &dry_body)),
        &dir.path().join("dry.db"),
        &[],
    );

    let stop = Arc::new(AtomicBool::new(false));
    let writer = workload(port, stop.clone());

    // The dry run logs the change it would make and leaves Redis alone.
    let dry_answer = wait_for(
        "the dry-run analyzer to recommend and log a change",
        Duration::from_secs(90),
        || {
            assert_running(&mut redis);
            let (_, body) = get_json(&dry.url("/api/v1/recommendations"));
            (!body["actions"].as_array()?.is_empty()).then_some(body)
        },
    );
    let action = &dry_answer["actions"][0];
    assert_eq!(action["dry_run"], true);
    assert_eq!(action["outcome"], "dry_run");
    assert_eq!(action["address"], format!("127.0.0.1:{port}"));
    assert_eq!(
        Client::connect(port).maxmemory(),
        2 * MIB,
        "dry run leaves Redis alone"
    );

    // The console's Apply on the dry-run analyzer: the recommendation is marked applicable,
    // the request needs the token; clicked in the page and confirmed in its dialog, it
    // changes Redis for real (clamped to its bound) and is logged; a second one within the
    // cooldown is refused with the reason.
    let rec_id = format!("cache_evictions:local:127.0.0.1:{port}");
    let listed = dry_answer["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rec_id)
        .unwrap_or_else(|| panic!("no {rec_id} in {dry_answer:#}"));
    assert_eq!(listed["applicable"], true);
    assert_eq!(dry_answer["apply_enabled"], false);
    let apply_url = dry.url(&format!("/api/v1/recommendations/{rec_id}/apply"));
    let http = reqwest::blocking::Client::new();
    assert_eq!(http.post(&apply_url).send().unwrap().status(), 403);
    let driver = Driver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        let page = driver
            .session(downloads.path(), &["--window-size=1280,1000"])
            .await;
        page.goto(&dry.url("/#recommendations")).await.unwrap();
        page.find(Locator::Id("token"))
            .await
            .unwrap()
            .send_keys(TOKEN)
            .await
            .unwrap();
        click(&page, "#token-form button[type=submit]").await;
        let apply_button = format!("li[id=\"rec-{rec_id}\"] button[data-action=apply]");
        until("the Apply button", Duration::from_secs(20), async || {
            page.find(Locator::Css(&apply_button)).await.ok()
        })
        .await;
        click(&page, &apply_button).await;
        let question = text(&page, "#confirm-text").await;
        assert!(
            question.contains(&format!("Redis 127.0.0.1:{port} from 2.0 MiB")),
            "{question}"
        );
        screenshot(&page, "apply-confirm.png").await;
        click(&page, "#confirm-yes").await;
        let status = until("the applied message", Duration::from_secs(20), async || {
            let status = try_text(&page, "#status").await?;
            status.starts_with("Applied").then_some(status)
        })
        .await;
        assert!(status.ends_with("2.0 MiB → 3.0 MiB, applied."), "{status}");
        page.execute(
            "document.getElementById(arguments[0]).scrollIntoView({block: 'center'})",
            vec![format!("rec-{rec_id}").into()],
        )
        .await
        .unwrap();
        let logged = text(&page, &format!("li[id=\"rec-{rec_id}\"]")).await;
        assert!(
            logged.contains("3.0 MiB, applied"),
            "the log entry: {logged}"
        );
        screenshot(&page, "applied.png").await;
        page.close().await.unwrap();
    });
    assert_eq!(Client::connect(port).maxmemory(), 3 * MIB);
    let again = http.post(&apply_url).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(again.status(), 400);
    let refusal: serde_json::Value = again.json().unwrap();
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("within the cooldown"),
        "{refusal}"
    );
    let (_, logged) = get_json(&dry.url("/api/v1/recommendations"));
    assert!(
        logged["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["outcome"] == "applied"),
        "{logged:#}"
    );
    // Back to 2 MiB for the apply-mode analyzer below.
    let mut admin = Client::connect(port);
    admin.send(&["CONFIG", "SET", "maxmemory", &(2 * MIB).to_string()]);
    admin.flush_and_read(1).unwrap();

    // Started only now: once it raised maxmemory to the bound, the dry run would have
    // nothing left to propose.
    let live = analyzer(
        std::path::Path::new(&analyzer_config(
            dir.path(),
            "live",
            &exporter,
            &apply(true),
        )),
        &dir.path().join("live.db"),
        &[],
    );

    // The apply run changes maxmemory, clamped to its 3 MiB bound.
    let live_answer = wait_for(
        "the apply-mode analyzer to apply a change",
        Duration::from_secs(90),
        || {
            assert_running(&mut redis);
            let (_, body) = get_json(&live.url("/api/v1/recommendations"));
            (!body["actions"].as_array()?.is_empty()).then_some(body)
        },
    );
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    let action = &live_answer["actions"][0];
    assert_eq!(action["outcome"], "applied", "{live_answer:#}");
    assert_eq!(action["dry_run"], false);
    assert_eq!(action["from"], 2 * MIB);
    assert_eq!(action["to"], 3 * MIB, "suggested 4 MiB, bound 3 MiB");
    assert_eq!(Client::connect(port).maxmemory(), 3 * MIB);

    let rec = live_answer["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "cache_evictions")
        .expect("cache_evictions recommendation");
    assert_eq!(rec["id"], format!("cache_evictions:local:127.0.0.1:{port}"));
    assert_eq!(rec["subject"], format!("redis 127.0.0.1:{port}"));
    let evidence = &rec["evidence"];
    assert!(evidence["evicted_keys"].as_f64().unwrap() > 0.0, "{rec:#}");
    assert!(evidence["hit_ratio"].as_f64().unwrap() < 0.9, "{rec:#}");
    assert_eq!(evidence["limit_bytes"], 2.0 * MIB as f64);
    assert_eq!(rec["change"]["kind"], "redis_maxmemory");
    assert!(
        rec["action"]
            .as_str()
            .unwrap()
            .contains("CONFIG SET maxmemory"),
        "{rec:#}"
    );

    // The same state on /metrics, and a capacity forecast for the cache's memory.
    let metrics = reqwest::blocking::get(live.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let info = metrics
        .lines()
        .find(|l| l.starts_with("pulse_recommendation_info{") && l.contains("cache_evictions"))
        .unwrap_or_else(|| panic!("no recommendation metric in:\n{metrics}"));
    assert!(info.ends_with(" 1"), "{info}");
    assert!(
        metrics.contains("pulse_recommendation_actions_total 1\n"),
        "one change, then the cooldown"
    );
    assert!(
        info.contains(&format!("subject=\"redis 127.0.0.1:{port}\"")),
        "{info}"
    );
    // The forecast needs more history than the recommendation did.
    let forecast = wait_for(
        "a forecast of the cache's memory",
        Duration::from_secs(60),
        || {
            let (_, body) = get_json(&live.url("/api/v1/forecasts?resource=redis_memory"));
            body["forecasts"].as_array()?.first().cloned()
        },
    );
    assert_eq!(forecast["labels"]["target"], format!("127.0.0.1:{port}"));
    assert!(
        forecast["limit"].as_f64().unwrap() >= 2.0 * MIB as f64,
        "{forecast:#}"
    );
    let metrics = reqwest::blocking::get(live.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("pulse_forecast_exhaustion_seconds{resource=\"redis_memory\""));
    let (clean, report) = promtool_check(&metrics);
    assert!(clean, "promtool check metrics:\n{report}");
}
