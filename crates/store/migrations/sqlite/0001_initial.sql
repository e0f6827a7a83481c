-- Tapwallet store, SQLite dialect. Keep in step with migrations/postgres/0001_initial.sql:
-- same tables, same columns, same order (tests/store.rs compares them).
-- One column per line: the schema test reads these files.

CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Issuer

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('credit', 'debit')),
    limit_minor BIGINT NOT NULL,
    balance_minor BIGINT NOT NULL,
    holds_minor BIGINT NOT NULL,
    currency_numeric INTEGER NOT NULL,
    is_open BOOLEAN NOT NULL
);

CREATE TABLE issuer_cards (
    pan_hash BLOB PRIMARY KEY CHECK (length(pan_hash) = 32),
    last4 TEXT NOT NULL,
    expiry_yymm TEXT NOT NULL,
    psn INTEGER NOT NULL CHECK (psn BETWEEN 0 AND 255),
    status TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'lost_or_stolen')),
    account_id BIGINT NOT NULL REFERENCES accounts (id)
);

CREATE TABLE issuer_auths (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    pan_hash BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('auth', 'advice')),
    amount_minor BIGINT NOT NULL,
    currency_numeric INTEGER NOT NULL,
    at_unix BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'declined', 'held', 'reversed', 'unmatched')),
    response_code TEXT NOT NULL,
    auth_code TEXT,
    hold_minor BIGINT NOT NULL CHECK (hold_minor >= 0),
    account_id BIGINT,
    response_blob BLOB NOT NULL
);

CREATE INDEX issuer_auths_velocity ON issuer_auths (pan_hash, at_unix);

-- Network (token vault)

CREATE TABLE tokens (
    dpan_hash BLOB PRIMARY KEY CHECK (length(dpan_hash) = 32),
    dpan_last4 TEXT NOT NULL,
    fpan_envelope BLOB NOT NULL,
    token_expiry_yymm TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
    token_requestor_id TEXT NOT NULL,
    channels INTEGER NOT NULL,
    device_id TEXT,
    psn INTEGER NOT NULL CHECK (psn BETWEEN 0 AND 255),
    tur TEXT NOT NULL UNIQUE,
    par TEXT NOT NULL,
    atc_window BLOB NOT NULL,
    standin_count INTEGER NOT NULL,
    created_at_unix BIGINT NOT NULL
);

CREATE INDEX tokens_par ON tokens (par);

CREATE TABLE advice_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    delivered BOOLEAN NOT NULL
);

CREATE INDEX advice_outbox_pending ON advice_outbox (id) WHERE delivered = FALSE;

-- Acquirer

CREATE TABLE merchants (
    merchant_id TEXT PRIMARY KEY CHECK (length(merchant_id) = 15),
    name_location TEXT NOT NULL CHECK (length(name_location) <= 40),
    mcc TEXT NOT NULL CHECK (length(mcc) = 4)
);

CREATE TABLE terminals (
    terminal_id TEXT PRIMARY KEY CHECK (length(terminal_id) = 8),
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id)
);

CREATE TABLE acquirer_txns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,
    rrn TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency_numeric INTEGER NOT NULL,
    response_code TEXT NOT NULL,
    auth_code TEXT,
    at_unix BIGINT NOT NULL
);

CREATE INDEX acquirer_txns_terminal ON acquirer_txns (terminal_id, id);
