//! The application: everything built from a [`Config`] and run until a shutdown signal.
//!
//! Built in two steps so that problems surface in order: [`Application::build`] binds the port
//! (a taken port fails at once) and sets up the AWS clients and metrics; [`Application::run`]
//! starts the refresh loop and the server and returns when `shutdown` completes and the
//! server has drained. Tests bind port 0 and read [`Application::local_addr`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_sdk_iam::config::SharedCredentialsProvider;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::{KeyIdDisplay, Metrics};
use crate::refresh::Refresher;
use crate::server::{self, ServerState};

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
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
}

/// A built, not yet running, exporter.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
    state: Arc<ServerState>,
    refresher: Refresher,
}

impl Application {
    /// Builds the exporter with the default AWS credential chain.
    pub async fn build(config: Config) -> Result<Self, BuildError> {
        Self::build_with_credentials(config, None).await
    }

    /// Builds the exporter; `credentials`, when given, replaces the default credential chain.
    pub async fn build_with_credentials(
        config: Config,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, BuildError> {
        let address = config.web.listen_address;
        let listener = server::bind(address)
            .await
            .map_err(|source| BuildError::Bind { address, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| BuildError::Bind { address, source })?;
        let key_ids = if config.collector.mask_access_key_ids {
            KeyIdDisplay::LastFour
        } else {
            KeyIdDisplay::Full
        };
        let metrics = Arc::new(Metrics::new(config.refresh.interval, key_ids)?);
        let sources =
            crate::source::build_all(&config, metrics.request_observer(), credentials).await;
        let state = Arc::new(ServerState::new(metrics.render()?));
        let refresher = Refresher::new(
            sources,
            metrics,
            state.clone(),
            config.refresh.interval,
            config.refresh.timeout,
        );
        Ok(Application {
            listener,
            local_addr,
            config,
            state,
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
            state,
            refresher,
        } = self;
        tracing::info!(
            address = %local_addr,
            telemetry_path = %config.web.telemetry_path,
            source = config.collector.source.as_str(),
            accounts = config.accounts.len(),
            refresh_interval = %humantime::format_duration(config.refresh.interval),
            version = env!("CARGO_PKG_VERSION"),
            "iam-key-exporter listening"
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let refresh = tokio::spawn(refresher.run(stop_rx));
        let server_state = state.clone();
        let stopping = async move {
            shutdown.await;
            tracing::info!("shutting down");
            server_state.set_ready(false);
            let _ = stop_tx.send(true);
        };
        server::serve(listener, state, config.web, stopping).await;
        let _ = refresh.await;
        tracing::info!("stopped");
    }
}
