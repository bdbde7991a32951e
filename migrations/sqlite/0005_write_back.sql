-- Write-back: where a workspace's conversions go, and the durable outbox that delivers them.
ALTER TABLE workspaces ADD COLUMN write_back_url TEXT;
ALTER TABLE workspaces ADD COLUMN write_back_secret TEXT;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    event_id        TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- While an instance is delivering a row it holds it until this time.
    leased_until    BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (workspace_id, event_id)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
