//! Configuration: defaults, then an optional `quire.toml`, then `QUIRE_*` environment
//! variables. Secrets can come from files (`*_FILE`) and never print.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::adapters::SigningAlgorithm;
use quire_core::limits::{Policy, Quota};
use quire_core::service::{PasswordPolicy, SessionPolicy};
use serde::{Deserialize, Serialize, Serializer};

/// A secret value: kept out of `Debug`, `Display` and printed configuration.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Whether a commit is synced before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Survives power loss (SQLite `synchronous=FULL`).
    Full,
    /// Survives a crash of the process, not of the machine (`synchronous=NORMAL`).
    Normal,
}

/// Everything quire can be told. Every field has a default; see [`Config::default`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to serve on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where the SQLite database and the generated signing key live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub jwt: JwtConfig,
    pub http: HttpSection,
    pub graphql: GraphqlSection,
    pub grpc: GrpcSection,
    pub tls: TlsSection,
    pub admin: AdminSection,
    pub argon2: Argon2Config,
    pub passwords: PasswordsSection,
    pub openid: OpenIdSection,
    pub events: EventsSection,
    pub webhooks: WebhooksSection,
    pub cache: CacheSection,
    pub edge: EdgeSection,
    pub site: SiteSection,
    pub limits: LimitsSection,
}

/// Limits on what a caller may try, and for how long they wait when over (docs/security.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Failed sign-ins in a row that lock the email tried out; 0 turns lockouts off.
    pub sign_in_max_failures: u32,
    /// Seconds the first lockout lasts; each further failure doubles it.
    pub sign_in_lockout_secs: u32,
    /// Seconds the longest lockout lasts.
    pub sign_in_max_lockout_secs: u32,
    /// Seconds after which a failure counts from one again.
    pub sign_in_window_secs: u32,
    /// Whether requests are limited per client at all (the quotas below).
    pub rate_limits: bool,
    /// Sign-in attempts per client, whichever accounts (`N/s`, `N/min` or `N/hour`, or `off`).
    pub client_sign_ins: String,
    /// Accounts registered per client.
    pub client_registrations: String,
    /// Changes (REST `POST`, `PUT`, `PATCH`, `DELETE`) per client.
    pub client_writes: String,
    /// Requests of any kind per client.
    pub client_requests: String,
    /// Proxies (addresses or CIDR ranges) whose `Forwarded` / `X-Forwarded-For` name the
    /// client; none by default, so the connection's peer is the client.
    pub trusted_proxies: Vec<String>,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let policy = quire_core::service::SignInPolicy::default();
        Self {
            sign_in_max_failures: policy.max_failures,
            sign_in_lockout_secs: policy.lockout_secs,
            sign_in_max_lockout_secs: policy.max_lockout_secs,
            sign_in_window_secs: policy.window_secs,
            rate_limits: true,
            client_sign_ins: "30/min".to_owned(),
            client_registrations: "100/hour".to_owned(),
            client_writes: "600/min".to_owned(),
            client_requests: "6000/min".to_owned(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl LimitsSection {
    /// The quota of each policy that is on; none when rate limits are off.
    ///
    /// # Errors
    /// The setting that is neither a quota nor `off`.
    pub fn quotas(&self) -> Result<Vec<(Policy, Quota)>, ConfigError> {
        if !self.rate_limits {
            return Ok(Vec::new());
        }
        let settings = [
            (
                Policy::SignIn,
                "limits.client_sign_ins",
                &self.client_sign_ins,
            ),
            (
                Policy::Registration,
                "limits.client_registrations",
                &self.client_registrations,
            ),
            (Policy::Write, "limits.client_writes", &self.client_writes),
            (
                Policy::Request,
                "limits.client_requests",
                &self.client_requests,
            ),
        ];
        let mut quotas = Vec::new();
        for (policy, key, text) in settings {
            if text.trim() == "off" {
                continue;
            }
            let quota =
                Quota::parse(text).map_err(|message| ConfigError::Invalid { key, message })?;
            quotas.push((policy, quota));
        }
        Ok(quotas)
    }

    /// The trusted proxies.
    ///
    /// # Errors
    /// An entry that is no address or range.
    pub fn proxies(&self) -> Result<quire_http::client::TrustedProxies, ConfigError> {
        quire_http::client::TrustedProxies::parse(self.trusted_proxies.iter().map(String::as_str))
            .map_err(|message| ConfigError::Invalid {
                key: "limits.trusted_proxies",
                message,
            })
    }

    /// The core's sign-in lockout policy.
    pub fn sign_in(&self) -> quire_core::service::SignInPolicy {
        quire_core::service::SignInPolicy {
            max_failures: self.sign_in_max_failures,
            lockout_secs: self.sign_in_lockout_secs,
            max_lockout_secs: self.sign_in_max_lockout_secs,
            window_secs: self.sign_in_window_secs,
        }
    }
}

/// The site that shows the posts, where feeds and sitemaps link to (docs/publishing.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteSection {
    /// Its origin and base path, without a trailing `/`.
    pub url: String,
    /// A post's path on it, with `{slug}` where the slug goes.
    pub post_path: String,
    /// The feed's title.
    pub title: String,
    /// The language (BCP 47) readers get when none they ask for is there.
    pub language: Option<String>,
}

impl Default for SiteSection {
    fn default() -> Self {
        let site = quire_http::Site::default();
        Self {
            url: site.url,
            post_path: site.post_path,
            title: site.title,
            language: site.language,
        }
    }
}

impl SiteSection {
    pub fn to_site(&self) -> quire_http::Site {
        quire_http::Site {
            url: self.url.clone(),
            post_path: self.post_path.clone(),
            title: self.title.clone(),
            language: self
                .language
                .as_deref()
                .and_then(quire_content::layout::language_tag),
        }
    }
}

/// Shared caches in front of quire, a CDN or Varnish (docs/caching.md, "HTTP caching").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeSection {
    /// `s-maxage` of anonymous views of published content, in seconds: how long a shared
    /// cache may serve one unasked. Without a purger it bounds how stale the edge can be.
    pub s_maxage_secs: u32,
    /// `stale-while-revalidate`, in seconds: how long past that a shared cache may serve the
    /// stale view while it fetches a fresh one.
    pub stale_while_revalidate_secs: u32,
    /// Where the worker sends purges by surrogate key after writes; none when unset.
    pub purge_url: Option<String>,
    /// How purges are sent to `purge_url`.
    pub purger: PurgerKind,
}

impl Default for EdgeSection {
    fn default() -> Self {
        let headers = quire_http::CacheHeaders::default();
        Self {
            s_maxage_secs: headers.s_maxage,
            stale_while_revalidate_secs: headers.stale_while_revalidate,
            purge_url: None,
            purger: PurgerKind::Xkey,
        }
    }
}

impl EdgeSection {
    pub fn cache_headers(&self) -> quire_http::CacheHeaders {
        quire_http::CacheHeaders {
            s_maxage: self.s_maxage_secs,
            stale_while_revalidate: self.stale_while_revalidate_secs,
        }
    }
}

/// How a purge by surrogate keys is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PurgerKind {
    /// `PURGE` with the keys in an `xkey-purge` header, space-separated: Varnish with the
    /// xkey module (`deploy/varnish/quire.vcl`).
    Xkey,
    /// `POST` of `{"surrogate_keys": [...]}` as JSON: any purge endpoint of your own.
    Json,
}

/// Which cache holds the shared read models (docs/caching.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// In this process (moka), invalidated from commits here and the event stream.
    Memory,
    /// No cache: every read goes to the database.
    Off,
}

/// The application cache of hot anonymous reads (docs/caching.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSection {
    pub backend: CacheBackend,
    /// Bytes of cached read models kept at most, roughly (in each process).
    pub max_bytes: u64,
    /// Seconds an entry may be served at most, invalidated or not (the safety net).
    pub ttl_secs: u64,
    /// A Redis shared by the instances, behind each one's in-process cache: a miss in one
    /// process is served from another's load. Unset: in-process only.
    pub redis_url: Option<Secret>,
    /// Prefix of quire's keys in that Redis, so deployments can share one.
    pub redis_prefix: String,
    /// Milliseconds one Redis call may take before it counts as failed (and, three in a row,
    /// open the breaker that sends reads to the database for a second).
    pub redis_timeout_millis: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            backend: CacheBackend::Memory,
            max_bytes: 64 * 1024 * 1024,
            ttl_secs: 300,
            redis_url: None,
            redis_prefix: "quire:cache:".to_owned(),
            redis_timeout_millis: 50,
        }
    }
}

/// How webhooks are delivered (docs/webhooks.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksSection {
    /// The AES-256 key that seals endpoints' signing secrets in the database, as 64 hex
    /// digits. Unset (and no `key_file`): one is generated on first start and kept in the
    /// data directory as `webhook-key`, mode 0600. Every instance must use the same key.
    pub key: Option<Secret>,
    /// A file holding the key.
    pub key_file: Option<PathBuf>,
    /// Whether endpoints may be on loopback addresses (`127.0.0.0/8`, `::1`).
    pub allow_loopback: bool,
    /// Whether endpoints may be on private, shared or link-local addresses (cloud metadata
    /// addresses never).
    pub allow_private: bool,
    /// Milliseconds a delivery attempt may take, connection included.
    pub timeout_millis: u64,
    /// Milliseconds before the first retry; each later wait is four times longer, up to 6 h.
    pub retry_base_millis: u64,
    /// Attempts per delivery, the first included (11: about a day of retries).
    pub max_attempts: u32,
    /// Consecutive failed attempts that open an endpoint's circuit.
    pub breaker_threshold: u32,
    /// Milliseconds an opened circuit waits before a probe; doubled after each failed probe.
    pub breaker_cooldown_millis: u64,
    /// Milliseconds between the delivery worker's looks for due deliveries.
    pub poll_millis: u64,
    /// Deliveries attempted per round at most.
    pub batch: u32,
    /// Hours finished deliveries and their log are kept.
    pub retention_hours: u64,
}

impl Default for WebhooksSection {
    fn default() -> Self {
        Self {
            key: None,
            key_file: None,
            allow_loopback: false,
            allow_private: false,
            timeout_millis: 10_000,
            retry_base_millis: 5_000,
            max_attempts: 11,
            breaker_threshold: 5,
            breaker_cooldown_millis: 60_000,
            poll_millis: 200,
            batch: 64,
            retention_hours: 168,
        }
    }
}

/// Where committed events go, and how the relay that moves them runs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsSection {
    /// NATS with JetStream, such as `nats://127.0.0.1:4222`: events go to the stream
    /// `QUIRE_EVENTS` over subjects `quire.events.<type>`.
    pub nats_url: Option<Secret>,
    /// RabbitMQ, such as `amqp://guest:guest@127.0.0.1:5672/%2f`: events go to the durable
    /// topic exchange `quire.events` with the type as routing key. Ignored when `nats_url` is
    /// set.
    pub amqp_url: Option<Secret>,
    /// Events the relay publishes per round.
    pub relay_batch: u32,
    /// Milliseconds between the relay's looks at the outbox when nothing woke it (events
    /// written by other processes are found this way: with the API and the workers apart, it
    /// bounds how late other instances hear a write). Each look is one indexed read that
    /// finds nothing when idle. A `NOTIFY` on commit would wake the relay sooner, but on
    /// PostgreSQL every notifying commit takes one database-wide lock, which would serialize
    /// concurrent writers.
    pub relay_poll_millis: u64,
    /// Milliseconds a relay's lease lasts without renewal: a standby takes over within this
    /// much after the active relay dies.
    pub relay_lease_millis: u64,
    /// Hours sent events stay in the outbox before they are pruned.
    pub retention_hours: u64,
}

impl Default for EventsSection {
    fn default() -> Self {
        Self {
            nats_url: None,
            amqp_url: None,
            relay_batch: 512,
            relay_poll_millis: 25,
            relay_lease_millis: 5_000,
            retention_hours: 24,
        }
    }
}

/// The admin listener: `/metrics`, kept off the public port.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSection {
    pub listen: SocketAddr,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

/// HTTPS on the listeners (the HTTP port and gRPC's own), when a certificate is configured.
/// OpenID Connect providers users may sign in through (docs/security.md, "OpenID Connect
/// sign-in"). A file lists any number as `[[openid.providers]]`; the environment
/// (`QUIRE_OIDC_*`) sets the first, named `oidc` unless `QUIRE_OIDC_NAME` says otherwise.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenIdSection {
    pub providers: Vec<OpenIdProvider>,
    /// How long a call to a provider may take, in milliseconds.
    pub timeout_millis: u64,
}

/// One OpenID provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenIdProvider {
    /// The name in quire's URLs: `/api/v1/sessions/openid/{name}`; lowercase letters, digits
    /// and `-`.
    pub name: String,
    /// The issuer identifier (`https://accounts.example.com`); HTTPS unless on this machine.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// quire's callback as registered at the provider:
    /// `{public API URL}/api/v1/sessions/openid/{name}/callback`.
    pub redirect_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
}

impl Default for OpenIdProvider {
    fn default() -> Self {
        Self {
            name: "oidc".to_owned(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            redirect_url: String::new(),
            scopes: vec!["email".to_owned(), "profile".to_owned()],
        }
    }
}

impl Default for OpenIdSection {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            timeout_millis: 10_000,
        }
    }
}

impl OpenIdSection {
    /// The provider the environment sets: the first, made when there is none.
    fn env_provider(&mut self) -> &mut OpenIdProvider {
        if self.providers.is_empty() {
            self.providers.push(OpenIdProvider::default());
        }
        &mut self.providers[0]
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            key: "openid.providers",
            message,
        };
        let mut names = std::collections::BTreeSet::new();
        for provider in &self.providers {
            let name = &provider.name;
            if name.is_empty()
                || name.len() > 32
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(invalid(format!(
                    "{name:?}: a name is 1 to 32 lowercase letters, digits and '-'"
                )));
            }
            if !names.insert(name.as_str()) {
                return Err(invalid(format!("{name:?} is named twice")));
            }
            if provider.client_id.is_empty() {
                return Err(invalid(format!("{name}: client_id is missing")));
            }
            for (what, url) in [
                ("issuer", &provider.issuer),
                ("redirect_url", &provider.redirect_url),
            ] {
                let parsed = openidconnect::url::Url::parse(url)
                    .map_err(|error| invalid(format!("{name}: {what} {url:?}: {error}")))?;
                let local = parsed.scheme() == "http"
                    && matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
                    && parsed.username().is_empty();
                if !(parsed.scheme() == "https" || local) {
                    return Err(invalid(format!(
                        "{name}: {what} {url:?} must be an https:// URL (http:// only on this \
                         machine)"
                    )));
                }
            }
            let callback = format!("/api/v1/sessions/openid/{name}/callback");
            if !provider.redirect_url.ends_with(&callback) {
                return Err(invalid(format!(
                    "{name}: redirect_url must be quire's callback, ending in {callback}"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// The PEM certificate chain, leaf first. Set with `key_file`, or neither.
    pub cert_file: Option<PathBuf>,
    /// The PEM private key of the certificate.
    pub key_file: Option<PathBuf>,
    /// How often the two files are checked for a renewal, in seconds; 0 never.
    pub reload_secs: u64,
    /// `Strict-Transport-Security`'s `max-age` on every response while serving TLS, in
    /// seconds (RFC 6797); 0 sends none.
    pub hsts_max_age_secs: u64,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            reload_secs: 60,
            hsts_max_age_secs: 365 * 24 * 3600,
        }
    }
}

impl TlsSection {
    /// The certificate's files, when TLS is on.
    pub fn files(&self) -> Option<crate::tls::CertificateFiles> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some(crate::tls::CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

/// gRPC: always served on the HTTP port; also on `listen` when set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcSection {
    /// A second address serving only gRPC, for example for an internal network.
    pub listen: Option<SocketAddr>,
    /// Largest gRPC message accepted or sent.
    pub max_message_bytes: usize,
}

impl Default for GrpcSection {
    fn default() -> Self {
        Self {
            listen: None,
            max_message_bytes: quire_grpc::GrpcConfig::default().max_message_bytes,
        }
    }
}

impl GrpcSection {
    pub fn to_grpc(
        &self,
        draining: Arc<AtomicBool>,
        stopping: Arc<tokio::sync::watch::Sender<bool>>,
    ) -> quire_grpc::GrpcConfig {
        quire_grpc::GrpcConfig {
            max_message_bytes: self.max_message_bytes,
            draining,
            stopping,
        }
    }
}

/// Limits of `/graphql`, checked before any resolver runs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSection {
    /// Deepest field nesting a query may have (introspection aside).
    pub max_depth: usize,
    /// Largest cost a query may have: one per field, times the page size under lists.
    pub max_complexity: usize,
    /// Most aliases one document may use.
    pub max_aliases: usize,
    /// Most operations one batched request may carry.
    pub max_batch: usize,
    /// Whether clients may introspect the schema (GraphiQL needs it).
    pub introspection: bool,
    /// A GraphQL request still running after this is answered with a TIMEOUT error.
    pub timeout_secs: u64,
}

impl Default for GraphqlSection {
    fn default() -> Self {
        let defaults = quire_graphql::GraphqlConfig::default();
        Self {
            max_depth: defaults.max_depth,
            max_complexity: defaults.max_complexity,
            max_aliases: defaults.max_aliases,
            max_batch: defaults.max_batch,
            introspection: defaults.introspection,
            timeout_secs: defaults.timeout.as_secs(),
        }
    }
}

impl GraphqlSection {
    pub fn to_graphql(&self, max_message_bytes: usize) -> quire_graphql::GraphqlConfig {
        quire_graphql::GraphqlConfig {
            max_message_bytes,
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            max_aliases: self.max_aliases,
            max_batch: self.max_batch,
            introspection: self.introspection,
            timeout: std::time::Duration::from_secs(self.timeout_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB?sslmode=verify-full`; unset means
    /// `quire.db` in the data directory.
    pub url: Option<Secret>,
    /// SQLite only.
    pub durability: Durability,
    /// SQLite: read-only connections for concurrent reads. PostgreSQL: the pool's size.
    pub pool_size: u32,
    /// Seconds a request waits for a connection before answering 503.
    pub acquire_timeout_secs: u64,
    /// Prepared statements kept per connection.
    pub statement_cache: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,quire_storage=debug`.
    pub filter: String,
    /// Where to export traces over OTLP/gRPC (such as `http://collector:4317`); none when
    /// unset.
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// HMAC key for tokens, at least 32 bytes. Unset (and no `secret_file`): a key is
    /// generated on first start and kept in the data directory with mode 0600.
    pub secret: Option<Secret>,
    /// A file holding the key.
    pub secret_file: Option<PathBuf>,
    /// How tokens are signed: `EdDSA` (Ed25519 keys kept in the database, sealed under a key
    /// derived from `secret`, rotated by `quire keys rotate`, public at
    /// `/.well-known/jwks.json`) or `HS256` (with `secret` itself).
    pub algorithm: SigningAlgorithm,
    /// How long a RealWorld (`/api`) token is valid, in seconds: that contract has no refresh.
    pub ttl_secs: u64,
    /// How long the access token of a session signed in through `/api/v1`, GraphQL or gRPC
    /// is valid, in seconds; its refresh token gets the next.
    pub access_ttl_secs: u64,
    /// How long a refresh token is valid from when it is issued, in seconds.
    pub refresh_ttl_secs: u64,
    pub issuer: String,
    pub audience: String,
    /// How often each instance reads the signing keys again (a rotation reaches it within
    /// this), in seconds.
    pub keys_reload_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// On SIGTERM/SIGINT, the whole shutdown, counted from the signal: the delay, then the
    /// drain of in-flight requests; the process exits within it plus about 2 s.
    pub shutdown_grace_secs: u64,
    /// On SIGTERM, how long to keep serving with readiness failing before no longer
    /// accepting connections, so load balancers stop sending traffic first. (SIGINT, an
    /// interactive stop, skips it.)
    pub shutdown_delay_secs: u64,
    /// Origins browsers may call from; `*` allows any.
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory per hash in KiB (OWASP: 19456).
    pub memory_kib: u32,
    /// Passes over memory (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
    /// Hashes computed at once; 0 means one less than the number of cores (at least 1), so
    /// a log-in flood leaves a core for everything else.
    pub max_concurrent: usize,
    /// Hashes allowed to wait; beyond this, log-ins and registrations answer 503.
    pub max_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            jwt: JwtConfig::default(),
            http: HttpSection::default(),
            graphql: GraphqlSection::default(),
            grpc: GrpcSection::default(),
            tls: TlsSection::default(),
            admin: AdminSection::default(),
            argon2: Argon2Config::default(),
            passwords: PasswordsSection::default(),
            openid: OpenIdSection::default(),
            events: EventsSection::default(),
            webhooks: WebhooksSection::default(),
            cache: CacheSection::default(),
            edge: EdgeSection::default(),
            site: SiteSection::default(),
            limits: LimitsSection::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            durability: Durability::Full,
            pool_size: 8,
            acquire_timeout_secs: 5,
            statement_cache: 100,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info,sqlx=warn".to_owned(),
            otlp_endpoint: None,
        }
    }
}

impl JwtConfig {
    /// How long sessions' tokens last, as the core applies it.
    pub fn sessions(&self) -> SessionPolicy {
        SessionPolicy {
            access_ttl_secs: self.access_ttl_secs.max(1),
            long_lived_ttl_secs: self.ttl_secs.max(1),
            refresh_ttl_secs: self.refresh_ttl_secs.max(1),
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            secret: None,
            secret_file: None,
            algorithm: SigningAlgorithm::default(),
            ttl_secs: 7 * 24 * 3600,
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            issuer: "quire".to_owned(),
            audience: "quire".to_owned(),
            keys_reload_secs: 60,
        }
    }
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
            shutdown_delay_secs: 5,
            cors_origins: vec!["*".to_owned()],
        }
    }
}

/// How hard to guess a new password must be, on zxcvbn's 0 to 4 scale (0: length alone;
/// 3: "safely unguessable", over 10^8 guesses).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordsSection {
    /// For `/api/v1`, GraphQL, gRPC and accounts made by admins.
    pub min_strength: u8,
    /// For the RealWorld API (`/api`), whose specification accepts any password of 8
    /// characters or more (its suite changes a password to `bonjour1`).
    pub realworld_min_strength: u8,
}

impl Default for PasswordsSection {
    fn default() -> Self {
        let policy = PasswordPolicy::default();
        Self {
            min_strength: policy.min_strength,
            realworld_min_strength: policy.lenient_min_strength,
        }
    }
}

impl PasswordsSection {
    pub fn policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_strength: self.min_strength,
            lenient_min_strength: self.realworld_min_strength,
        }
    }
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            max_queue: 256,
        }
    }
}

/// A configuration that cannot be used, with what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("invalid {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("invalid {var}={value:?}: {message}")]
    Env {
        var: &'static str,
        value: String,
        message: String,
    },
}

/// How one environment variable changes the configuration: given the variable's name (for
/// errors) and its value.
type Apply = fn(&mut Config, &'static str, &str) -> Result<(), ConfigError>;

/// Every environment variable quire reads (besides `QUIRE_CONFIG`, which names the file) and
/// what it sets, each name written once. Applied in this order, so a `_FILE` form, listed after
/// the plain one, wins when both are set.
const ENV: &[(&str, Apply)] = &[
    ("QUIRE_LISTEN", |c, var, v| {
        set(&mut c.listen, parse_env(var, v))
    }),
    ("QUIRE_DATA_DIR", |c, _, v| {
        c.data_dir = PathBuf::from(v);
        Ok(())
    }),
    ("QUIRE_DATABASE_URL", |c, _, v| {
        c.database.url = Some(Secret::new(v));
        Ok(())
    }),
    ("QUIRE_DATABASE_URL_FILE", |c, var, v| {
        c.database.url = Some(read_secret_file(var, v)?);
        Ok(())
    }),
    ("QUIRE_DATABASE_DURABILITY", |c, var, v| {
        let durability = match v {
            "full" => Durability::Full,
            "normal" => Durability::Normal,
            _ => return Err(env_error(var, v, "expected full or normal")),
        };
        c.database.durability = durability;
        Ok(())
    }),
    ("QUIRE_DATABASE_POOL_SIZE", |c, var, v| {
        set(&mut c.database.pool_size, parse_env(var, v))
    }),
    ("QUIRE_DATABASE_ACQUIRE_TIMEOUT_SECS", |c, var, v| {
        set(&mut c.database.acquire_timeout_secs, parse_env(var, v))
    }),
    ("QUIRE_DATABASE_STATEMENT_CACHE", |c, var, v| {
        set(&mut c.database.statement_cache, parse_env(var, v))
    }),
    ("QUIRE_LOG_FORMAT", |c, var, v| {
        let format = match v {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            _ => return Err(env_error(var, v, "expected pretty or json")),
        };
        c.log.format = format;
        Ok(())
    }),
    ("QUIRE_LOG", |c, _, v| {
        c.log.filter = v.to_owned();
        Ok(())
    }),
    // A key given in the environment replaces any key the file gave, in either form.
    ("QUIRE_JWT_SECRET", |c, _, v| {
        c.jwt.secret = Some(Secret::new(v));
        c.jwt.secret_file = None;
        Ok(())
    }),
    ("QUIRE_JWT_SECRET_FILE", |c, _, v| {
        c.jwt.secret_file = Some(PathBuf::from(v));
        c.jwt.secret = None;
        Ok(())
    }),
    ("QUIRE_JWT_ALGORITHM", |c, var, v| {
        c.jwt.algorithm = v.parse().map_err(|why: String| env_error(var, v, &why))?;
        Ok(())
    }),
    ("QUIRE_JWT_KEYS_RELOAD_SECS", |c, var, v| {
        set(&mut c.jwt.keys_reload_secs, parse_env(var, v))
    }),
    ("QUIRE_ACCESS_TOKEN_TTL_SECS", |c, var, v| {
        set(&mut c.jwt.access_ttl_secs, parse_env(var, v))
    }),
    ("QUIRE_REFRESH_TOKEN_TTL_SECS", |c, var, v| {
        set(&mut c.jwt.refresh_ttl_secs, parse_env(var, v))
    }),
    ("QUIRE_JWT_TTL_SECS", |c, var, v| {
        set(&mut c.jwt.ttl_secs, parse_env(var, v))
    }),
    ("QUIRE_BODY_LIMIT_BYTES", |c, var, v| {
        set(&mut c.http.body_limit_bytes, parse_env(var, v))
    }),
    ("QUIRE_REQUEST_TIMEOUT_SECS", |c, var, v| {
        set(&mut c.http.request_timeout_secs, parse_env(var, v))
    }),
    ("QUIRE_SHUTDOWN_GRACE_SECS", |c, var, v| {
        set(&mut c.http.shutdown_grace_secs, parse_env(var, v))
    }),
    ("QUIRE_SHUTDOWN_DELAY_SECS", |c, var, v| {
        set(&mut c.http.shutdown_delay_secs, parse_env(var, v))
    }),
    ("QUIRE_CORS_ORIGINS", |c, _, v| {
        c.http.cors_origins = v
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(())
    }),
    ("QUIRE_GRAPHQL_MAX_DEPTH", |c, var, v| {
        set(&mut c.graphql.max_depth, parse_env(var, v))
    }),
    ("QUIRE_GRAPHQL_MAX_COMPLEXITY", |c, var, v| {
        set(&mut c.graphql.max_complexity, parse_env(var, v))
    }),
    ("QUIRE_GRAPHQL_MAX_ALIASES", |c, var, v| {
        set(&mut c.graphql.max_aliases, parse_env(var, v))
    }),
    ("QUIRE_GRAPHQL_MAX_BATCH", |c, var, v| {
        set(&mut c.graphql.max_batch, parse_env(var, v))
    }),
    ("QUIRE_GRAPHQL_INTROSPECTION", |c, var, v| {
        set(&mut c.graphql.introspection, parse_env(var, v))
    }),
    ("QUIRE_GRAPHQL_TIMEOUT_SECS", |c, var, v| {
        set(&mut c.graphql.timeout_secs, parse_env(var, v))
    }),
    ("QUIRE_GRPC_LISTEN", |c, var, v| {
        c.grpc.listen = Some(parse_env(var, v)?);
        Ok(())
    }),
    ("QUIRE_GRPC_MAX_MESSAGE_BYTES", |c, var, v| {
        set(&mut c.grpc.max_message_bytes, parse_env(var, v))
    }),
    ("QUIRE_ADMIN_LISTEN", |c, var, v| {
        set(&mut c.admin.listen, parse_env(var, v))
    }),
    ("QUIRE_NATS_URL", |c, _, v| {
        c.events.nats_url = Some(Secret::new(v));
        Ok(())
    }),
    ("QUIRE_AMQP_URL", |c, _, v| {
        c.events.amqp_url = Some(Secret::new(v));
        Ok(())
    }),
    ("QUIRE_RELAY_POLL_MILLIS", |c, var, v| {
        set(&mut c.events.relay_poll_millis, parse_env(var, v))
    }),
    ("QUIRE_RELAY_LEASE_MILLIS", |c, var, v| {
        set(&mut c.events.relay_lease_millis, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOK_KEY", |c, _, v| {
        c.webhooks.key = Some(Secret::new(v));
        c.webhooks.key_file = None;
        Ok(())
    }),
    ("QUIRE_WEBHOOK_KEY_FILE", |c, _, v| {
        c.webhooks.key_file = Some(PathBuf::from(v));
        c.webhooks.key = None;
        Ok(())
    }),
    ("QUIRE_WEBHOOKS_ALLOW_LOOPBACK", |c, var, v| {
        set(&mut c.webhooks.allow_loopback, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_ALLOW_PRIVATE", |c, var, v| {
        set(&mut c.webhooks.allow_private, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_TIMEOUT_MILLIS", |c, var, v| {
        set(&mut c.webhooks.timeout_millis, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_RETRY_BASE_MILLIS", |c, var, v| {
        set(&mut c.webhooks.retry_base_millis, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_MAX_ATTEMPTS", |c, var, v| {
        set(&mut c.webhooks.max_attempts, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_BREAKER_THRESHOLD", |c, var, v| {
        set(&mut c.webhooks.breaker_threshold, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_BREAKER_COOLDOWN_MILLIS", |c, var, v| {
        set(&mut c.webhooks.breaker_cooldown_millis, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_POLL_MILLIS", |c, var, v| {
        set(&mut c.webhooks.poll_millis, parse_env(var, v))
    }),
    ("QUIRE_WEBHOOKS_RETENTION_HOURS", |c, var, v| {
        set(&mut c.webhooks.retention_hours, parse_env(var, v))
    }),
    ("QUIRE_SIGN_IN_MAX_FAILURES", |c, var, v| {
        set(&mut c.limits.sign_in_max_failures, parse_env(var, v))
    }),
    ("QUIRE_SIGN_IN_LOCKOUT_SECS", |c, var, v| {
        set(&mut c.limits.sign_in_lockout_secs, parse_env(var, v))
    }),
    ("QUIRE_SIGN_IN_MAX_LOCKOUT_SECS", |c, var, v| {
        set(&mut c.limits.sign_in_max_lockout_secs, parse_env(var, v))
    }),
    ("QUIRE_SIGN_IN_WINDOW_SECS", |c, var, v| {
        set(&mut c.limits.sign_in_window_secs, parse_env(var, v))
    }),
    ("QUIRE_RATE_LIMITS", |c, var, v| {
        c.limits.rate_limits = match v {
            "on" => true,
            "off" => false,
            _ => return Err(env_error(var, v, "expected on or off")),
        };
        Ok(())
    }),
    ("QUIRE_RATE_LIMIT_SIGN_INS", |c, _, v| {
        c.limits.client_sign_ins = v.to_owned();
        Ok(())
    }),
    ("QUIRE_RATE_LIMIT_REGISTRATIONS", |c, _, v| {
        c.limits.client_registrations = v.to_owned();
        Ok(())
    }),
    ("QUIRE_RATE_LIMIT_WRITES", |c, _, v| {
        c.limits.client_writes = v.to_owned();
        Ok(())
    }),
    ("QUIRE_RATE_LIMIT_REQUESTS", |c, _, v| {
        c.limits.client_requests = v.to_owned();
        Ok(())
    }),
    ("QUIRE_TRUSTED_PROXIES", |c, _, v| {
        c.limits.trusted_proxies = v.split(',').map(|entry| entry.trim().to_owned()).collect();
        Ok(())
    }),
    ("QUIRE_CACHE", |c, var, v| {
        c.cache.backend = match v {
            "memory" => CacheBackend::Memory,
            "off" => CacheBackend::Off,
            _ => return Err(env_error(var, v, "expected memory or off")),
        };
        Ok(())
    }),
    ("QUIRE_CACHE_MAX_BYTES", |c, var, v| {
        set(&mut c.cache.max_bytes, parse_env(var, v))
    }),
    ("QUIRE_CACHE_TTL_SECS", |c, var, v| {
        set(&mut c.cache.ttl_secs, parse_env(var, v))
    }),
    ("QUIRE_REDIS_URL", |c, _, v| {
        c.cache.redis_url = Some(Secret::new(v.to_owned()));
        Ok(())
    }),
    ("QUIRE_REDIS_PREFIX", |c, _, v| {
        c.cache.redis_prefix = v.to_owned();
        Ok(())
    }),
    ("QUIRE_REDIS_TIMEOUT_MILLIS", |c, var, v| {
        set(&mut c.cache.redis_timeout_millis, parse_env(var, v))
    }),
    ("QUIRE_EDGE_S_MAXAGE_SECS", |c, var, v| {
        set(&mut c.edge.s_maxage_secs, parse_env(var, v))
    }),
    ("QUIRE_EDGE_STALE_WHILE_REVALIDATE_SECS", |c, var, v| {
        set(&mut c.edge.stale_while_revalidate_secs, parse_env(var, v))
    }),
    ("QUIRE_SITE_URL", |c, _, v| {
        c.site.url = v.trim_end_matches('/').to_owned();
        Ok(())
    }),
    ("QUIRE_SITE_POST_PATH", |c, _, v| {
        c.site.post_path = v.to_owned();
        Ok(())
    }),
    ("QUIRE_SITE_TITLE", |c, _, v| {
        c.site.title = v.to_owned();
        Ok(())
    }),
    ("QUIRE_SITE_LANGUAGE", |c, _, v| {
        c.site.language = Some(v.to_owned());
        Ok(())
    }),
    ("QUIRE_PURGE_URL", |c, _, v| {
        c.edge.purge_url = Some(v.to_owned());
        Ok(())
    }),
    ("QUIRE_PURGER", |c, var, v| {
        c.edge.purger = match v {
            "xkey" => PurgerKind::Xkey,
            "json" => PurgerKind::Json,
            _ => return Err(env_error(var, v, "expected xkey or json")),
        };
        Ok(())
    }),
    ("QUIRE_OTLP_ENDPOINT", |c, _, v| {
        c.log.otlp_endpoint = Some(v.to_owned());
        Ok(())
    }),
    ("QUIRE_ARGON2_MEMORY_KIB", |c, var, v| {
        set(&mut c.argon2.memory_kib, parse_env(var, v))
    }),
    ("QUIRE_ARGON2_ITERATIONS", |c, var, v| {
        set(&mut c.argon2.iterations, parse_env(var, v))
    }),
    ("QUIRE_ARGON2_PARALLELISM", |c, var, v| {
        set(&mut c.argon2.parallelism, parse_env(var, v))
    }),
    ("QUIRE_ARGON2_MAX_CONCURRENT", |c, var, v| {
        set(&mut c.argon2.max_concurrent, parse_env(var, v))
    }),
    ("QUIRE_TLS_CERT_FILE", |c, _, v| {
        c.tls.cert_file = Some(PathBuf::from(v));
        Ok(())
    }),
    ("QUIRE_TLS_KEY_FILE", |c, _, v| {
        c.tls.key_file = Some(PathBuf::from(v));
        Ok(())
    }),
    ("QUIRE_TLS_RELOAD_SECS", |c, var, v| {
        set(&mut c.tls.reload_secs, parse_env(var, v))
    }),
    ("QUIRE_HSTS_MAX_AGE_SECS", |c, var, v| {
        set(&mut c.tls.hsts_max_age_secs, parse_env(var, v))
    }),
    ("QUIRE_PASSWORD_MIN_STRENGTH", |c, var, v| {
        set(&mut c.passwords.min_strength, parse_env(var, v))
    }),
    ("QUIRE_REALWORLD_PASSWORD_MIN_STRENGTH", |c, var, v| {
        set(&mut c.passwords.realworld_min_strength, parse_env(var, v))
    }),
    ("QUIRE_OIDC_NAME", |c, _, v| {
        c.openid.env_provider().name = v.to_owned();
        Ok(())
    }),
    ("QUIRE_OIDC_ISSUER", |c, _, v| {
        // Compared verbatim with the discovery document's `issuer`: a trailing `/` counts.
        c.openid.env_provider().issuer = v.to_owned();
        Ok(())
    }),
    ("QUIRE_OIDC_CLIENT_ID", |c, _, v| {
        c.openid.env_provider().client_id = v.to_owned();
        Ok(())
    }),
    ("QUIRE_OIDC_CLIENT_SECRET", |c, _, v| {
        c.openid.env_provider().client_secret = Some(Secret::new(v));
        Ok(())
    }),
    ("QUIRE_OIDC_REDIRECT_URL", |c, _, v| {
        c.openid.env_provider().redirect_url = v.to_owned();
        Ok(())
    }),
    ("QUIRE_OIDC_SCOPES", |c, _, v| {
        c.openid.env_provider().scopes = v
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(())
    }),
    ("QUIRE_OIDC_TIMEOUT_MILLIS", |c, var, v| {
        set(&mut c.openid.timeout_millis, parse_env(var, v))
    }),
];

/// The environment variables quire reads, for the configuration table and `quire config`.
pub fn env_vars() -> impl Iterator<Item = &'static str> {
    std::iter::once("QUIRE_CONFIG").chain(ENV.iter().map(|(var, _)| *var))
}

fn set<T>(field: &mut T, value: Result<T, ConfigError>) -> Result<(), ConfigError> {
    *field = value?;
    Ok(())
}

fn env_error(var: &'static str, value: &str, message: &str) -> ConfigError {
    ConfigError::Env {
        var,
        value: value.to_owned(),
        message: message.to_owned(),
    }
}

fn parse_env<T: FromStr>(var: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|error: T::Err| ConfigError::Env {
            var,
            value: value.to_owned(),
            message: error.to_string(),
        })
}

fn read_secret_file(var: &'static str, path: &str) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Env {
        var,
        value: path.to_owned(),
        message: error.to_string(),
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    // An empty secret file is a deployment that forgot to fill it in: refuse to start rather
    // than fall back to a default (a throwaway SQLite file, a generated key per instance).
    if value.trim().is_empty() {
        return Err(ConfigError::Env {
            var,
            value: path.to_owned(),
            message: "the file is empty".to_owned(),
        });
    }
    Ok(Secret::new(value))
}

impl Config {
    /// The effective configuration: defaults, then the file (the one named, or `quire.toml`
    /// in the working directory if present), then the environment.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("QUIRE_CONFIG").map(PathBuf::from));
        let path = named.clone().or_else(|| {
            let default = PathBuf::from("quire.toml");
            default.is_file().then_some(default)
        });
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|error| ConfigError::File {
                    path,
                    message: error.to_string(),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects values that parse but cannot work, so they fail at start-up, not later.
    fn validate(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        limits.quotas()?;
        limits.proxies()?;
        if limits.sign_in_max_failures > 0
            && (limits.sign_in_lockout_secs == 0
                || limits.sign_in_max_lockout_secs < limits.sign_in_lockout_secs
                || limits.sign_in_window_secs == 0)
        {
            return Err(ConfigError::Invalid {
                key: "limits.sign_in_lockout_secs",
                message: "lockouts need a first lockout of at least 1 s, a longest lockout no \
                          shorter than the first, and a window of at least 1 s (or \
                          sign_in_max_failures = 0 to turn them off)"
                    .to_owned(),
            });
        }
        self.openid.validate()?;
        let url = &self.site.url;
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.ends_with('/')
            || !url.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(ConfigError::Invalid {
                key: "site.url",
                message: format!("{url:?} is not a URL like https://blog.example.com"),
            });
        }
        if let Some(language) = &self.site.language
            && quire_content::layout::language_tag(language).is_none()
        {
            return Err(ConfigError::Invalid {
                key: "site.language",
                message: format!("{language:?} is not a language tag such as en or pt-BR"),
            });
        }
        if !self.site.post_path.starts_with('/') || !self.site.post_path.contains("{slug}") {
            return Err(ConfigError::Invalid {
                key: "site.post_path",
                message: format!(
                    "{:?} is not a path with {{slug}}, like /posts/{{slug}}",
                    self.site.post_path
                ),
            });
        }
        for origin in &self.http.cors_origins {
            let valid = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/')
                    && origin.chars().all(|c| c.is_ascii_graphic()));
            if !valid {
                return Err(ConfigError::Invalid {
                    key: "http.cors_origins",
                    message: format!("{origin:?} is not * or an origin like https://example.com"),
                });
            }
        }
        if self
            .jwt
            .secret
            .as_ref()
            .is_some_and(|secret| secret.expose().len() < 32)
        {
            return Err(ConfigError::Invalid {
                key: "jwt.secret",
                message: "must be at least 32 bytes".to_owned(),
            });
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "tls.cert_file",
                message: "TLS needs both a certificate (QUIRE_TLS_CERT_FILE) and its key \
                          (QUIRE_TLS_KEY_FILE), or neither"
                    .to_owned(),
            });
        }
        for (key, value) in [
            ("passwords.min_strength", self.passwords.min_strength),
            (
                "passwords.realworld_min_strength",
                self.passwords.realworld_min_strength,
            ),
        ] {
            if value > 4 {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("{value} is not a strength from 0 to 4"),
                });
            }
        }
        let graphql = &self.graphql;
        for (key, value) in [
            ("graphql.max_depth", graphql.max_depth),
            ("graphql.max_complexity", graphql.max_complexity),
            ("graphql.max_batch", graphql.max_batch),
            (
                "graphql.timeout_secs",
                usize::from(graphql.timeout_secs > 0),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "must be at least 1".to_owned(),
                });
            }
        }
        if let Err(error) = crate::purger::PurgeOptions::from_config(&self.edge) {
            return Err(ConfigError::Invalid {
                key: "edge.purge_url",
                message: error.to_string(),
            });
        }
        Ok(())
    }

    /// The environment over the file: each variable of [`ENV`] that is set and not empty.
    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        for (var, apply) in ENV {
            if let Some(value) = env.get(*var).filter(|value| !value.is_empty()) {
                apply(self, var, value)?;
            }
        }
        Ok(())
    }

    /// The configuration as TOML, with secrets (the JWT key, a database URL that may hold a
    /// password) redacted.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_empty_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("database-url");
        std::fs::write(&empty, "\n").unwrap();
        let path = empty.display().to_string();
        let error = Config::load(None, &env(&[("QUIRE_DATABASE_URL_FILE", path.as_str())]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("QUIRE_DATABASE_URL_FILE"), "{error}");
        assert!(error.contains("empty"), "{error}");
    }

    #[test]
    fn defaults_serve_locally_from_data() {
        let config = Config::load(None, &env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert!(config.database.url.is_none());
        assert_eq!(config.http.body_limit_bytes, 1024 * 1024);
        assert_eq!(
            (
                config.argon2.memory_kib,
                config.argon2.iterations,
                config.argon2.parallelism
            ),
            (19456, 2, 1)
        );
    }

    #[test]
    fn an_openid_provider_comes_from_the_environment_and_must_use_https_off_this_machine() {
        let provider = [
            ("QUIRE_OIDC_ISSUER", "https://accounts.example.com/"),
            ("QUIRE_OIDC_CLIENT_ID", "quire"),
            ("QUIRE_OIDC_CLIENT_SECRET", "s3cret"),
            (
                "QUIRE_OIDC_REDIRECT_URL",
                "https://blog.example.com/api/v1/sessions/openid/oidc/callback",
            ),
            ("QUIRE_OIDC_SCOPES", "email, profile groups"),
        ];
        let config = Config::load(None, &env(&provider)).unwrap();
        let loaded = &config.openid.providers[0];
        assert_eq!(loaded.name, "oidc");
        assert_eq!(loaded.issuer, "https://accounts.example.com/");
        assert_eq!(loaded.scopes, ["email", "profile", "groups"]);
        assert!(!format!("{config:?}").contains("s3cret"));
        let mut plain = provider.to_vec();
        plain[0] = ("QUIRE_OIDC_ISSUER", "http://accounts.example.com");
        assert!(Config::load(None, &env(&plain)).is_err());
        plain[0] = ("QUIRE_OIDC_ISSUER", "http://127.0.0.1:8080");
        assert!(Config::load(None, &env(&plain)).is_ok());
        plain[0] = ("QUIRE_OIDC_ISSUER", "http://localhost:@evil.example/");
        assert!(Config::load(None, &env(&plain)).is_err());
        plain[0] = ("QUIRE_OIDC_ISSUER", "http://127.0.0.1:8080");
        plain.push(("QUIRE_OIDC_NAME", "corp"));
        assert!(
            Config::load(None, &env(&plain)).is_err(),
            "the callback names another provider"
        );
        plain.pop();
        plain.push(("QUIRE_OIDC_NAME", "Corp!"));
        assert!(Config::load(None, &env(&plain)).is_err());
        let no_client = [("QUIRE_OIDC_ISSUER", "https://accounts.example.com")];
        assert!(Config::load(None, &env(&no_client)).is_err());
        assert!(
            Config::load(None, &env(&[]))
                .unwrap()
                .openid
                .providers
                .is_empty()
        );
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("quire.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), &env(&[("QUIRE_LISTEN", "0.0.0.0:0")])).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:0");
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(
            config.jwt.issuer, "quire",
            "untouched keys keep their defaults"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("quire.toml");
        std::fs::write(&file, "listne = \"127.0.0.1:9000\"\n").unwrap();
        assert!(matches!(
            Config::load(Some(&file), &env(&[])),
            Err(ConfigError::File { .. })
        ));
        let error = Config::load(None, &env(&[("QUIRE_LISTEN", "nowhere")])).unwrap_err();
        assert!(error.to_string().contains("QUIRE_LISTEN"));
        assert!(Config::load(None, &env(&[("QUIRE_LOG_FORMAT", "xml")])).is_err());
        assert!(Config::load(None, &env(&[("QUIRE_CORS_ORIGINS", "example.com")])).is_err());
        assert!(Config::load(None, &env(&[("QUIRE_JWT_SECRET", "short")])).is_err());
        let origins = env(&[(
            "QUIRE_CORS_ORIGINS",
            "https://a.example, http://localhost:4200",
        )]);
        assert_eq!(
            Config::load(None, &origins)
                .unwrap()
                .http
                .cors_origins
                .len(),
            2
        );
    }

    #[test]
    fn a_key_in_the_environment_replaces_the_files_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("quire.toml");
        std::fs::write(
            &file,
            "[jwt]\nsecret = \"from-the-file-from-the-file-from-the-file\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            &env(&[("QUIRE_JWT_SECRET_FILE", "/run/secrets/jwt")]),
        )
        .unwrap();
        assert!(config.jwt.secret.is_none());
        assert_eq!(
            config.jwt.secret_file,
            Some(PathBuf::from("/run/secrets/jwt"))
        );
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db-url");
        std::fs::write(&file, "sqlite:///tmp/secret-path.db\n").unwrap();
        let config = Config::load(
            None,
            &env(&[
                (
                    "QUIRE_JWT_SECRET",
                    "super-secret-signing-key-material-0123456789",
                ),
                ("QUIRE_DATABASE_URL_FILE", file.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.database.url.as_ref().map(Secret::expose),
            Some("sqlite:///tmp/secret-path.db")
        );
        let printed = config.to_redacted_toml().unwrap();
        assert!(!printed.contains("super-secret"), "{printed}");
        assert!(!printed.contains("secret-path"), "{printed}");
        assert!(printed.contains("<redacted>"));
        assert!(!format!("{config:?}").contains("super-secret"));
    }
}
