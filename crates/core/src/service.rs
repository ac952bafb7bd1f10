//! The use-cases: every operation a user can perform, whichever contract carries it.
//!
//! Each checks input, then the [`crate::policy`], then acts through the [`crate::ports`].
//! Checks run in the order the contracts promise: authentication (done by the transport via
//! [`Quire::caller`]), then existence (404), then permission (403), then input (422).

mod accounts;
mod audit_log;
mod batch;
mod cached;
mod callers;
mod comments;
pub mod idempotency;
mod imports;
mod links;
mod lockouts;
mod openid;
mod posts;
mod profiles;
mod relay;
mod rendering;
mod search;
mod sessions;
mod throttle;
mod users;
mod watching;
mod webhooks;

use std::sync::Arc;

use crate::error::{FieldErrors, Result};
use crate::events::{DomainEvent, Event, EventId};
use crate::ids::UserId;
use crate::ports::{
    Clock, EventBus, EventStream, PasswordHasher, Random, SecretBox, Store, TokenService,
    WebhookSender,
};

pub use accounts::{PasswordPolicy, PasswordRule, Registration, UserUpdate};
pub use callers::{Caller, RECHECK_INTERVAL_MILLIS, Session, presented_token};
pub use idempotency::IDEMPOTENCY_WINDOW_MILLIS;
pub use imports::{
    ExportedFile, FileError, FileReport, ImportOptions, ImportOutcome, ImportReport, Imported,
    Importer, MAX_FILE_BYTES, Source, SourcePost, read_sources,
};
pub use links::{Chosen, Mapped, SITEMAP_BLOCK, Syndicated};
pub use lockouts::{SIGN_IN_POLICY, SignInPolicy};
pub use openid::{OPENID_SIGN_IN_TTL_SECS, OpenIdCallback, OpenIdStart};
pub use posts::{PostAddress, PostDraft, PostListing, PostUpdate};
pub use relay::Relayed;
pub use search::{
    DEFAULT_SEARCH_LIMIT, MAX_QUERY_CHARS, MAX_QUERY_TERMS, MAX_SEARCH_LIMIT, MAX_SEARCH_OFFSET,
    SearchHit, SearchRequest,
};
pub use sessions::{REFRESH_TOKEN_PREFIX, SessionKind, SessionPolicy};
pub use watching::Heard;
pub use webhooks::{Delivered, WebhookDraft, WebhookSettings, WebhookUpdate};

/// A field in a partial update: absent, explicitly null, or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

/// A binary message cannot send "null": a field is there (a value) or not (absent).
impl<T> From<Option<T>> for Patch<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Patch::Absent, Patch::Value)
    }
}

/// The adapters the use-cases need besides storage.
#[derive(Clone)]
pub struct Adapters {
    pub hasher: Arc<dyn PasswordHasher>,
    /// Judges how hard new passwords are to guess.
    pub strength: Arc<dyn crate::ports::PasswordEstimator>,
    /// How hard to guess new passwords must be.
    pub passwords: PasswordPolicy,
    pub tokens: Arc<dyn TokenService>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub events: Arc<dyn EventBus>,
    /// Seals webhook secrets at rest.
    pub secrets: Arc<dyn SecretBox>,
    /// Sends webhooks.
    pub webhooks: Arc<dyn WebhookSender>,
    /// Holds the shared read models of the hot anonymous reads, and invalidates them.
    pub cache: Arc<crate::cache::Caching>,
    /// When failed sign-ins lock an account out.
    pub sign_in: SignInPolicy,
    /// How long sessions' tokens last.
    pub sessions: SessionPolicy,
    /// Counts each client's requests against the rate limits.
    pub limiter: Arc<dyn crate::limits::RateLimiter>,
    /// The OpenID providers users may sign in through.
    pub openid: Arc<dyn crate::ports::OpenIdProviders>,
}

/// The application core, generic over its one storage type. Cheap to clone (one shared
/// pointer): every request's handler holds one.
pub struct Quire<S> {
    parts: Arc<Parts<S>>,
}

/// What the core holds; its methods reach these through `Deref`.
pub struct Parts<S> {
    store: S,
    adapters: Arc<Adapters>,
    /// The search index's size as last read, and when (see `search`).
    search_stats: search::StatsMemo,
}

impl<S> Clone for Quire<S> {
    fn clone(&self) -> Self {
        Self {
            parts: Arc::clone(&self.parts),
        }
    }
}

impl<S> std::ops::Deref for Quire<S> {
    type Target = Parts<S>;

    fn deref(&self) -> &Parts<S> {
        &self.parts
    }
}

impl<S: Store> Quire<S> {
    pub fn new(store: S, adapters: Adapters) -> Self {
        Self {
            parts: Arc::new(Parts {
                store,
                adapters: Arc::new(adapters),
                search_stats: search::StatsMemo::default(),
            }),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The same core over another handle to storage (a worker's, which counts its own
    /// statements).
    pub fn with_store(&self, store: S) -> Self {
        Self {
            parts: Arc::new(Parts {
                store,
                adapters: Arc::clone(&self.adapters),
                search_stats: search::StatsMemo::default(),
            }),
        }
    }

    /// Domain events delivered from now on, whichever process wrote them.
    pub fn events(&self) -> EventStream {
        self.adapters.events.subscribe()
    }

    /// Invalidates what an event heard from the stream makes stale in this process's cache
    /// (writes of other instances; this process's own are invalidated as they commit).
    pub fn heard(&self, event: &Event) {
        self.adapters.cache.heard(event);
    }

    /// Which bus delivers events (`in-process`, `nats`, `amqp`), for logs and metrics.
    pub fn event_bus_name(&self) -> &'static str {
        self.adapters.events.name()
    }

    /// The current time, by the injected clock.
    pub fn now(&self) -> crate::time::Timestamp {
        self.adapters.clock.now()
    }

    /// An event that `actor` causes now, with a fresh id, for a write to record.
    fn event(&self, actor: Option<UserId>, kind: DomainEvent) -> Event {
        let occurred_at = self.adapters.clock.now();
        let mut random = [0u8; 10];
        self.adapters.random.fill(&mut random);
        Event {
            id: EventId::new(occurred_at, random),
            occurred_at,
            actor,
            kind,
        }
    }

    /// An `audit.recorded` event: `action` on `subject` by `actor`, from the current request
    /// and client, to record with the change it audits.
    fn audit_event(
        &self,
        actor: Option<UserId>,
        action: crate::audit::AuditAction,
        subject: Option<String>,
        details: serde_json::Value,
    ) -> Event {
        let data = crate::audit::AuditData::now(action, subject, details);
        self.event(actor, DomainEvent::AuditRecorded(data))
    }

    /// Records audit entries that go with no other write of their own (a sign-in, an attempt,
    /// a change already committed), in one transaction. Never fails the act it records: an act
    /// that happened is not answered as an error (a client would retry it) because its entry
    /// could not be written; the failure is logged once, with the entries' actions.
    async fn audit(&self, events: Vec<Event>) {
        if let Err(error) = self.store.record_alone(&events).await {
            let actions: Vec<String> = events
                .iter()
                .filter_map(|event| match &event.kind {
                    DomainEvent::AuditRecorded(data) => Some(data.action.name()),
                    _ => None,
                })
                .collect();
            tracing::error!(%error, ?actions, "audit entries could not be recorded");
        }
    }

    /// Whether storage answers; for readiness probes.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }

    /// The cache of shared views, for a contract to keep what it renders of them beside them
    /// (invalidated by the same tags).
    pub fn shared_cache(&self) -> &dyn crate::cache::Cache {
        self.adapters.cache.cache()
    }

    /// Which cache serves the shared reads, and whether it works fully; for readiness probes.
    pub async fn cache_health(&self) -> (&'static str, crate::cache::CacheHealth) {
        let cache = self.adapters.cache.cache();
        (cache.name(), cache.health().await)
    }
}

const BLANK: &str = "can't be blank";

/// Parses a required field, recording `can't be blank` when it is missing.
fn required<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<T> {
    match text {
        Some(text) => errors.check(field, parse(text)),
        None => {
            errors.add(field, BLANK);
            None
        }
    }
}
