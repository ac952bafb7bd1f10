-- The transactional outbox (SQLite; the same shape on PostgreSQL). Every write records the
-- domain events it causes here, in its own transaction; the relay publishes pending rows in
-- `seq` order, marks them sent once the broker confirmed them, and prunes sent rows after a
-- retention period (docs/events.md).
CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL,
    type           TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id   INTEGER NOT NULL,
    occurred_at    INTEGER NOT NULL,
    actor_id       INTEGER,
    schema_version INTEGER NOT NULL,
    data           TEXT NOT NULL,
    sent_at        INTEGER
) STRICT;

CREATE UNIQUE INDEX outbox_event_id ON outbox (id);
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Leases: which process runs a job that exactly one must run (the relay, the scheduler), until
-- when. A holder renews before `expires_at`; anyone may take an expired lease.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
