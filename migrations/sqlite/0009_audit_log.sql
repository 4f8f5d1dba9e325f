-- The audit log (keep in step with the other backend's 0009): every change an owner, admin or
-- API key makes, with who, when, from where, what and the before/after of the changed fields
-- (never a secret). Append-only: nothing updates or deletes a row (an organization's rows go
-- with it).
CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    actor_kind   TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'system')),
    actor_id     TEXT,
    actor_label  TEXT NOT NULL,
    ip           TEXT,
    action       TEXT NOT NULL,
    target       TEXT,
    changes      TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log(org_id, at, id);
