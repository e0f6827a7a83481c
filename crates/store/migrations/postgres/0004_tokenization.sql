-- Tokenization (the token service at the network, the issuer's ID&V), PostgreSQL dialect. Keep in step with
-- migrations/sqlite/0004_tokenization.sql: same tables, same columns, same order.
-- One column per line: the schema test reads these files.

-- Issuer: identification and verification (ID&V) of cardholders who add a card to a wallet.

-- What the issuer checks and offers per card: a keyed hash of the card's CVV (never the CVV),
-- the product name shown in the wallet, whether the card is low risk (tokenized without a
-- step-up), and the cardholder's contact points for one-time passwords.
CREATE TABLE issuer_idv_profiles (
    pan_hash BYTEA PRIMARY KEY CHECK (octet_length(pan_hash) = 32) REFERENCES issuer_cards (pan_hash),
    cvv_hash BYTEA NOT NULL CHECK (octet_length(cvv_hash) = 32),
    product_name TEXT NOT NULL,
    low_risk BOOLEAN NOT NULL,
    phone TEXT,
    email TEXT,
    issuer_app BOOLEAN NOT NULL
);

-- Every tokenization request the issuer assessed, for the per-card attempt limit.
CREATE TABLE issuer_tokenization_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pan_hash BYTEA NOT NULL,
    tur TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('approved', 'step_up', 'declined')),
    at_unix BIGINT NOT NULL
);

CREATE INDEX issuer_tokenization_attempts_card ON issuer_tokenization_attempts (pan_hash, at_unix);

-- A step-up in progress for one token: the methods offered, and the one-time password sent
-- last (keyed hash, expiry, attempts left; an empty hash means none was sent yet).
CREATE TABLE issuer_idv_sessions (
    tur TEXT PRIMARY KEY,
    pan_hash BYTEA NOT NULL,
    methods TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'locked')),
    otp_method TEXT,
    otp_hash BYTEA NOT NULL,
    otp_expires_at_unix BIGINT NOT NULL,
    otp_attempts_left INTEGER NOT NULL CHECK (otp_attempts_left >= 0),
    created_at_unix BIGINT NOT NULL
);

-- The simulated SMS and e-mail gateway: one-time passwords waiting to be "sent", codes in
-- clear on purpose (a demo gateway queue the CLI prints from). A real deployment replaces the
-- OTP provider and has no rows here.
CREATE TABLE otp_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    code TEXT NOT NULL,
    created_at_unix BIGINT NOT NULL
);

-- Token service: its view of the tokens it issued into the network's vault (`tokens`). The
-- lifecycle state is the service's; the vault's `status` follows it ('inactive' tokens are
-- 'suspended' in the vault, so the network declines them). The DPAN is kept sealed (AES-GCM,
-- bound to the vault row's hash) for the provisioning payload.
CREATE TABLE tsp_tokens (
    tur TEXT PRIMARY KEY REFERENCES tokens (tur),
    state TEXT NOT NULL CHECK (state IN ('inactive', 'active', 'suspended', 'deleted')),
    dpan_envelope BYTEA NOT NULL,
    se_public_key TEXT NOT NULL,
    fpan_last4 TEXT NOT NULL,
    product_name TEXT NOT NULL,
    updated_at_unix BIGINT NOT NULL
);

CREATE INDEX tokens_requestor_device ON tokens (token_requestor_id, device_id);

-- Token-updated notifications to token requestors (signed JWS), kept until delivered.
CREATE TABLE tsp_notifications (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    token_requestor_id TEXT NOT NULL,
    tur TEXT NOT NULL,
    jws TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at_unix BIGINT NOT NULL,
    delivered BOOLEAN NOT NULL,
    created_at_unix BIGINT NOT NULL
);

CREATE INDEX tsp_notifications_pending ON tsp_notifications (next_attempt_at_unix, id)
    WHERE delivered = FALSE;

CREATE INDEX tsp_notifications_tur ON tsp_notifications (tur, id);
