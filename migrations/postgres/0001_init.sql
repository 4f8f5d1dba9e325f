-- Partner Ledger schema (PostgreSQL). Times are milliseconds since the Unix epoch (BIGINT).
-- Keep in step with ../sqlite/0001_init.sql: same tables, columns and meaning.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    session_epoch  BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    token_hash   TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT
);
CREATE INDEX invites_org ON invites(org_id, created_at);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_org ON api_keys(org_id, created_at);

CREATE TABLE login_failures (
    scope  TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX login_failures_scope ON login_failures(scope, at);

CREATE TABLE chargebee_integrations (
    org_id                  TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    token_nonce             TEXT NOT NULL,
    token_hash              TEXT NOT NULL UNIQUE,
    previous_token_hash     TEXT UNIQUE,
    previous_valid_until    BIGINT,
    basic_auth_username     TEXT,
    basic_auth_password_mac TEXT,
    rotated_at              BIGINT,
    created_at              BIGINT NOT NULL
);

CREATE TABLE partners (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    name          TEXT,
    email         TEXT,
    auto_created  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    UNIQUE (org_id, key)
);

CREATE TABLE customers (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key                TEXT NOT NULL,
    email              TEXT,
    name               TEXT,
    partner_id         TEXT REFERENCES partners(id) ON DELETE SET NULL,
    chargebee_id       TEXT,
    chargebee_version  BIGINT,
    created_at         BIGINT NOT NULL,
    UNIQUE (org_id, key)
);
CREATE INDEX customers_chargebee ON customers(org_id, chargebee_id);
CREATE INDEX customers_partner ON customers(org_id, partner_id);

CREATE TABLE transactions (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chargebee_id     TEXT NOT NULL,
    customer_id      TEXT REFERENCES customers(id) ON DELETE CASCADE,
    recorded         BOOLEAN NOT NULL,
    amount           BIGINT NOT NULL,
    amount_refunded  BIGINT NOT NULL DEFAULT 0,
    currency         TEXT NOT NULL,
    occurred_at      BIGINT NOT NULL,
    subscription_id  TEXT,
    invoice_id       TEXT,
    removed_reason   TEXT,
    created_at       BIGINT NOT NULL,
    UNIQUE (org_id, chargebee_id)
);
CREATE INDEX transactions_customer ON transactions(org_id, customer_id, occurred_at);
CREATE INDEX transactions_time ON transactions(org_id, occurred_at);

CREATE TABLE refunds (
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chargebee_id     TEXT NOT NULL,
    original_txn_id  TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    occurred_at      BIGINT NOT NULL,
    PRIMARY KEY (org_id, chargebee_id)
);
CREATE INDEX refunds_original ON refunds(org_id, original_txn_id);

CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (org_id, key)
);

CREATE TABLE subscriptions (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chargebee_id        TEXT NOT NULL,
    customer_id         TEXT REFERENCES customers(id) ON DELETE CASCADE,
    plan_key            TEXT,
    plan_item_id        TEXT,
    status              TEXT NOT NULL,
    mrr                 BIGINT,
    currency            TEXT,
    current_term_start  BIGINT,
    current_term_end    BIGINT,
    version             BIGINT NOT NULL,
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at          BIGINT NOT NULL,
    UNIQUE (org_id, chargebee_id)
);
CREATE INDEX subscriptions_customer ON subscriptions(org_id, customer_id);
CREATE INDEX subscriptions_plan ON subscriptions(org_id, plan_key);

CREATE TABLE webhook_events (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    event_id            TEXT,
    event_type          TEXT,
    occurred_at         BIGINT,
    received_at         BIGINT NOT NULL,
    outcome             TEXT NOT NULL,
    detail              TEXT,
    customer_key        TEXT,
    chargebee_customer  TEXT,
    customer_id         TEXT,
    payload             TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT,
    UNIQUE (org_id, event_id)
);
CREATE INDEX webhook_events_list ON webhook_events(org_id, received_at, id);
CREATE INDEX webhook_events_outcome ON webhook_events(org_id, outcome, received_at);
CREATE INDEX webhook_events_customer ON webhook_events(org_id, customer_id);
CREATE INDEX webhook_events_parked_key ON webhook_events(org_id, customer_key) WHERE outcome = 'unmatched';
CREATE INDEX webhook_events_retry ON webhook_events(next_attempt_at) WHERE outcome = 'failed';
