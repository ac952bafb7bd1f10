//! Webhooks after the Standard Webhooks specification (<https://www.standardwebhooks.com>):
//! endpoints that admins register, the deliveries the relay makes of committed events, the
//! retry schedule, and the circuit breaker that spares an endpoint that keeps failing.
//!
//! Everything here is a value or a pure function of its inputs (time and randomness come in as
//! arguments), so the rules are tested without a network or a clock.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::events::DomainEvent;
use crate::ids::{DeliveryId, WebhookId};
use crate::time::Timestamp;

/// The prefix of a Standard Webhooks signing secret (`whsec_` and the key in base64).
pub const SECRET_PREFIX: &str = "whsec_";

/// The event-type filter that matches every type but the opt-in ones.
pub const ALL_TYPES: &str = "*";

/// Types an endpoint receives only when it names them: the audit log's entries, which are
/// frequent (every sign-in) and about people, not content.
pub const OPT_IN_TYPES: [&str; 1] = ["audit.recorded"];

/// Bytes of a generated signing key (Standard Webhooks asks for 24 to 64).
pub const SECRET_BYTES: usize = 24;

/// How long deliveries stay signed with the previous secret after a rotation, in
/// milliseconds: a day.
pub const ROTATION_OVERLAP_MILLIS: i64 = 24 * 3_600_000;

/// How long a delivery may wait for its endpoint (behind an open circuit, say) before it is
/// given up, in milliseconds: three days.
pub const MAX_DELIVERY_AGE_MILLIS: i64 = 3 * 24 * 3_600_000;

/// The longest response body kept in the delivery log, in bytes.
pub const LOGGED_RESPONSE_BYTES: usize = 1024;

/// A signing secret: `whsec_` and 24 to 64 bytes in standard base64 (Standard Webhooks,
/// "Signature scheme"). Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// Parses `whsec_<base64>` whose key is 24 to 64 bytes.
    ///
    /// # Errors
    /// A message for the `secret` field when it is not one.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let key = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or("must start with whsec_")?;
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| "must be whsec_ and the key in base64")?;
        if !(24..=64).contains(&bytes.len()) {
            return Err("must hold a key of 24 to 64 bytes");
        }
        Ok(Self(text.to_owned()))
    }

    /// A secret over `key`, freshly drawn.
    pub fn from_key(key: &[u8]) -> Self {
        Self(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
    }

    /// The secret as Standard Webhooks libraries take it (`whsec_…`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

/// An endpoint's URL: absolute `http` or `https`, with a host, without credentials, at most
/// 2,000 characters. Whether its host may be reached is the sender's check
/// ([`crate::ports::WebhookSender::check_destination`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// # Errors
    /// A message for the `url` field.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.len() > 2000 {
            return Err("is too long (maximum is 2000 characters)");
        }
        let rest = if let Some(rest) = text.strip_prefix("https://") {
            rest
        } else if let Some(rest) = text.strip_prefix("http://") {
            rest
        } else {
            return Err("must be an http or https URL");
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("must not carry credentials");
        }
        if authority.is_empty() || authority.starts_with(':') {
            return Err("must name a host");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces");
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The filter besides its own name that matches an event of type `name`: `*`, unless the type
/// is opt-in ([`OPT_IN_TYPES`]).
pub fn wildcard_of(name: &str) -> Option<&'static str> {
    (!OPT_IN_TYPES.contains(&name)).then_some(ALL_TYPES)
}

/// The event types an endpoint receives: every one (`*`), or those listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<&'static str>);

impl EventTypes {
    /// Every type.
    pub fn all() -> Self {
        Self(vec![ALL_TYPES])
    }

    /// Parses a list of documented types (`post.published`) or `*`; an empty list is refused
    /// (an endpoint that wants nothing is a disabled one).
    ///
    /// # Errors
    /// A message for the `eventTypes` field.
    pub fn parse<'a>(types: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut parsed: Vec<&'static str> = Vec::new();
        for name in types {
            let known = std::iter::once(ALL_TYPES)
                .chain(DomainEvent::TYPES)
                .find(|known| *known == name)
                .ok_or_else(|| format!("{name:?} is not an event type"))?;
            if !parsed.contains(&known) {
                parsed.push(known);
            }
        }
        if parsed.is_empty() {
            return Err("can't be empty".to_owned());
        }
        if parsed.contains(&ALL_TYPES) {
            return Ok(Self::all());
        }
        parsed.sort_unstable();
        Ok(Self(parsed))
    }

    pub fn as_slice(&self) -> &[&'static str] {
        &self.0
    }

    /// Whether an event of type `name` goes to the endpoint. `*` matches every type but the
    /// opt-in ones ([`OPT_IN_TYPES`]), which go only where named.
    pub fn matches(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|t| *t == name || Some(*t) == wildcard_of(name))
    }
}

/// A circuit breaker's state as stored with its endpoint: how many attempts failed in a row,
/// and, once it opened, until when it stays open. Past that time it is half-open: one probe
/// goes through; success closes it, failure opens it again for twice as long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Circuit {
    pub failures: u32,
    pub open_until: Option<Timestamp>,
}

impl Circuit {
    /// `closed`, or `open` (nothing goes through before `open_until`; the first attempt after
    /// it is a probe). Read from the stored state alone, so a representation of an endpoint
    /// changes only when the endpoint does.
    pub fn state(&self) -> &'static str {
        if self.open_until.is_some() {
            "open"
        } else {
            "closed"
        }
    }
}

/// What a breaker lets through now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: every due delivery.
    All,
    /// Half-open: one delivery, as a probe.
    Probe,
    /// Open: nothing before this time.
    Wait(Timestamp),
}

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    /// Consecutive failed attempts that open the circuit.
    pub threshold: u32,
    /// How long the circuit first stays open, in milliseconds; each failed probe doubles it,
    /// up to 64 times.
    pub cooldown_millis: i64,
}

impl Breaker {
    pub fn admission(&self, circuit: Circuit, now: Timestamp) -> Admission {
        match circuit.open_until {
            None => Admission::All,
            Some(until) if now < until => Admission::Wait(until),
            Some(_) => Admission::Probe,
        }
    }

    /// The circuit after a successful attempt: closed.
    pub fn succeeded(&self) -> Circuit {
        Circuit::default()
    }

    /// The circuit after a failed attempt at `now`.
    pub fn failed(&self, circuit: Circuit, now: Timestamp) -> Circuit {
        let failures = circuit.failures.saturating_add(1);
        if failures < self.threshold.max(1) {
            return Circuit {
                failures,
                open_until: None,
            };
        }
        let reopenings = failures - self.threshold.max(1);
        let cooldown = self.cooldown_millis.saturating_mul(1 << reopenings.min(6));
        Circuit {
            failures,
            open_until: Some(Timestamp::from_millis(
                now.as_millis().saturating_add(cooldown),
            )),
        }
    }
}

/// When failed deliveries are tried again: exponential back-off with jitter, over about a day
/// by default (11 attempts: 5 s, 20 s, 80 s, … growing fourfold up to 6 h apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The wait after the first failure, in milliseconds.
    pub base_millis: i64,
    /// The longest wait between attempts, in milliseconds.
    pub max_delay_millis: i64,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            base_millis: 5_000,
            max_delay_millis: 6 * 3_600_000,
            max_attempts: 11,
        }
    }
}

impl RetrySchedule {
    /// When to try again after `attempts` attempts failed (1 after the first), with `jitter`
    /// in `[0, 1)` spreading the wait over ±20%; `None` when no attempt is left.
    pub fn next_attempt(&self, attempts: u32, now: Timestamp, jitter: f64) -> Option<Timestamp> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(20);
        let delay = self
            .base_millis
            .saturating_mul(4_i64.saturating_pow(exponent))
            .min(self.max_delay_millis);
        let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        // Milliseconds, far below 2^53: exact as a float.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let delay = (delay as f64 * spread) as i64;
        Some(Timestamp::from_millis(
            now.as_millis().saturating_add(delay.max(1)),
        ))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt was answered 2xx.
    Delivered,
    /// Every attempt failed, or the endpoint answered 410 Gone.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A registered endpoint, as admins see it (its secret is read on its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: WebhookUrl,
    pub description: String,
    pub event_types: EventTypes,
    pub enabled: bool,
    /// Why it was disabled, when it was by a delivery (`gone`: the endpoint answered 410).
    pub disabled_reason: Option<String>,
    pub circuit: Circuit,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An endpoint's signing secrets as stored: sealed (encrypted) by the [`crate::ports::SecretBox`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecrets {
    pub current: String,
    /// The secret before the last rotation, and until when deliveries are signed with it too.
    pub previous: Option<(String, Timestamp)>,
}

/// A new endpoint, checked.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub description: String,
    pub event_types: EventTypes,
    pub enabled: bool,
    pub secret: String,
    pub at: Timestamp,
}

/// Changes to an endpoint, checked; `None` keeps a field. Enabling it again closes its circuit
/// and forgets why it was disabled.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<WebhookUrl>,
    pub description: Option<String>,
    pub event_types: Option<EventTypes>,
    pub enabled: Option<bool>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook: WebhookId,
    /// The event's id, sent as `webhook-id`: receivers de-duplicate by it.
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A delivery that is due, with what sending it takes.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub url: WebhookUrl,
    /// The request body: the event as CloudEvents JSON.
    pub payload: String,
    pub secrets: SealedSecrets,
    pub circuit: Circuit,
}

/// One attempt at a delivery, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery: DeliveryId,
    pub event_id: String,
    pub event_type: String,
    pub attempted_at: Timestamp,
    /// The HTTP status the endpoint answered; `None` when it did not answer (refused
    /// connection, timeout, refused destination).
    pub status: Option<u16>,
    pub latency_millis: u32,
    /// The first [`LOGGED_RESPONSE_BYTES`] of the response body.
    pub response: String,
    /// Why there was no answer.
    pub error: Option<String>,
}

/// What an attempt leaves behind: its log entry, the delivery's new state and the endpoint's.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub attempt: Attempt,
    pub state: DeliveryState,
    pub next_attempt_at: Option<Timestamp>,
    pub circuit: Circuit,
    /// Set when the endpoint is to be disabled, with the reason (`gone`).
    pub disable: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_entries_go_only_where_named() {
        assert!(EventTypes::all().matches("post.published"));
        assert!(!EventTypes::all().matches("audit.recorded"));
        let named = EventTypes::parse(["audit.recorded"]).unwrap();
        assert!(named.matches("audit.recorded"));
        assert!(!named.matches("post.published"));
    }

    const NOW: Timestamp = Timestamp::from_millis(1_000_000);

    #[test]
    fn secrets_are_whsec_and_24_to_64_bytes_of_base64() {
        let secret = SigningSecret::from_key(&[7u8; 24]);
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(secret.expose()), Ok(secret.clone()));
        assert!(SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err());
        assert!(SigningSecret::parse("whsec_not base64!").is_err());
        assert_eq!(format!("{secret:?}"), "SigningSecret(…)");
    }

    #[test]
    fn urls_are_absolute_http_without_credentials() {
        assert!(WebhookUrl::parse("https://hooks.example.com/quire?x=1").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook").is_ok());
        for bad in [
            "ftp://example.com",
            "example.com/hook",
            "https://user:pw@example.com/",
            "https:///path",
            "https://exa mple.com",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_types_are_documented_types_or_everything() {
        let types = EventTypes::parse(["post.published", "comment.added"]).unwrap();
        assert!(types.matches("post.published"));
        assert!(!types.matches("post.created"));
        assert!(
            EventTypes::parse(["*", "post.created"])
                .unwrap()
                .matches("user.followed")
        );
        assert!(EventTypes::parse(["post.publish"]).is_err());
        assert!(EventTypes::parse([]).is_err());
    }

    #[test]
    fn the_breaker_opens_after_the_threshold_probes_and_closes() {
        let breaker = Breaker {
            threshold: 3,
            cooldown_millis: 1_000,
        };
        let mut circuit = Circuit::default();
        for _ in 0..2 {
            circuit = breaker.failed(circuit, NOW);
            assert_eq!(breaker.admission(circuit, NOW), Admission::All);
        }
        circuit = breaker.failed(circuit, NOW);
        let until = Timestamp::from_millis(NOW.as_millis() + 1_000);
        assert_eq!(breaker.admission(circuit, NOW), Admission::Wait(until));
        assert_eq!(breaker.admission(circuit, until), Admission::Probe);
        // A failed probe opens it again, for twice as long.
        circuit = breaker.failed(circuit, until);
        assert_eq!(
            circuit.open_until,
            Some(Timestamp::from_millis(until.as_millis() + 2_000))
        );
        circuit = breaker.succeeded();
        assert_eq!(breaker.admission(circuit, until), Admission::All);
    }

    #[test]
    fn retries_back_off_with_jitter_over_about_a_day() {
        let schedule = RetrySchedule::default();
        let mut total = 0;
        for attempts in 1..schedule.max_attempts {
            let low = schedule.next_attempt(attempts, NOW, 0.0).unwrap();
            let high = schedule.next_attempt(attempts, NOW, 1.0).unwrap();
            assert!(low < high);
            total += schedule
                .next_attempt(attempts, NOW, 0.5)
                .unwrap()
                .as_millis()
                - NOW.as_millis();
        }
        assert_eq!(schedule.next_attempt(schedule.max_attempts, NOW, 0.5), None);
        let hours = total as f64 / 3_600_000.0;
        assert!((20.0..30.0).contains(&hours), "{hours} h");
    }
}
