-- Which request consumed each of a token's last few ATCs (the network's own stored form,
-- opaque to the store; empty when none is recorded): with it the network tells a
-- retransmitted authorization from a replayed cryptogram after a restart, when its memory of
-- recent answers is gone. Written in the same row update that consumes the ATC. Keep in step
-- with migrations/sqlite/0005_token_atc_uses.sql. (A constant default: no table rewrite.)
ALTER TABLE tokens ADD COLUMN atc_uses BYTEA NOT NULL DEFAULT ''::BYTEA;
