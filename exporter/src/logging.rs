//! Log set-up shared by the Pulse binaries: `--log.level` for Pulse's own crates, warnings
//! from everything else, to stderr; and how a fatal error is worded.

use std::io::IsTerminal;

/// Installs the global subscriber. `crates` are the crate names `level` applies to; other
/// crates log warnings and errors only, so a dependency's debug output never floods the log.
pub fn init(crates: &[&str], level: &str) {
    let directives: Vec<String> = crates
        .iter()
        .map(|c| format!("{c}={level}"))
        .chain(std::iter::once("warn".to_owned()))
        .collect();
    let filter = tracing_subscriber::EnvFilter::try_new(directives.join(","))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only help a human at a terminal; they corrupt log files and pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// A fatal error with its causes, each said once. Most of Pulse's errors already end with
/// their source (`listening on 127.0.0.1:9100: Address already in use`), so printing the
/// whole chain as anyhow's `{:#}` does would repeat it; a cause not yet said is still added.
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("listening on {address}: {source}")]
    struct SaysItsSource {
        address: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn causes_are_said_once() {
        let refused = || std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let error = anyhow::Error::new(SaysItsSource {
            address: ":9100",
            source: refused(),
        });
        assert_eq!(
            describe(&error),
            format!("listening on :9100: {}", refused())
        );
        let error = anyhow::Error::new(refused()).context("starting the exporter");
        assert_eq!(
            describe(&error),
            format!("starting the exporter: {}", refused())
        );
    }
}
