-- The keys that sign access tokens (EdDSA): each private key sealed with AES-256-GCM under a
-- key derived from the JWT secret (never stored here), its public half as a JWK (RFC 7517).
-- The newest key without retires_at signs; older keys verify until retires_at, when the last
-- token they signed has expired, and are then pruned. All times are Unix milliseconds.
CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    public_jwk  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    retires_at  INTEGER
) STRICT, WITHOUT ROWID;
