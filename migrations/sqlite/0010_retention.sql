-- How long webhook payloads are kept (keep in step with the other backend's 0010). The
-- ledger rows, outcomes and attempts stay; a pruned event keeps when it was pruned.
ALTER TABLE organizations ADD COLUMN payload_retention_days BIGINT NOT NULL DEFAULT 400;
ALTER TABLE webhook_events ADD COLUMN payload_pruned_at BIGINT;
CREATE INDEX webhook_events_prunable ON webhook_events(org_id, received_at) WHERE payload <> '';
