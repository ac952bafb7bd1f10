//! Building the application from configuration, and running it until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use quire_core::service::{Adapters, Quire};
use quire_http::HttpConfig;
use quire_storage::{Db, DbOptions};
use tokio::net::TcpListener;

use crate::adapters::{
    Argon2Hasher, InProcessEvents, JwtTokens, OsRandom, SystemClock, load_or_create_key,
};
use crate::config::{Config, Durability};

/// The storage options a configuration names.
pub fn db_options(config: &Config) -> DbOptions {
    DbOptions {
        url: config
            .database
            .url
            .as_ref()
            .map(|url| url.expose().to_owned()),
        data_dir: config.data_dir.clone(),
        durability: match config.database.durability {
            Durability::Full => quire_storage::Durability::Full,
            Durability::Normal => quire_storage::Durability::Normal,
        },
        pool_size: config.database.pool_size,
        acquire_timeout: Duration::from_secs(config.database.acquire_timeout_secs),
        statement_cache: config.database.statement_cache,
    }
}

/// The core wired to its production adapters over an opened database.
pub async fn build_core(config: &Config) -> anyhow::Result<Quire<Db>> {
    let db = Db::open(&db_options(config))
        .await
        .context("opening the database")?;
    let key = load_or_create_key(
        config.jwt.secret.as_ref(),
        config.jwt.secret_file.as_deref(),
        &config.data_dir,
    )
    .context("loading the JWT signing key")?;
    let tokens = JwtTokens::new(
        &key,
        config.jwt.ttl_secs,
        &config.jwt.issuer,
        &config.jwt.audience,
    )
    .context("setting up tokens")?;
    let hasher = Argon2Hasher::new(
        config.argon2.memory_kib,
        config.argon2.iterations,
        config.argon2.parallelism,
        config.argon2.max_concurrent,
        config.argon2.max_queue,
    )
    .context("setting up password hashing")?;
    let adapters = Adapters {
        hasher: Arc::new(hasher),
        tokens: Arc::new(tokens),
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom),
        events: Arc::new(InProcessEvents::new()),
    };
    Ok(Quire::new(db, adapters))
}

/// A bound, ready-to-serve quire.
pub struct Application {
    listener: TcpListener,
    /// gRPC on a port of its own, when configured (it is always on the HTTP port too).
    grpc_listener: Option<(TcpListener, axum::Router)>,
    router: axum::Router,
    quire: Quire<Db>,
    shutdown_grace: Duration,
}

impl Application {
    /// Opens the database (migrating it), loads keys, and binds the listening socket.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let quire = build_core(&config).await?;
        let http = HttpConfig {
            body_limit: config.http.body_limit_bytes,
            request_timeout: Duration::from_secs(config.http.request_timeout_secs),
            cors_origins: config.http.cors_origins.clone(),
        };
        let graphql = quire_graphql::router(quire.clone(), config.graphql.to_graphql());
        let grpc_config = config.grpc.to_grpc();
        let grpc = quire_grpc::router(quire.clone(), &grpc_config);
        let contracts = quire_http::Contracts {
            limited: graphql,
            self_limited: grpc,
        };
        let router = quire_http::router(quire.clone(), &http, contracts);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let grpc_listener = match config.grpc.listen {
            None => None,
            Some(address) => Some((
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding {address} for gRPC"))?,
                quire_grpc::standalone_router(quire.clone(), &grpc_config),
            )),
        };
        Ok(Self {
            listener,
            grpc_listener,
            router,
            quire,
            shutdown_grace: Duration::from_secs(config.http.shutdown_grace_secs),
        })
    }

    /// The address actually bound (the real port when configured with port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The address of the separate gRPC listener, when one is configured.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_listener
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// The wired core, for tests and tools that act without HTTP.
    pub fn quire(&self) -> &Quire<Db> {
        &self.quire
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests
    /// finish for up to the grace period, and closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self.local_addr()?;
        tracing::info!(%address, "listening");
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            let _ = stop_tx.send(true);
        };
        if let Some((listener, router)) = self.grpc_listener {
            let mut stopped = stop_rx.clone();
            let grpc_address = listener.local_addr()?;
            tracing::info!(%grpc_address, "serving gRPC on its own port too");
            tokio::spawn(async move {
                let stop = async move {
                    let _ = stopped.wait_for(|stopped| *stopped).await;
                };
                if let Err(error) = axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(%error, "the gRPC listener failed");
                }
            });
        }
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(signal);
        let grace = self.shutdown_grace;
        let deadline = async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = deadline => tracing::warn!(?grace, "drain deadline passed; stopping with requests in flight"),
        }
        self.quire.store().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
