-- Responses to POST requests that carried an Idempotency-Key, so a retry replays the first
-- answer instead of acting twice. Kept at least 24 hours; scoped to the caller (user 0 for
-- anonymous callers). `status` is NULL while the first request is still running.
CREATE TABLE idempotency_keys (
    user_id     INTEGER NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,  -- method, path and a hash of the body
    status      INTEGER,
    headers     TEXT,              -- JSON array of [name, value] pairs
    body        BLOB,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
