//! `run --spawn-exporter`: one command starts the whole stack on one machine.
//!
//! The exporter is started from the binary beside the analyzer (so a `cargo build
//! --workspace` tree or an unpacked release just works), listening exactly where the first
//! target points, and restarted with backoff if it dies. On shutdown it gets SIGTERM (its
//! graceful path) and, if it lingers, SIGKILL.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::RunArgs;
use crate::config::Config;

const EXPORTER: &str = "pulse-exporter";

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("starting {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no {EXPORTER} beside this binary ({}) nor on PATH: build it (`cargo build --release \
         --workspace`) or give --exporter.path",
        beside.display()
    )]
    NotFound { beside: PathBuf },
}

pub struct Exporter {
    /// Where the exporter serves its metrics.
    pub url: String,
    supervisor: JoinHandle<()>,
}

impl Exporter {
    /// Waits until the supervisor has stopped the exporter (after `stop` was signalled).
    pub async fn stop(self) {
        let _ = self.supervisor.await;
    }
}

/// The exporter binary: `--exporter.path`, else beside this executable, else from PATH.
fn exporter_path(args: &RunArgs) -> PathBuf {
    if let Some(path) = &args.exporter_path {
        return path.clone();
    }
    beside_this_binary()
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(EXPORTER))
}

fn beside_this_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(EXPORTER))
}

/// The first target's `host:port` when it is on this machine, else the exporter's default.
fn listen_address(config: &Config) -> (String, String) {
    let fallback = (
        "127.0.0.1:9100".to_owned(),
        "http://127.0.0.1:9100/metrics".to_owned(),
    );
    let Some(target) = config.targets.first() else {
        return fallback;
    };
    let Ok(url) = reqwest::Url::parse(&target.url) else {
        return fallback;
    };
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host @ ("127.0.0.1" | "localhost" | "[::1]")), Some(port)) => {
            (format!("{host}:{port}"), target.url.clone())
        }
        _ => fallback,
    }
}

fn start(path: &PathBuf, listen: &str, extra: &[String]) -> Result<Child, LaunchError> {
    Command::new(path)
        .arg("--web.listen-address")
        .arg(listen)
        .args(extra)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            path: path.clone(),
            source,
        })
}

/// Starts the exporter and a task that keeps it running until `stop` flips.
pub fn spawn(
    args: &RunArgs,
    config: &Config,
    mut stop: watch::Receiver<bool>,
) -> Result<Exporter, LaunchError> {
    let path = exporter_path(args);
    let (listen, url) = listen_address(config);
    let extra = args.exporter_args.clone();
    let mut child = start(&path, &listen, &extra).map_err(|error| match error {
        LaunchError::Spawn { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound && args.exporter_path.is_none() =>
        {
            LaunchError::NotFound {
                beside: beside_this_binary().unwrap_or_else(|| PathBuf::from(EXPORTER)),
            }
        }
        other => other,
    })?;
    tracing::info!(path = %path.display(), address = %listen, "started pulse-exporter");
    let supervisor = tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            tokio::select! {
                status = child.wait() => {
                    tracing::warn!(
                        "pulse-exporter exited ({}); restarting in {backoff:?}",
                        status.map_or_else(|e| e.to_string(), |s| s.to_string())
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    match start(&path, &listen, &extra) {
                        Ok(new) => child = new,
                        Err(e) => {
                            tracing::error!("{e}");
                            continue;
                        }
                    }
                }
                _ = stop.changed() => {
                    terminate(&mut child).await;
                    return;
                }
            }
        }
    });
    Ok(Exporter { url, supervisor })
}

async fn terminate(child: &mut Child) {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_listens_where_the_first_local_target_points() {
        let config = Config::default();
        assert_eq!(listen_address(&config).0, "127.0.0.1:9100");
        let config = Config::parse(
            std::path::Path::new("a.yml"),
            "targets: [{url: 'http://localhost:9300/metrics'}]\n",
        )
        .unwrap();
        assert_eq!(
            listen_address(&config),
            (
                "localhost:9300".to_owned(),
                "http://localhost:9300/metrics".to_owned()
            )
        );
        let remote = Config::parse(
            std::path::Path::new("a.yml"),
            "targets: [{url: 'http://db1:9100/metrics'}]\n",
        )
        .unwrap();
        assert_eq!(listen_address(&remote).0, "127.0.0.1:9100");
    }
}
