-- Customer search (`lower(col) LIKE '%term%'`) stays fast on large tenants with trigram
-- indexes. pg_trgm ships with PostgreSQL; creating it needs a privileged role, so without it
-- the migration still succeeds and search falls back to a scan (see docs/deploy.md).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pg_trgm not available: customer search will scan';
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX IF NOT EXISTS customers_key_trgm ON customers USING gin (lower(key) gin_trgm_ops)';
        EXECUTE 'CREATE INDEX IF NOT EXISTS customers_email_trgm ON customers USING gin (lower(email) gin_trgm_ops)';
        EXECUTE 'CREATE INDEX IF NOT EXISTS customers_name_trgm ON customers USING gin (lower(name) gin_trgm_ops)';
    END IF;
END
$$;
