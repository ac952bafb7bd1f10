-- Sign-in sessions: every sign-in opens one, and its access tokens name it (`sid`), so signing
-- out, signing out everywhere, a password change, deactivation or a reused refresh token ends
-- it and its tokens at once. expires_at is when its last token (or refresh token) expires;
-- ended and expired sessions are pruned as new ones open. All times are Unix milliseconds.
CREATE TABLE sessions (
    id             TEXT    NOT NULL PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Refresh tokens, a family per session, kept only as SHA-256 hashes. Each is used once: using
-- it gives the next (rotation, RFC 9700 section 4.14.2); presenting a used one again ends the
-- session, since one of its holders is not its owner.
CREATE TABLE refresh_tokens (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
