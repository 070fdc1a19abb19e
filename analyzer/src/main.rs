use std::process::ExitCode;

use clap::Parser;
use pulse_analyzer::anomaly::offline;
use pulse_analyzer::app;
use pulse_analyzer::cli::{Cli, Command, RunArgs, Settings};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::resolve(&cli) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("pulse-analyzer: {error}");
            return ExitCode::FAILURE;
        }
    };
    if cli.config_check {
        if let Err(error) = pulse_analyzer::alerting::channels::check(&settings.config.alerting) {
            eprintln!("pulse-analyzer: {error}");
            return ExitCode::FAILURE;
        }
        println!("pulse-analyzer: configuration is valid");
        return ExitCode::SUCCESS;
    }
    pulse_exporter::logging::init(&["pulse_analyzer", "pulse_exporter"], &cli.log_level);
    let result = match cli.command {
        None => run(settings, RunArgs::default()),
        Some(Command::Run(args)) => run(settings, args),
        Some(Command::Status) => {
            app::status(&settings, &mut std::io::stdout().lock()).map_err(Into::into)
        }
        Some(Command::Export(args)) => {
            app::export(&settings, &args, &mut std::io::stdout().lock()).map_err(Into::into)
        }
        Some(Command::Detect(args)) => match args.job() {
            Some(job) => offline::run(
                &job,
                &settings.config.anomaly.detector,
                &mut std::io::stderr(),
            )
            .map_err(Into::into),
            None => Err(anyhow::anyhow!(
                "detect: give --input and --output, or --input-dir and --output-dir"
            )),
        },
        Some(Command::SuggestRules(args)) => {
            app::suggest_rules(&settings, &args, &mut std::io::stdout().lock()).map_err(Into::into)
        }
        Some(Command::Report(args)) => {
            app::report(&settings, &args, &mut std::io::stdout().lock()).map_err(Into::into)
        }
        Some(Command::Alerts(args)) => {
            app::alerts(&settings, &args, &mut std::io::stdout().lock()).map_err(Into::into)
        }
        Some(Command::Watch(args)) => pulse_analyzer::watch::run(
            &settings.storage_path,
            args.interval,
            &mut std::io::stdout().lock(),
        )
        .map_err(Into::into),
        Some(Command::Check(args)) => {
            return ExitCode::from(app::check(&settings, &args, &mut std::io::stdout().lock()));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "pulse-analyzer: {}",
                pulse_exporter::logging::describe(&error)
            );
            ExitCode::FAILURE
        }
    }
}

fn run(settings: Settings, args: RunArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(app::run(settings, args))?;
    Ok(())
}
