-- OpenID Connect sign-in (quire_core::service::openid).
--
-- user_identities: an account's identities at OpenID providers, each the issuer and the `sub`
-- it gives the account (OpenID Connect Core 1.0 sections 2 and 5.7: unique per issuer, never
-- reassigned), and the configured provider name it came through. One identity names one
-- account; an account may have several.
--
-- openid_sign_ins: sign-ins sent to a provider and not yet back, keyed by the SHA-256 of their
-- `state`; each is taken (deleted) when the provider redirects back, and is good for ten minutes.
-- browser_hash binds it to the browser that started it (a cookie), against login CSRF.
-- Times are Unix milliseconds.
CREATE TABLE user_identities (
    issuer    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    provider  TEXT    NOT NULL,
    user_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at BIGINT  NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id, issuer);

CREATE TABLE openid_sign_ins (
    state_hash    TEXT    NOT NULL PRIMARY KEY,
    provider      TEXT    NOT NULL,
    nonce         TEXT    NOT NULL,
    pkce_verifier TEXT    NOT NULL,
    browser_hash  TEXT    NOT NULL,
    started_at    BIGINT  NOT NULL
);
CREATE INDEX openid_sign_ins_started_idx ON openid_sign_ins (started_at);
