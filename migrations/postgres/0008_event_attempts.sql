-- Every processing attempt of a stored event is kept (keep in step with the other backend's
-- 0008). The first attempt is the event row's first outcome (first_outcome/first_detail,
-- NULL while the event has had only that one: it is then outcome/detail); each later attempt
-- (a replay, a retry, a release from parking) is a row of event_attempts.
ALTER TABLE webhook_events ADD COLUMN first_outcome TEXT;
ALTER TABLE webhook_events ADD COLUMN first_detail TEXT;
CREATE TABLE event_attempts (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    event_row   TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX event_attempts_event ON event_attempts(org_id, event_row, at);
-- Deleting an event (with its organization) finds its attempts.
CREATE INDEX event_attempts_row ON event_attempts(event_row);
