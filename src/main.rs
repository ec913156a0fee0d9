//! The `iam-key-exporter` binary: parse, configure, run, map the outcome to an exit code
//! (0 ok, 1 violations found by `check` or a runtime failure, 2 bad configuration or usage).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use iam_key_exporter::app::Application;
use iam_key_exporter::check::{self, OutputFormat};
use iam_key_exporter::cli::{Cli, Command};
use iam_key_exporter::config::Config;
use iam_key_exporter::metrics::{KeyIdDisplay, Metrics};
use iam_key_exporter::source::error_chain;
use iam_key_exporter::telemetry;

const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.overrides()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("iam-key-exporter: {err}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    telemetry::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        None => runtime.block_on(serve(config)),
        Some(Command::Check { output }) => runtime.block_on(audit(config, output.into())),
    }
}

async fn serve(config: Config) -> ExitCode {
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %error_chain(&err), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    app.run(shutdown_signal()).await;
    ExitCode::SUCCESS
}

/// Completes on the first SIGINT or SIGTERM; a second one aborts at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal: exiting without draining");
        std::process::exit(1);
    });
}

async fn wait_for_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only SIGINT stops");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

async fn audit(config: Config, format: OutputFormat) -> ExitCode {
    let metrics = match Metrics::new(config.refresh.interval, KeyIdDisplay::Full) {
        Ok(metrics) => Arc::new(metrics),
        Err(err) => {
            eprintln!("iam-key-exporter: {err}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let sources =
        iam_key_exporter::source::build_all(&config, metrics.request_observer(), None).await;
    match check::run(&sources, config.refresh.timeout).await {
        Ok(findings) => {
            match format {
                OutputFormat::Table => print!("{}", findings.to_table()),
                OutputFormat::Json => println!("{:#}", findings.to_json()),
            }
            if findings.compliant() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("iam-key-exporter: {}", error_chain(&err));
            ExitCode::from(USAGE_ERROR)
        }
    }
}
