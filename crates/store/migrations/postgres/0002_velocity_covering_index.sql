-- The issuer's velocity query counts and sums the card's held approvals in a time window.
-- A partial covering index answers it from the index alone, whatever the card's history.
DROP INDEX issuer_auths_velocity;
CREATE INDEX issuer_auths_velocity ON issuer_auths (pan_hash, at_unix) INCLUDE (hold_minor)
    WHERE status = 'held';
