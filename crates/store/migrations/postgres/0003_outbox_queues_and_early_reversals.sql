-- The outbox serves more than one host: the network's stand-in advices to issuers and the
-- acquirer's reversals of authorizations the network never answered. Each row names its queue.
ALTER TABLE advice_outbox ADD COLUMN queue TEXT NOT NULL DEFAULT 'network-advices';
DROP INDEX advice_outbox_pending;
CREATE INDEX advice_outbox_pending ON advice_outbox (queue, id) WHERE delivered = FALSE;

-- A reversal that overtakes its authorization is recorded under the authorization's key
-- (kind 'reversal', status 'reversed'), so the late original is refused.
ALTER TABLE issuer_auths DROP CONSTRAINT issuer_auths_kind_check;
ALTER TABLE issuer_auths ADD CONSTRAINT issuer_auths_kind_check
    CHECK (kind IN ('auth', 'advice', 'reversal'));
