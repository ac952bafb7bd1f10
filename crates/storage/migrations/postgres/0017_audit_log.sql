-- The audit log: sign-ins, refresh-token reuse, role and activation changes, key rotations,
-- webhook changes (quire_core::audit). Each row is an audit.recorded event also put in the
-- outbox in the same transaction; id is that event's UUIDv7, so ids sort by time. actor_id has
-- no foreign key: entries outlive the accounts they name. Times are Unix milliseconds.
CREATE TABLE audit_log (
    id          TEXT   NOT NULL PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor_id    BIGINT,
    action      TEXT   NOT NULL,
    subject     TEXT,
    request_id  TEXT,
    client_ip   TEXT,
    details     TEXT   NOT NULL
);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
