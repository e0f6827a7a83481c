-- Tapwallet wallet backend, SQLite dialect: how a card's device holds its credential. Keep in
-- step with migrations/wallet-postgres/0003_card_credential.sql. One column per line: the
-- schema test reads these files.
--
-- 'se': the device's secure element holds the token's card key (every card before this
-- migration); 'hce': host card emulation, the device holds batches of limited-use keys it
-- replenishes through the backend. The keys themselves never come here.
ALTER TABLE provisioned_tokens ADD COLUMN credential TEXT NOT NULL DEFAULT 'se' CHECK (credential IN ('hce', 'se'));
