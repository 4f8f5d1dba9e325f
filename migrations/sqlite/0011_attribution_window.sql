-- How long an unmatched event waits for its customer before it becomes not_attributed
-- (keep in step with the other backend's 0011).
ALTER TABLE organizations ADD COLUMN attribution_window_days BIGINT NOT NULL DEFAULT 30;
