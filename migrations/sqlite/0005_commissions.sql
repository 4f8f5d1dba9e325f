-- Commission terms and the commission ledger (keep in step with the other backend's 0005).

-- Versions of an organization's default terms (partner_id NULL) and of partners' overrides.
-- Append-only: a change is a new version, in force for payments that occurred from
-- effective_from on. terms is the JSON of the terms, or NULL for "no override from here on"
-- (the default applies again).
CREATE TABLE commission_terms (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    partner_id      TEXT REFERENCES partners(id) ON DELETE CASCADE,
    effective_from  BIGINT NOT NULL,
    terms           TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX commission_terms_org ON commission_terms(org_id, partner_id, effective_from);

-- Append-only entries, one per fact (key): commission:{txn}, clawback:{refund}, reversal:{txn}.
-- Amounts in minor units of the payment's currency; positive for a commission, negative
-- otherwise. payout_id is set when the entry is in a payout run (draft or paid).
CREATE TABLE commission_entries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    partner_id      TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    transaction_id  TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('commission', 'clawback', 'reversal')),
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    payable_at      BIGINT NOT NULL,
    -- The run it is in; it is paid once that run is marked paid (never changed after).
    payout_id       TEXT,
    created_at      BIGINT NOT NULL,
    UNIQUE (org_id, key)
);
CREATE INDEX commission_entries_partner ON commission_entries(org_id, partner_id, occurred_at);
CREATE INDEX commission_entries_txn ON commission_entries(org_id, transaction_id);
CREATE INDEX commission_entries_customer ON commission_entries(org_id, customer_id);
CREATE INDEX commission_entries_payout ON commission_entries(org_id, payout_id);

-- Payout runs: every approved entry payable up to up_to, per partner and currency, in
-- statements whose total is positive. draft → paid (with a reference) or cancelled.
CREATE TABLE payouts (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    up_to         BIGINT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('draft', 'paid', 'cancelled')),
    reference     TEXT,
    created_at    BIGINT NOT NULL,
    closed_at     BIGINT
);
CREATE INDEX payouts_org ON payouts(org_id, created_at);
