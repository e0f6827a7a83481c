-- The outbox serves more than one host: the network's stand-in advices to issuers and the
-- acquirer's reversals of authorizations the network never answered. Each row names its queue.
ALTER TABLE advice_outbox ADD COLUMN queue TEXT NOT NULL DEFAULT 'network-advices';
DROP INDEX advice_outbox_pending;
CREATE INDEX advice_outbox_pending ON advice_outbox (queue, id) WHERE delivered = FALSE;

-- A reversal that overtakes its authorization is recorded under the authorization's key
-- (kind 'reversal', status 'reversed'), so the late original is refused. SQLite cannot alter
-- a CHECK constraint: the table is rebuilt with the same columns in the same order.
CREATE TABLE issuer_auths_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    pan_hash BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('auth', 'advice', 'reversal')),
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
INSERT INTO issuer_auths_new SELECT * FROM issuer_auths;
DROP TABLE issuer_auths;
ALTER TABLE issuer_auths_new RENAME TO issuer_auths;
CREATE INDEX issuer_auths_velocity ON issuer_auths (pan_hash, at_unix, status, hold_minor)
    WHERE status = 'held';
