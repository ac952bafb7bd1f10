-- Webhook endpoints, their deliveries and the delivery log (SQLite; the same shape on
-- PostgreSQL). See docs/webhooks.md.
--
-- Secrets are sealed (AES-256-GCM) with a key that is never in the database. The relay makes a
-- delivery of each event to each enabled endpoint whose types match it, once: (webhook_id,
-- event_id) is unique. One delivery worker at a time (the `webhooks` lease) attempts due
-- deliveries and records each attempt; an endpoint's circuit breaker state lives on its row.
CREATE TABLE webhooks (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL,
    -- A JSON array of event types, or ["*"] for every type.
    event_types           TEXT NOT NULL,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until INTEGER,
    enabled               INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    disabled_reason       TEXT,
    failures              INTEGER NOT NULL DEFAULT 0,
    open_until            INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    -- The request body: the event as CloudEvents JSON.
    payload         TEXT NOT NULL,
    -- pending, delivered or failed.
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;

CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (webhook_id, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id    INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    webhook_id     INTEGER NOT NULL,
    attempted_at   INTEGER NOT NULL,
    status         INTEGER,
    latency_millis INTEGER NOT NULL,
    response       TEXT NOT NULL,
    error          TEXT
) STRICT;

CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, id);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
