-- Access tokens. Only the SHA-256 of a token and a display hint are stored.
CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    binding       TEXT   NOT NULL CHECK (binding IN ('user', 'organization', 'workspace')),
    user_id       BIGINT REFERENCES users(id) ON DELETE CASCADE,
    workspace_id  BIGINT REFERENCES workspaces(id) ON DELETE CASCADE,
    label         TEXT   NOT NULL,
    scopes        TEXT   NOT NULL,
    environment   TEXT   NOT NULL CHECK (environment IN ('live', 'test')),
    token_hash    TEXT   NOT NULL UNIQUE,
    hint          TEXT   NOT NULL,
    created_by    BIGINT NOT NULL REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    first_used_at BIGINT,
    last_used_at  BIGINT,
    last_client   TEXT,
    revoked_at    BIGINT,
    successor_id  BIGINT REFERENCES tokens(id),
    grace_until   BIGINT
);
CREATE INDEX tokens_org ON tokens (org_id);
CREATE INDEX tokens_user ON tokens (user_id);

ALTER TABLE audit_events ADD COLUMN token_id BIGINT REFERENCES tokens(id) ON DELETE SET NULL;
CREATE INDEX audit_events_token ON audit_events (token_id);
