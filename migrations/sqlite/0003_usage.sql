-- One row per successful enforced tool call: what was used, by which token, where.
CREATE TABLE usage_events (
    id           INTEGER PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    workspace_id BIGINT REFERENCES workspaces(id) ON DELETE SET NULL,
    token_id     BIGINT REFERENCES tokens(id) ON DELETE SET NULL,
    tool         TEXT   NOT NULL,
    units        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX usage_events_org_time ON usage_events (org_id, created_at);
