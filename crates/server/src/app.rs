//! Building the application from configuration, and running it until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt as _;
use quire_core::service::{Adapters, Quire};
use quire_http::HttpConfig;
use quire_http::security_headers::SecurityHeaders;
use quire_storage::{Db, DbOptions};
use tokio::net::TcpListener;

use quire_cache::{MemoryCache, MemoryCacheOptions, RedisCache, RedisCacheOptions};
use quire_core::cache::{Cache, Caching, NoCache};
use quire_core::ports::EventBus;
use quire_core::ports::{Clock, CommitListener};
use quire_events::{AmqpEvents, InProcessEvents, NatsEvents};
use quire_webhooks::{AesGcmBox, Destinations, HttpSender};

use crate::adapters::{
    Argon2Hasher, JwtTokens, OsRandom, SigningAlgorithm, SystemClock, TokenSettings, Zxcvbn,
    load_or_create_key, webhook_key,
};
use crate::config::{CacheBackend, CacheSection, Config, Durability};
use crate::tls::{Incoming, Tls};
use crate::workers::{WorkerOptions, Workers};

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
        // A statement cannot outlive the request that asked for it.
        statement_timeout: Some(Duration::from_secs(config.http.request_timeout_secs.max(1))),
    }
}

/// The event bus the configuration names: NATS JetStream, RabbitMQ, or this process.
pub async fn event_bus(config: &Config) -> anyhow::Result<Arc<dyn EventBus>> {
    if let Some(url) = &config.events.nats_url {
        let bus = NatsEvents::connect(url.expose())
            .await
            .context("connecting to NATS (QUIRE_NATS_URL)")?;
        return Ok(Arc::new(bus));
    }
    if let Some(url) = &config.events.amqp_url {
        return Ok(Arc::new(AmqpEvents::new(url.expose())));
    }
    Ok(Arc::new(InProcessEvents::new()))
}

/// On a database other instances may share (PostgreSQL), a key kept in this instance's data
/// directory (generated on first start) differs from theirs: its tokens fail on the other
/// instances, and webhook secrets it seals cannot be opened there. Said at start, once per key
/// (docs/operations.md, "What instances share").
fn warn_of_keys_an_instance_keeps(config: &Config, db: &Db) {
    if db.engine_name() != "postgres" {
        return;
    }
    let kept = [
        (
            config.jwt.secret.is_none() && config.jwt.secret_file.is_none(),
            "QUIRE_JWT_SECRET",
        ),
        (
            config.webhooks.key.is_none() && config.webhooks.key_file.is_none(),
            "QUIRE_WEBHOOK_KEY",
        ),
    ];
    for (in_data_dir, variable) in kept {
        if in_data_dir {
            tracing::warn!(
                key = variable,
                "this instance keeps its own key in its data directory; every instance on \
                 this database must share it: set the variable (or its _FILE form) alike \
                 everywhere"
            );
        }
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
    let sessions = config.jwt.sessions();
    let settings = TokenSettings {
        ttl_secs: sessions.long_lived_ttl_secs.max(sessions.access_ttl_secs),
        issuer: config.jwt.issuer.clone(),
        audience: config.jwt.audience.clone(),
        reload_secs: config.jwt.keys_reload_secs.max(1),
    };
    let now = SystemClock.now();
    let tokens = match config.jwt.algorithm {
        SigningAlgorithm::HS256 => JwtTokens::shared_secret(&key, settings, now),
        SigningAlgorithm::EdDSA => {
            JwtTokens::key_ring(db.clone(), &key, Arc::new(OsRandom), settings, now).await
        }
    }
    .context("setting up tokens")?;
    let hasher = Argon2Hasher::new(
        config.argon2.memory_kib,
        config.argon2.iterations,
        config.argon2.parallelism,
        config.argon2.max_concurrent,
        config.argon2.max_queue,
    )
    .context("setting up password hashing")?;
    let sealing_key = webhook_key(
        config.webhooks.key.as_ref(),
        config.webhooks.key_file.as_deref(),
        &config.data_dir,
    )
    .context("loading the webhook key")?;
    warn_of_keys_an_instance_keeps(config, &db);
    let sender = HttpSender::new(
        Destinations {
            allow_loopback: config.webhooks.allow_loopback,
            allow_private: config.webhooks.allow_private,
        },
        Duration::from_millis(config.webhooks.timeout_millis.max(1)),
    )
    .map_err(anyhow::Error::msg)
    .context("setting up webhook delivery")?;
    let clock: Arc<dyn quire_core::ports::Clock> = Arc::new(SystemClock);
    let openid = crate::adapters::OpenId::new(
        config
            .openid
            .providers
            .iter()
            .map(|provider| crate::adapters::ProviderSettings {
                name: provider.name.clone(),
                issuer: provider.issuer.clone(),
                client_id: provider.client_id.clone(),
                client_secret: provider
                    .client_secret
                    .as_ref()
                    .map(|secret| secret.expose().to_owned()),
                redirect_url: provider.redirect_url.clone(),
                scopes: provider.scopes.clone(),
            })
            .collect(),
        Duration::from_millis(config.openid.timeout_millis.max(1)),
        Arc::clone(&clock),
    )
    .map_err(anyhow::Error::msg)
    .context("setting up OpenID Connect providers")?;
    let adapters = Adapters {
        hasher: Arc::new(hasher),
        strength: Arc::new(Zxcvbn),
        passwords: config.passwords.policy(),
        tokens: Arc::new(tokens),
        clock,
        random: Arc::new(OsRandom),
        events: event_bus(config).await?,
        secrets: Arc::new(AesGcmBox::new(&sealing_key)),
        webhooks: Arc::new(sender),
        cache: Arc::new(Caching::new(cache(&config.cache)?)),
        sign_in: config.limits.sign_in(),
        sessions: config.jwt.sessions(),
        limiter: rate_limiter(config)?,
        openid: Arc::new(openid),
    };
    db.on_commit(Arc::clone(&adapters.cache) as Arc<dyn CommitListener>)
        .context("hooking the cache's invalidation to commits")?;
    let quire = Quire::new(db, adapters);
    quire.check_sealing_key().await.context(
        "the webhook key does not open the stored webhook secrets: set QUIRE_WEBHOOK_KEY (or \
         QUIRE_WEBHOOK_KEY_FILE) to the key they were sealed with, the same on every instance",
    )?;
    Ok(quire)
}

/// The per-client rate limiter the configuration asks for: shared through the Redis of
/// `QUIRE_REDIS_URL` (with this process's limiter behind it), in this process only, or none at
/// all when rate limits are off.
fn rate_limiter(config: &Config) -> anyhow::Result<Arc<dyn quire_core::limits::RateLimiter>> {
    let quotas = config.limits.quotas()?;
    if quotas.is_empty() {
        tracing::warn!("rate limits are off: no client is limited");
        return Ok(Arc::new(quire_core::limits::Unlimited));
    }
    let Some(url) = &config.cache.redis_url else {
        return Ok(Arc::new(quire_limits::LocalLimiter::new(quotas)));
    };
    let options = quire_limits::SharedOptions {
        url: url.expose().to_owned(),
        prefix: config.cache.redis_prefix.clone(),
        timeout: Duration::from_millis(config.cache.redis_timeout_millis.max(1)),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(1),
    };
    let limiter = quire_limits::SharedLimiter::new(options, quotas)
        .map_err(|error| anyhow::anyhow!("QUIRE_REDIS_URL: {error}"))?;
    Ok(Arc::new(limiter))
}

/// Keeps this instance's cache in step with the writes of every instance, as their events
/// arrive on the bus.
async fn invalidate_from_events(quire: Quire<Db>) {
    use tokio_stream::StreamExt;
    let mut events = quire.events();
    while let Some(event) = events.next().await {
        quire.heard(&event);
    }
}

/// The cache the configuration names.
fn cache(config: &CacheSection) -> anyhow::Result<Arc<dyn Cache>> {
    let near = MemoryCacheOptions {
        max_bytes: config.max_bytes,
        time_to_live: Duration::from_secs(config.ttl_secs.max(1)),
    };
    Ok(match (config.backend, &config.redis_url) {
        (CacheBackend::Off, _) => Arc::new(NoCache),
        (CacheBackend::Memory, None) => Arc::new(MemoryCache::new(near)),
        (CacheBackend::Memory, Some(url)) => {
            let mut options = RedisCacheOptions::new(url.expose().to_owned());
            options.near = near;
            options.prefix = config.redis_prefix.clone();
            options.timeout = Duration::from_millis(config.redis_timeout_millis.max(1));
            Arc::new(
                RedisCache::new(options)
                    .map_err(|error| anyhow::anyhow!("QUIRE_REDIS_URL: {error}"))?,
            )
        }
    })
}

/// How the process was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// By an orchestrator (SIGTERM): fail readiness, keep serving for the shutdown delay so
    /// load balancers notice, then drain.
    Drain,
    /// Interactively (SIGINT) or by a test: drain at once.
    Now,
}

impl From<()> for Stop {
    fn from((): ()) -> Self {
        Stop::Now
    }
}

/// A bound, ready-to-serve quire.
pub struct Application {
    listener: TcpListener,
    /// gRPC on a port of its own, when configured (it is always on the HTTP port too).
    grpc_listener: Option<(TcpListener, axum::Router)>,
    /// `/metrics`, never on the public port.
    admin_listener: Option<(TcpListener, axum::Router)>,
    router: axum::Router,
    quire: Quire<Db>,
    draining: Arc<AtomicBool>,
    /// Told when the listeners stop accepting, so server streams end instead of holding the
    /// drain up.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
    shutdown_grace: Duration,
    shutdown_delay: Duration,
    /// The relay, when this process runs workers beside the API.
    relay: Option<WorkerOptions>,
    /// HTTPS on the HTTP and gRPC listeners, when configured.
    tls: Option<Tls>,
}

/// What a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProcessRole {
    /// The API and the workers (the relay): one process does everything.
    #[default]
    All,
    /// The API only: workers run elsewhere (`quire worker`).
    Api,
}

impl Application {
    /// Opens the database (migrating it), loads keys, and binds the listening sockets.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_traced(config, None, ProcessRole::All).await
    }

    /// Like [`Application::build`], joining requests to distributed traces.
    pub async fn build_traced(
        config: Config,
        tracing: Option<Arc<dyn quire_http::RequestTracing>>,
        role: ProcessRole,
    ) -> anyhow::Result<Self> {
        crate::metrics::install();
        if role == ProcessRole::Api
            && config.events.nats_url.is_none()
            && config.events.amqp_url.is_none()
        {
            tracing::warn!(
                "serving the API without workers and without NATS or RabbitMQ: this process's \
                 subscriptions and streams hear no events; set QUIRE_NATS_URL or QUIRE_AMQP_URL"
            );
        }
        let quire = build_core(&config).await?;
        let tls = match config.tls.files() {
            Some(files) => Some(
                Tls::load(files, Duration::from_secs(config.tls.reload_secs))
                    .context("loading the TLS certificate")?,
            ),
            None => None,
        };
        let draining = Arc::new(AtomicBool::new(false));
        let http = HttpConfig {
            body_limit: config.http.body_limit_bytes,
            request_timeout: Duration::from_secs(config.http.request_timeout_secs),
            cors_origins: config.http.cors_origins.clone(),
            draining: Arc::clone(&draining),
            tracing,
            cache_headers: config.edge.cache_headers(),
            site: config.site.to_site(),
            trusted_proxies: Arc::new(config.limits.proxies()?),
            security_headers: match tls {
                Some(_) => SecurityHeaders::with_hsts(config.tls.hsts_max_age_secs),
                None => SecurityHeaders::default(),
            },
        };
        let graphql = quire_graphql::router(
            quire.clone(),
            config.graphql.to_graphql(config.http.body_limit_bytes),
        );
        let stopping = Arc::new(tokio::sync::watch::channel(false).0);
        let grpc_config = config
            .grpc
            .to_grpc(Arc::clone(&draining), Arc::clone(&stopping));
        let grpc = quire_grpc::router(quire.clone(), &grpc_config);
        let contracts = quire_http::Contracts {
            limited: graphql,
            self_limited: grpc,
        };
        let router = quire_http::router(quire.clone(), &http, contracts);
        let listener = bind(config.listen, "HTTP").await?;
        let grpc_listener = match config.grpc.listen {
            None => None,
            Some(address) => Some((
                bind(address, "gRPC").await?,
                quire_http::rate_limited(
                    quire_grpc::standalone_router(quire.clone(), &grpc_config),
                    quire.clone(),
                    Arc::clone(&http.trusted_proxies),
                ),
            )),
        };
        // Metrics matter less than serving: a taken admin port (Prometheus itself defaults to
        // 9090) is logged as an error, and quire serves without /metrics.
        let admin_listener = match bind(config.admin.listen, "the admin listener").await {
            Ok(listener) => Some((listener, crate::metrics::router(quire.store().clone()))),
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "metrics are not served; set QUIRE_ADMIN_LISTEN to a free address"
                );
                None
            }
        };
        Ok(Self {
            listener,
            tls,
            grpc_listener,
            admin_listener,
            router,
            quire,
            draining,
            stopping,
            shutdown_grace: Duration::from_secs(config.http.shutdown_grace_secs),
            shutdown_delay: Duration::from_secs(config.http.shutdown_delay_secs),
            relay: (role == ProcessRole::All).then(|| WorkerOptions::from(&config)),
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

    /// The address of the admin listener, when it could bind.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Every contract's routes, to drive without a socket (the fuzzers): each request needs
    /// the peer's `axum::extract::ConnectInfo<SocketAddr>` as an extension, as a listener
    /// would give it.
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// The wired core, for tests and tools that act without HTTP.
    pub fn quire(&self) -> &Quire<Db> {
        &self.quire
    }

    /// Serves until `shutdown` completes, then stops within the grace period of the signal,
    /// whatever state connections are in. Readiness fails at once; after a SIGTERM the
    /// listeners keep accepting for the shutdown delay (so load balancers see readiness fail
    /// and move traffic); then they stop accepting and in-flight requests get what is left of
    /// the grace period. The database then gets [`CLOSE_DEADLINE`] to close; whatever is still
    /// running is abandoned and logged.
    pub async fn run_until<S: Into<Stop>>(
        self,
        shutdown: impl Future<Output = S> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self.local_addr()?;
        match self.admin_addr() {
            Some(admin_address) => tracing::info!(%address, %admin_address, "listening"),
            None => tracing::info!(%address, "listening"),
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (signalled_tx, mut signalled_rx) = tokio::sync::watch::channel(None);
        let draining = Arc::clone(&self.draining);
        let stopping = Arc::clone(&self.stopping);
        let delay = self.shutdown_delay.min(self.shutdown_grace);
        let signal = async move {
            let stop = shutdown.await.into();
            signalled_tx.send_replace(Some(tokio::time::Instant::now()));
            draining.store(true, Ordering::Release);
            if stop == Stop::Drain && !delay.is_zero() {
                tracing::info!(
                    ?delay,
                    "shutting down: readiness fails; serving on for the delay"
                );
                tokio::time::sleep(delay).await;
            }
            tracing::info!("shutting down: draining in-flight requests");
            stopping.send_replace(true);
            let _ = stop_tx.send(true);
        };
        let stopped = {
            let stop_rx = stop_rx.clone();
            move || {
                let mut stop_rx = stop_rx.clone();
                async move {
                    let _ = stop_rx.wait_for(|stopped| *stopped).await;
                }
            }
        };
        // The other listeners drain with the main one; the database closes after all of them.
        let mut others = Vec::new();
        if let Some((listener, router)) = self.grpc_listener {
            let grpc_address = listener.local_addr()?;
            tracing::info!(%grpc_address, "serving gRPC on its own port too");
            let stop = stopped();
            let incoming = Incoming::new(listener, self.tls.as_ref())?;
            others.push(tokio::spawn(async move {
                let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
                let served =
                    axum::serve(incoming.tap_io(|_| {}), service).with_graceful_shutdown(stop);
                if let Err(error) = served.await {
                    tracing::error!(%error, "the gRPC listener failed");
                }
            }));
        }
        if let Some((admin, admin_router)) = self.admin_listener {
            let stop = stopped();
            others.push(tokio::spawn(async move {
                let served = axum::serve(admin, admin_router).with_graceful_shutdown(stop);
                if let Err(error) = served.await {
                    tracing::error!(%error, "the admin listener failed");
                }
            }));
        }
        tokio::spawn(signal);
        let invalidation = tokio::spawn(invalidate_from_events(self.quire.clone()));
        // The workers run until the requests have drained, so their events go out too.
        let workers = self
            .relay
            .map(|options| Workers::start(&self.quire, options));
        // The peer's address is kept for the rate limits (`quire_http::client`).
        let service = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let incoming = Incoming::new(self.listener, self.tls.as_ref())?;
        let server =
            axum::serve(incoming.tap_io(|_| {}), service).with_graceful_shutdown(stopped());
        let grace = self.shutdown_grace;
        let deadline = async move {
            let signalled = match signalled_rx.wait_for(Option::is_some).await {
                Ok(signalled) => *signalled,
                Err(_) => None,
            };
            match signalled {
                Some(at) => tokio::time::sleep_until(at + grace).await,
                None => std::future::pending::<()>().await,
            }
        };
        let everything = async move {
            let served = server.await;
            for other in others {
                let _ = other.await;
            }
            served
        };
        tokio::select! {
            result = everything => result.context("serving HTTP")?,
            () = deadline => tracing::warn!(
                ?grace,
                "shutdown grace passed; abandoning the requests still in flight"
            ),
        }
        invalidation.abort();
        if let Some(workers) = workers {
            workers.stop(CLOSE_DEADLINE).await;
        }
        let store = self.quire.store();
        if tokio::time::timeout(CLOSE_DEADLINE, store.close())
            .await
            .is_err()
        {
            let in_use: Vec<_> = store
                .pool_stats()
                .into_iter()
                .map(|pool| (pool.pool, pool.open.saturating_sub(pool.idle)))
                .collect();
            tracing::warn!(
                deadline = ?CLOSE_DEADLINE,
                ?in_use,
                "the database did not close in time; abandoning its connections in use"
            );
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Runs the workers alone (`quire worker`) until `shutdown`: the relay and the scheduler, and
/// `/metrics` on the
/// admin listener when it can bind. The relay finishes its round and gives its lease up, then
/// the database closes, each within [`CLOSE_DEADLINE`].
pub async fn run_worker<S: Into<Stop>>(
    config: Config,
    shutdown: impl Future<Output = S> + Send + 'static,
) -> anyhow::Result<()> {
    crate::metrics::install();
    let quire = build_core(&config).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let admin = match bind(config.admin.listen, "the admin listener").await {
        Ok(listener) => {
            let router = crate::metrics::router(quire.store().clone());
            let mut stopped = stopped.clone();
            Some(tokio::spawn(async move {
                let stop = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await;
            }))
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "the worker serves no /metrics"
            );
            None
        }
    };
    let workers = Workers::start(&quire, WorkerOptions::from(&config));
    let _ = shutdown.await;
    tracing::info!("the worker is stopping");
    stop.send_replace(true);
    workers.stop(CLOSE_DEADLINE).await;
    if let Some(admin) = admin {
        let _ = tokio::time::timeout(CLOSE_DEADLINE, admin).await;
    }
    if tokio::time::timeout(CLOSE_DEADLINE, quire.store().close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close in time; abandoning its connections");
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long the database may take to close at shutdown (commit SQLite's pending group,
/// checkpoint, end PostgreSQL sessions) before its connections are abandoned.
pub const CLOSE_DEADLINE: Duration = Duration::from_secs(1);

async fn bind(address: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} for {what}"))
}

/// Completes on SIGTERM (an orchestrated stop) or SIGINT (an interactive one). The handlers
/// are installed when this is called, not when it is first awaited, so a signal that arrives
/// between start-up and serving (an orchestrator stopping a process it just started) still
/// stops the process gracefully rather than killing it. Call inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = Stop> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
                    _ = interrupt.recv() => Stop::Now,
                    _ = terminate.recv() => Stop::Drain,
                },
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot listen for SIGTERM or SIGINT");
                    let _ = tokio::signal::ctrl_c().await;
                    Stop::Now
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let interrupt = tokio::signal::ctrl_c();
        async move {
            let _ = interrupt.await;
            Stop::Now
        }
    }
}
