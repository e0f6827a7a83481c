-- Tapwallet wallet backend, SQLite dialect: cards (the wallet's view of its tokens), their
-- transaction history, and the token service's webhook events. Keep in step with
-- migrations/wallet-postgres/0002_cards.sql: same tables, same columns, same order. One column
-- or constraint per line: the schema test reads these files.
--
-- As everywhere in this database: references and display data only. The card number (FPAN),
-- its CVV and the device's token number (DPAN) never come here; a card is known by the token
-- service's token unique reference (TUR) and the last four digits of its FPAN.

-- A card added to a device wallet: one tokenization attempt at the token service. A declined
-- attempt has no TUR (the token service made no token) and keeps the issuer's reason.
-- suspended_by says who suspended it (the cardholder, the loss of its device, or the token
-- service / issuer), so recovering a device resumes only what its loss suspended.
-- tsp_updated_at is the token service's time of the status held here: older webhook events
-- are not applied over newer ones.

-- (id, user_id) is unique since id is: this index lets cards name their device together with
-- its owner, so a card can only sit on a device of its own user.
CREATE UNIQUE INDEX devices_owner ON devices (id, user_id);

CREATE TABLE provisioned_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    tur TEXT UNIQUE,
    network TEXT NOT NULL CHECK (network IN ('mastercard', 'other', 'visa')),
    fpan_last4 TEXT NOT NULL CHECK (length(fpan_last4) = 4),
    status TEXT NOT NULL CHECK (status IN ('active', 'declined', 'deleted', 'pending', 'suspended')),
    suspended_by TEXT CHECK (suspended_by IN ('device_lost', 'token_service', 'user')),
    decline_reason TEXT,
    product_name TEXT,
    card_art TEXT,
    verification_methods TEXT,
    otp_method TEXT CHECK (otp_method IN ('OTP_EMAIL', 'OTP_SMS')),
    is_default BOOLEAN NOT NULL,
    tsp_updated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((status = 'declined') = (tur IS NULL)),
    CHECK ((status = 'declined') = (decline_reason IS NOT NULL)),
    CHECK ((status = 'suspended') = (suspended_by IS NOT NULL)),
    CHECK (NOT (is_default AND status IN ('declined', 'deleted'))),
    FOREIGN KEY (device_id, user_id) REFERENCES devices (id, user_id)
);

CREATE UNIQUE INDEX provisioned_tokens_owner ON provisioned_tokens (id, user_id);
CREATE INDEX provisioned_tokens_user ON provisioned_tokens (user_id, created_at, id);
CREATE INDEX provisioned_tokens_device ON provisioned_tokens (device_id);
-- At most one default card per device.
CREATE UNIQUE INDEX provisioned_tokens_default ON provisioned_tokens (device_id) WHERE is_default;

-- A payment made with a card, as the token service reported it (event_id is its id there),
-- with the merchant enriched from DE 43 and the MCC.
CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    token_id TEXT NOT NULL REFERENCES provisioned_tokens (id),
    event_id TEXT NOT NULL UNIQUE,
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    approved BOOLEAN NOT NULL,
    response_code TEXT NOT NULL CHECK (length(response_code) = 2),
    merchant_name TEXT NOT NULL,
    merchant_city TEXT,
    merchant_country TEXT CHECK (length(merchant_country) = 2),
    category TEXT NOT NULL,
    mcc TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    FOREIGN KEY (token_id, user_id) REFERENCES provisioned_tokens (id, user_id)
);

CREATE INDEX transactions_user ON transactions (user_id, occurred_at, id);
CREATE INDEX transactions_token ON transactions (token_id, occurred_at, id);

-- Every webhook event applied, by the token service's event id: a redelivered event is
-- acknowledged and ignored.
CREATE TABLE webhook_events (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('token_updated', 'transaction')),
    received_at BIGINT NOT NULL
);
