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
    pulse_exporter::logging::init(&["pulse_exporter"], &settings.log_level);
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let error = pulse_exporter::logging::describe(&error);
            tracing::error!("{error}");
            eprintln!("pulse-exporter: {error}");
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
