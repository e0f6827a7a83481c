-- Tapwallet wallet backend, SQLite dialect. Keep in step with
-- migrations/wallet-postgres/0001_wallet.sql: same tables, same columns, same order
-- (tests/wallet.rs compares them). One column per line: the schema test reads these files.
--
-- This database belongs to the wallet backend (the token requestor), a different party from
-- the card network: it never holds a full PAN, a DPAN, a CVV or a key. Times are Unix seconds
-- from the backend's clock.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at BIGINT NOT NULL
);

-- A login. Its refresh tokens are in refresh_tokens; access tokens name it (claim `sid`) and
-- stop working once it is revoked or expired.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT CHECK (revoked_reason IN ('logout', 'refresh_reuse')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX sessions_user ON sessions (user_id);

-- Every refresh token a session was given, by SHA-256 (never the token itself). The current
-- one has rotated_at NULL; presenting a rotated one again revokes the session.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id TEXT NOT NULL REFERENCES sessions (id),
    issued_at BIGINT NOT NULL,
    rotated_at BIGINT
);

CREATE UNIQUE INDEX refresh_tokens_current ON refresh_tokens (session_id)
    WHERE rotated_at IS NULL;

-- A device wallet and the public half of its secure element key (a P-256 JWK, public
-- members only), registered once (its RFC 7638 thumbprint is unique).
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    platform TEXT NOT NULL CHECK (platform IN ('android', 'cli', 'ios')),
    se_public_jwk TEXT NOT NULL,
    se_key_thumbprint TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'lost')),
    created_at BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL
);

CREATE INDEX devices_user ON devices (user_id, created_at, id);

-- The outcome of a POST made with an Idempotency-Key, per scope (`user:<id>` or `ip:<addr>`).
-- response_status and response_body are NULL while the first request is in flight.
CREATE TABLE idempotency_records (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash BLOB NOT NULL CHECK (length(request_hash) = 32),
    response_status INTEGER CHECK (response_status BETWEEN 100 AND 599),
    response_body BLOB,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key),
    CHECK ((response_status IS NULL) = (response_body IS NULL))
);

CREATE INDEX idempotency_records_age ON idempotency_records (created_at);
