-- Integration health (keep in step with the other backend's 0013): why a delivery was refused
-- (basic_auth, too_large, timed_out, unreadable, not_json, api_version, malformed, invalid),
-- and whether it carried Chargebee's card object (1) before that was removed.
ALTER TABLE webhook_events ADD COLUMN refusal TEXT;
ALTER TABLE webhook_events ADD COLUMN card_data BIGINT NOT NULL DEFAULT 0;
-- Deliveries refused before this migration, by the reason they were recorded with.
UPDATE webhook_events SET refusal = CASE
    WHEN detail LIKE 'this webhook requires HTTP Basic Auth%' THEN 'basic_auth'
    WHEN detail LIKE 'body is larger than the limit%' THEN 'too_large'
    WHEN detail LIKE 'the request body did not arrive in time%' THEN 'timed_out'
    WHEN detail LIKE 'could not read the request body%' THEN 'unreadable'
    WHEN detail LIKE 'body is not valid JSON%' THEN 'not_json'
    WHEN detail LIKE 'only v2 webhooks are supported%' THEN 'api_version'
    WHEN detail LIKE 'body must be a JSON object%' OR detail LIKE 'event is missing the required field%'
      OR detail LIKE 'event field %' THEN 'malformed'
    WHEN detail LIKE 'not applied:%' THEN 'invalid'
  END
WHERE outcome = 'rejected';
CREATE INDEX webhook_events_refused ON webhook_events(org_id, refusal, received_at)
  WHERE refusal IS NOT NULL;
CREATE INDEX webhook_events_card ON webhook_events(org_id, received_at) WHERE card_data = 1;
