-- Hardening (keep in step with ../postgres/0004_hardening.sql):
-- API keys get a scope and remember who created them; sign-in attempts are reserved with an
-- id (so one that could not be checked is released); parked events left over by a
-- transaction's release share wait in release_requests for the background worker.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('read', 'full'));
ALTER TABLE api_keys ADD COLUMN created_by TEXT;

ALTER TABLE login_failures ADD COLUMN attempt TEXT;

-- The event that recorded a refund (ours, `evt_…`): a refund found later to be in another
-- currency than its payment has its event marked rejected.
ALTER TABLE refunds ADD COLUMN event_row TEXT;
CREATE INDEX login_failures_attempt ON login_failures(attempt);

CREATE TABLE release_requests (
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    customer_key  TEXT NOT NULL,
    -- '' when the release is by customer key only.
    chargebee_id  TEXT NOT NULL DEFAULT '',
    -- The background releases in row-id order; the next share starts after this id.
    after_id      TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, customer_key, chargebee_id)
);
CREATE INDEX release_requests_order ON release_requests(created_at);

-- Invites are revoked by who created them when that member leaves or loses the admin role.
CREATE INDEX invites_created_by ON invites(org_id, created_by) WHERE accepted_at IS NULL;

-- Customer search: one FTS5 column per field, so a phrase matches inside one field (never
-- across key, email and name), and the trigram tokenizer folds case for every script
-- ("émile" finds "Émile"); SQLite's own lower() and LIKE fold ASCII only.
DROP TRIGGER customers_search_insert;
DROP TRIGGER customers_search_delete;
DROP TRIGGER customers_search_update;
DROP TABLE customers_search;

CREATE VIRTUAL TABLE customers_search USING fts5(
    key, email, name, content = '', contentless_delete = 1, tokenize = 'trigram'
);

INSERT INTO customers_search (rowid, key, email, name)
SELECT rowid, key, coalesce(email, ''), coalesce(name, '') FROM customers;

CREATE TRIGGER customers_search_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customers_search (rowid, key, email, name)
    VALUES (new.rowid, new.key, coalesce(new.email, ''), coalesce(new.name, ''));
END;

CREATE TRIGGER customers_search_delete AFTER DELETE ON customers BEGIN
    DELETE FROM customers_search WHERE rowid = old.rowid;
END;

CREATE TRIGGER customers_search_update AFTER UPDATE OF key, email, name ON customers
WHEN old.key IS NOT new.key OR old.email IS NOT new.email OR old.name IS NOT new.name
BEGIN
    DELETE FROM customers_search WHERE rowid = old.rowid;
    INSERT INTO customers_search (rowid, key, email, name)
    VALUES (new.rowid, new.key, coalesce(new.email, ''), coalesce(new.name, ''));
END;

-- Rows the old code accepted but the ledger now refuses (negative, fractional-truncated or
-- out-of-range amounts; refunded more than paid, or less than nothing) are taken out of every
-- total, with the reason, instead of overflowing the sums.
UPDATE transactions SET removed_reason = 'invalid amount'
WHERE recorded AND removed_reason IS NULL
  AND (amount < 0 OR amount > 1000000000000 OR amount_refunded < 0 OR amount_refunded > amount);
