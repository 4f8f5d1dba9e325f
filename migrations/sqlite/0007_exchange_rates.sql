-- Chargebee's exchange rate and base currency of each payment, and each organization's
-- reporting currency (keep in step with the other backend's 0007). The rate is kept as the
-- plain decimal text it came as: units of the payment's currency per unit of the base
-- currency (NULL when Chargebee sent none).
ALTER TABLE transactions ADD COLUMN exchange_rate TEXT;
ALTER TABLE transactions ADD COLUMN base_currency_code TEXT;
ALTER TABLE organizations ADD COLUMN reporting_currency TEXT NOT NULL DEFAULT 'USD';
-- Exports page through transactions in the order they were stored.
CREATE INDEX transactions_stored ON transactions(org_id, created_at, id);
