-- Daily rollup of metered calls, kept by the pipeline, so the usage page never scans events.
CREATE TABLE usage_daily (
    org_id   BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    day      TEXT   NOT NULL,
    tool     TEXT   NOT NULL,
    token_id BIGINT NOT NULL,
    calls    BIGINT NOT NULL,
    units    BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, tool, token_id)
);
