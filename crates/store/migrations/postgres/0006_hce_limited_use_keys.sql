-- Host card emulation (HCE), PostgreSQL dialect. Keep in step with
-- migrations/sqlite/0006_hce_limited_use_keys.sql: same tables, same columns, same order.
-- One column or constraint per line: the schema test reads these files.

-- How the device holds a token's credential: 'se', its secure element holds the token's ICC
-- master key (MK-AC) and the network verifies cryptograms with it, as before this migration
-- (every existing token); 'hce', the device never receives MK-AC, only batches of limited-use
-- keys, and the network verifies each cryptogram with the key its ATC belongs to. Read with
-- the row the network already loads, so an SE token costs no extra query.
ALTER TABLE tokens ADD COLUMN credential TEXT NOT NULL DEFAULT 'se' CHECK (credential IN ('se', 'hce'));

-- The limited-use keys (LUKs) issued to HCE tokens. No key material: a LUK is derived from the
-- token's MK-AC and its index whenever it is needed. Each key covers the ATCs atc_from to
-- atc_to until expires_at; ranges of one token never overlap and follow each other across
-- batches (a new batch starts after the highest atc_to ever issued, with the next index), and
-- issuing a batch revokes every earlier key of the token. Rows are never deleted, so the
-- highest index and ATC ever issued stay known.
CREATE TABLE token_limited_use_keys (
    tur TEXT NOT NULL REFERENCES tokens (tur),
    key_index INTEGER NOT NULL CHECK (key_index >= 1),
    atc_from INTEGER NOT NULL CHECK (atc_from BETWEEN 1 AND 65535),
    atc_to INTEGER NOT NULL CHECK (atc_to BETWEEN 1 AND 65535),
    issued_at_unix BIGINT NOT NULL,
    expires_at_unix BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL,
    PRIMARY KEY (tur, key_index),
    UNIQUE (tur, atc_from),
    CHECK (atc_from <= atc_to)
);
