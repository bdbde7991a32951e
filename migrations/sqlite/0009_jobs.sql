-- Background jobs (reports, audience exports): durable, leased while running, billed once.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    token_id     BIGINT REFERENCES tokens(id) ON DELETE SET NULL,
    kind         TEXT   NOT NULL CHECK (kind IN ('report', 'audience_export')),
    args         TEXT   NOT NULL,
    status       TEXT   NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    credits      BIGINT NOT NULL,
    billed_at_dispatch BIGINT NOT NULL,
    result       TEXT,
    error        TEXT,
    leased_until BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX jobs_due ON jobs (status, leased_until);
