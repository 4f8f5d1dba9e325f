-- A customer's events newest first, read through one index (keep in step with the other
-- backend's 0015): the customer page and GET /api/v1/webhook-events filtered by customer no
-- longer walk the organization's events in time order looking for theirs.
CREATE INDEX webhook_events_customer_time ON webhook_events(org_id, customer_id, received_at, id);
DROP INDEX webhook_events_customer;
