-- Partner users (keep in step with the other backend's 0014): people who see one partner's
-- part of an organization in the partner portal. One account may be a partner user of several
-- partners and organizations and a team member elsewhere.
CREATE TABLE partner_users (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    partner_id  TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, partner_id, user_id)
);
CREATE INDEX partner_users_user ON partner_users(user_id);
CREATE INDEX partner_users_partner ON partner_users(partner_id);

-- Invites to become a partner user: like team invites, with the partner instead of a role.
CREATE TABLE partner_invites (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    partner_id   TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT
);
CREATE INDEX partner_invites_partner ON partner_invites(org_id, partner_id, created_at);
