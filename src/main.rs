//! The `iam-key-exporter` binary: parse, configure, run, and map the outcome to an exit code
//! in one place: 0 ok (and `check` found no violation, `remediate` nothing left to do), 1
//! `check` found violations or `remediate` left something to do, 2 any error (usage,
//! configuration, a port that cannot be bound, AWS unreachable in `check` or `remediate`).

use std::io::Write;
use std::process::ExitCode;

use iam_key_exporter::{
    audit, remediate, telemetry, Application, Cli, Command, Config, Error, OutputFormat,
};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            err.report();
            err.exit_code()
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let cli = Cli::parse()?;
    if cli.command == Command::Version {
        print(&iam_key_exporter::version())?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = Config::load(&cli.overrides)?;
    telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    match cli.command {
        Command::Serve => runtime.block_on(async {
            ignore_hangups();
            let app = Application::build(config).await?;
            app.run(shutdown_signal()).await;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Check { output } => runtime.block_on(async {
            let findings = audit(&config).await?;
            let report = match output {
                OutputFormat::Table => findings.to_table(),
                OutputFormat::Json => format!("{}\n", findings.to_json_text()),
            };
            print(&report)?;
            Ok(verdict(findings.compliant()))
        }),
        // Printed above, before the configuration is read.
        Command::Version => Ok(ExitCode::SUCCESS),
        Command::Remediate(options) => runtime.block_on(async {
            let remediation = remediate(&config, options).await?;
            print(&remediation.render())?;
            Ok(verdict(remediation.nothing_left()))
        }),
    }
}

/// Writes a report to standard output; a reader that stops early (`| head`) is no failure.
fn print(report: &str) -> Result<(), Error> {
    match std::io::stdout().lock().write_all(report.as_bytes()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(err)),
        _ => Ok(()),
    }
}

/// 0 when all is well, 1 when something is left (violations, or remediation to do).
fn verdict(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// SIGHUP, which asks Prometheus to reload, would end the process (its default action): say
/// instead that the configuration is read at start only. Reloading it live would mean
/// rebuilding the AWS clients and the listener under a running refresh; a restart does that
/// safely, and the web config file (TLS, users) is re-read by itself when it changes.
fn ignore_hangups() {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP; it will stop the exporter");
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::warn!(
                "SIGHUP ignored: the configuration is read at start only; restart to apply a change"
            );
        }
    });
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
