-- Limits shared by every instance: per-token GCRA state, per-token-per-tool fixed windows,
-- units reserved per organization and period, and refusals for the usage page.
CREATE TABLE rate_limits (
    key TEXT   PRIMARY KEY,
    -- GCRA's theoretical arrival time, epoch milliseconds.
    tat BIGINT NOT NULL
);

CREATE TABLE rate_windows (
    key        TEXT   PRIMARY KEY,
    count      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX rate_windows_expiry ON rate_windows (expires_at);

CREATE TABLE period_usage (
    org_id       BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    period_start BIGINT NOT NULL,
    units        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, period_start)
);

CREATE TABLE refusals (
    id         INTEGER PRIMARY KEY,
    org_id     BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    token_id   BIGINT REFERENCES tokens(id) ON DELETE SET NULL,
    tool       TEXT   NOT NULL,
    code       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refusals_org_time ON refusals (org_id, created_at);
