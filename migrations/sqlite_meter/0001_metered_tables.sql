-- The metered tables, in a SQLite file of their own beside the main one (`<main file>-meter`,
-- attached to every connection as `meter`). The admission writer commits here about once per
-- call batch; kept in the main file, each of those commits made every other connection drop its
-- cached pages of the tables every tool call reads.
--
-- SQLite has no foreign keys across files: rows refer to organizations, workspaces and tokens by
-- id only. Nothing deletes those today; whatever does one day deletes their rows here as well.
-- The same tables on PostgreSQL: migrations/postgres/0003, 0006 and 0007.

CREATE TABLE usage_events (
    id           INTEGER PRIMARY KEY,
    org_id       BIGINT NOT NULL,
    workspace_id BIGINT,
    token_id     BIGINT,
    tool         TEXT   NOT NULL,
    units        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX usage_events_org_time ON usage_events (org_id, created_at);

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
    org_id       BIGINT NOT NULL,
    period_start BIGINT NOT NULL,
    units        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, period_start)
);

CREATE TABLE refusals (
    id         INTEGER PRIMARY KEY,
    org_id     BIGINT NOT NULL,
    token_id   BIGINT,
    tool       TEXT   NOT NULL,
    code       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refusals_org_time ON refusals (org_id, created_at);

CREATE TABLE usage_daily (
    org_id   BIGINT NOT NULL,
    day      TEXT   NOT NULL,
    tool     TEXT   NOT NULL,
    token_id BIGINT NOT NULL,
    calls    BIGINT NOT NULL,
    units    BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, tool, token_id)
);
