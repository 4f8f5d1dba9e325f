-- Parked (unmatched) events are released by customer key or by Chargebee customer id.
CREATE INDEX webhook_events_parked_chargebee ON webhook_events(org_id, chargebee_customer) WHERE outcome = 'unmatched';
