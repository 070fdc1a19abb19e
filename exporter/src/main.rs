use std::io::IsTerminal;
use std::process::ExitCode;

use pulse_exporter::{cli, server};

fn main() -> ExitCode {
    let matches = cli::parse();
    let settings = match cli::resolve(&matches) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("pulse-exporter: {error}");
            return ExitCode::FAILURE;
        }
    };
    if settings.config_check {
        println!("pulse-exporter: configuration is valid");
        return ExitCode::SUCCESS;
    }
    init_logging(&settings.log_level);
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("pulse-exporter: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: cli::Settings) -> anyhow::Result<()> {
    // One async thread: an exporter mostly serves one scrape at a time, and the collectors
    // run on blocking threads anyway. Every extra thread costs wake-ups and its own malloc
    // arena (resident memory).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(64)
        .enable_all()
        .build()?;
    runtime.block_on(server::serve(settings))?;
    Ok(())
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("pulse_exporter={level},warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only help a human at a terminal; they corrupt log files and pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
