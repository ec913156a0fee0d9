//! The application: everything built from a [`Config`], and the one error type `main` maps
//! to an exit code.
//!
//! The daemon is built in two steps so that problems surface in order:
//! [`Application::build`] binds the port (a taken port fails at once) and sets up the AWS
//! clients and metrics; [`Application::run`] starts the refresh loop and the server and
//! returns when `shutdown` completes and the server has drained. Tests bind port 0 and read
//! [`Application::local_addr`]. [`audit()`] is the one-shot `check`.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use aws_sdk_iam::config::SharedCredentialsProvider;
use tokio::net::TcpListener;

use crate::accounts;
use crate::audit::{self, CheckError, Findings, Options as RemediateOptions, Remediation};
use crate::aws::Uncounted;
use crate::config::{Config, ConfigError};
use crate::error::error_chain;
use crate::exposition::{KeyIdDisplay, Metrics, Published};
use crate::health::Readiness;
use crate::refresh::{CreatorSettings, Events, Refresher};
use crate::server;

/// Everything that can end the program with an error; [`Error::exit_code`] is the one map
/// from failures to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line was wrong (or asked for `--help`/`--version`, which clap reports
    /// this way).
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {address}")]
    Bind {
        /// The configured address.
        address: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The metric registry refused a metric (a bug, never the user's input).
    #[error("cannot set up the metrics")]
    Metrics(#[from] prometheus::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// `check` could not collect an account.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// `check` could not discover the organization's accounts.
    #[error("cannot discover the organization's accounts")]
    Discovery(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// `check` or `remediate` could not write its report.
    #[error("cannot write the report to standard output")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// 0 for `--help` and `--version`; 2 for everything else that fails (bad usage or
    /// configuration, a port that cannot be bound, AWS unreachable or refusing in `check`).
    /// Exit code 1 is kept for `check`'s "violations found", which is not an error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(err) if err.exit_code() == 0 => ExitCode::SUCCESS,
            _ => ExitCode::from(2),
        }
    }

    /// Says what went wrong on standard error, with the whole cause chain.
    pub fn report(&self) {
        match self {
            // clap formats its own messages, help and version included.
            Error::Usage(err) => {
                let _ = err.print();
            }
            // Every problem, each bounded already; a chain's bound would cut the list.
            Error::Config(err) => eprintln!("iam-key-exporter: {err}"),
            other => eprintln!("iam-key-exporter: {}", error_chain(other)),
        }
    }
}

/// A built, not yet running, exporter.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
    security: Option<server::WebSecurity>,
    body: Arc<Published>,
    ready: Readiness,
    refresher: Refresher,
}

impl Application {
    /// Builds the exporter with the default AWS credential chain.
    pub async fn build(config: Config) -> Result<Self, Error> {
        Self::build_with_credentials(config, None).await
    }

    /// Builds the exporter; `credentials`, when given, replaces the default credential chain.
    pub async fn build_with_credentials(
        config: Config,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, Error> {
        // Read before binding: a bad web config file is a configuration error, exit code 2.
        let security = match &config.web.config_file {
            Some(path) => Some(server::WebSecurity::load(path).map_err(ConfigError::from)?),
            None => None,
        };
        let address = config.web.listen_address;
        let listener = server::bind(address)
            .await
            .map_err(|source| Error::Bind { address, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { address, source })?;
        let key_ids = if config.collector.mask_access_key_ids {
            KeyIdDisplay::LastFour
        } else {
            KeyIdDisplay::Full
        };
        let metrics = Arc::new(
            Metrics::new(config.refresh.interval, key_ids)?
                .with_key_series(config.collector.key_series),
        );
        if config.organizations.is_some() {
            metrics.enable_discovery()?;
        }
        let accounts =
            accounts::AccountSet::new(&config, metrics.request_observer(), credentials).await;
        let body = Arc::new(Published::new(metrics.render()?));
        let ready = Readiness::default();
        let events = match (accounts.events_queue(), &config.events) {
            (Some(queue), Some(events)) => Some(Events {
                queue,
                wait: events.wait_time,
                metrics: body.enable_events()?,
            }),
            _ => None,
        };
        let refresher = Refresher::new(
            accounts,
            metrics,
            body.clone(),
            ready.clone(),
            config.refresh.interval,
            config.refresh.timeout,
            config.collector.max_concurrent_accounts,
        )
        .with_events(events)
        .with_creators(CreatorSettings {
            enabled: config.collector.key_creators,
            rotation: config.collector.rotation_principals.clone(),
        });
        Ok(Application {
            listener,
            local_addr,
            config,
            security,
            body,
            ready,
            refresher,
        })
    }

    /// The address actually bound (the port is chosen by the system when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Refreshes and serves until `shutdown` completes, then stops refreshing, reports not
    /// ready and drains the server.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Application {
            listener,
            local_addr,
            config,
            security,
            body,
            ready,
            refresher,
        } = self;
        tracing::info!(
            address = %local_addr,
            telemetry_path = %config.web.telemetry_path,
            source = config.collector.source.as_str(),
            accounts = config.accounts.len(),
            refresh_interval = %humantime::format_duration(config.refresh.interval),
            tls = security.as_ref().is_some_and(server::WebSecurity::tls_enabled),
            basic_auth = security.as_ref().is_some_and(server::WebSecurity::auth_enabled),
            version = env!("CARGO_PKG_VERSION"),
            "iam-key-exporter listening"
        );
        let (stop, stop_rx) = crate::shutdown::channel();
        let refresh = tokio::spawn(refresher.run(stop_rx));
        let stopping_ready = ready.clone();
        let stopping = async move {
            shutdown.await;
            tracing::info!("shutting down");
            stopping_ready.set(false);
            stop.trigger();
        };
        let state = server::State { body, ready };
        server::serve(listener, state, config.web, security, stopping).await;
        let _ = refresh.await;
        tracing::info!("stopped");
    }
}

/// The rotation principals when the creators of offenders' keys are looked up.
fn creators(config: &Config) -> Option<&[String]> {
    config
        .collector
        .key_creators
        .then_some(config.collector.rotation_principals.as_slice())
}

/// `check`: collects every watched account once, with no metrics and no server.
pub async fn audit(config: &Config) -> Result<Findings, Error> {
    let sources = accounts::watched(config, Arc::new(Uncounted), None)
        .await
        .map_err(|err| Error::Discovery(Box::new(err)))?;
    Ok(audit::run(&sources, config.refresh.timeout, creators(config)).await?)
}

/// `remediate`: the audit of `check`, then the remediation of what it found.
pub async fn remediate(config: &Config, options: RemediateOptions) -> Result<Remediation, Error> {
    let sources = accounts::watched(config, Arc::new(Uncounted), None)
        .await
        .map_err(|err| Error::Discovery(Box::new(err)))?;
    let findings = audit::run(&sources, config.refresh.timeout, creators(config)).await?;
    Ok(audit::remediate(&sources, &findings, options, config.collector.max_exemption).await)
}
