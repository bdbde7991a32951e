-- Accounts, organizations, workspaces, members, invites, sessions, sign-in throttling.
-- Times are milliseconds since the Unix epoch (BIGINT), so one schema reads the same on SQLite and PostgreSQL.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE organizations (
    id                     INTEGER PRIMARY KEY,
    name                   TEXT    NOT NULL,
    plan                   TEXT    NOT NULL DEFAULT 'trial',
    period_anchor          BIGINT  NOT NULL,
    credit_balance         BIGINT  NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    default_rotation_grace TEXT    NOT NULL DEFAULT '15m',
    created_at             BIGINT  NOT NULL
);

CREATE TABLE memberships (
    org_id     BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE workspaces (
    id                 INTEGER PRIMARY KEY,
    org_id             BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name               TEXT   NOT NULL,
    write_back_enabled BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email       TEXT   NOT NULL,
    role        TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    code_hash   TEXT   NOT NULL UNIQUE,
    invited_by  BIGINT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by BIGINT REFERENCES users(id),
    revoked_at  BIGINT
);
CREATE INDEX invites_org ON invites (org_id);

CREATE TABLE credit_ledger (
    id            INTEGER PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind          TEXT   NOT NULL CHECK (kind IN ('grant', 'charge', 'refund')),
    amount        BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    note          TEXT   NOT NULL,
    actor_user_id BIGINT REFERENCES users(id),
    created_at    BIGINT NOT NULL
);
CREATE INDEX credit_ledger_org ON credit_ledger (org_id, id);

CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    actor_user_id BIGINT REFERENCES users(id),
    action        TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    ip            TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);

CREATE TABLE sign_in_failures (
    id         INTEGER PRIMARY KEY,
    subject    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, created_at);

CREATE TABLE sessions (
    id         TEXT   PRIMARY KEY,
    data       TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
