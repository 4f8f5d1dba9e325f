-- Payout runs record their statements instead of tagging every entry (keep in step with the
-- other backend's 0006). A run covers, per partner and currency, the entries payable by its
-- cutoff and numbered up to its through_seq that no earlier run (not cancelled) covers;
-- entries themselves are never written again after they are appended.

-- number: the run's place among the organization's runs (1, 2, …).
ALTER TABLE payouts ADD COLUMN number BIGINT NOT NULL DEFAULT 0;
UPDATE payouts SET number = n.rn
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY org_id ORDER BY created_at, id) AS rn FROM payouts) AS n
WHERE n.id = payouts.id;
CREATE UNIQUE INDEX payouts_number ON payouts(org_id, number);

-- Earlier versions allowed several drafts. Only the newest run of an organization may stay a
-- draft; older drafts are cancelled and their entries freed, as cancelling did then.
UPDATE payouts SET status = 'cancelled', closed_at = created_at
WHERE status = 'draft' AND EXISTS (SELECT 1 FROM payouts p2 WHERE p2.org_id = payouts.org_id
                                   AND p2.number > payouts.number);
UPDATE commission_entries SET payout_id = NULL
WHERE payout_id IN (SELECT id FROM payouts WHERE status = 'cancelled');
-- At most one draft run per organization.
CREATE UNIQUE INDEX payouts_one_draft ON payouts(org_id) WHERE status = 'draft';

-- Entries are numbered per organization: those of each run in the order of the runs, then
-- those in no run, each group in the order it was appended. Each run then covers exactly the
-- entries it took.
ALTER TABLE commission_entries ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE commission_entries SET seq = n.rn
FROM (SELECT e.id, ROW_NUMBER() OVER (PARTITION BY e.org_id
        ORDER BY CASE WHEN y.number IS NULL THEN 1 ELSE 0 END, y.number, e.created_at, e.id) AS rn
      FROM commission_entries e LEFT JOIN payouts y ON y.id = e.payout_id) AS n
WHERE n.id = commission_entries.id;
CREATE INDEX commission_entries_seq ON commission_entries(org_id, seq);
CREATE INDEX commission_entries_time ON commission_entries(org_id, occurred_at, id);

-- cutoff: min(up_to, the time it was created); through_seq: the last entry number it counts.
ALTER TABLE payouts ADD COLUMN cutoff BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payouts ADD COLUMN through_seq BIGINT NOT NULL DEFAULT 0;
UPDATE payouts SET
    cutoff = CASE WHEN up_to < created_at THEN up_to ELSE created_at END,
    through_seq = COALESCE((SELECT MAX(e.seq) FROM commission_entries e WHERE e.payout_id = payouts.id), 0);

-- What a run pays: one row per partner and currency whose covered entries total more than zero.
CREATE TABLE payout_statements (
    payout_id   TEXT NOT NULL REFERENCES payouts(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    partner_id  TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    currency    TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount > 0),
    entries     BIGINT NOT NULL,
    PRIMARY KEY (payout_id, partner_id, currency)
);
CREATE INDEX payout_statements_partner ON payout_statements(org_id, partner_id, currency);
INSERT INTO payout_statements (payout_id, org_id, partner_id, currency, amount, entries)
SELECT e.payout_id, e.org_id, e.partner_id, e.currency, SUM(e.amount), COUNT(*)
FROM commission_entries e JOIN payouts y ON y.id = e.payout_id
GROUP BY e.payout_id, e.org_id, e.partner_id, e.currency
HAVING SUM(e.amount) > 0;

DROP INDEX commission_entries_payout;
ALTER TABLE commission_entries DROP COLUMN payout_id;
