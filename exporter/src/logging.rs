//! Log set-up shared by the Pulse binaries: `--log.level` for Pulse's own crates, warnings
//! from everything else, to stderr.

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
