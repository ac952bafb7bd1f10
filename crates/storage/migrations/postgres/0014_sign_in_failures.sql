-- Failed sign-ins by account (the email as parsed, whether or not an account has it), for
-- brute-force lockouts: counted while they follow one another within the failure window, with
-- the lock they earned; a success or an admin's unlock forgets them, and stale ones are pruned
-- as new failures are recorded. All times are Unix milliseconds.
CREATE TABLE sign_in_failures (
    account        TEXT   NOT NULL PRIMARY KEY,
    failures       BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL,
    locked_until   BIGINT
);
CREATE INDEX sign_in_failures_last_idx ON sign_in_failures (last_failed_at);
