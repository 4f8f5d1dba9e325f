-- Hardening (keep in step with ../sqlite/0004_hardening.sql):
-- API keys get a scope and remember who created them; sign-in attempts are reserved with an
-- id (so one that could not be checked is released); parked events left over by a
-- transaction's release share wait in release_requests for the background worker.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('read', 'full'));
ALTER TABLE api_keys ADD COLUMN created_by TEXT;

ALTER TABLE login_failures ADD COLUMN attempt TEXT;
CREATE INDEX login_failures_attempt ON login_failures(attempt);

CREATE TABLE release_requests (
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    customer_key  TEXT NOT NULL,
    -- '' when the release is by customer key only.
    chargebee_id  TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, customer_key, chargebee_id)
);
CREATE INDEX release_requests_order ON release_requests(created_at);

-- Invites are revoked by who created them when that member leaves or loses the admin role.
CREATE INDEX invites_created_by ON invites(org_id, created_by) WHERE accepted_at IS NULL;
