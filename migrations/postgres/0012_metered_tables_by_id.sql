-- The metered tables refer to organizations, workspaces and tokens by id only, as they do on
-- SQLite (migrations/sqlite_meter). Every usage event the writer inserted ran three foreign-key
-- checks, each a query that also locked the organization's, workspace's and token's row until
-- the batch committed: much of the database's work per metered call. Nothing deletes those
-- rows; whatever does one day deletes their metered rows as well.
ALTER TABLE usage_events
    DROP CONSTRAINT usage_events_org_id_fkey,
    DROP CONSTRAINT usage_events_workspace_id_fkey,
    DROP CONSTRAINT usage_events_token_id_fkey;
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_org_id_fkey;
ALTER TABLE period_usage DROP CONSTRAINT period_usage_org_id_fkey;
ALTER TABLE refusals
    DROP CONSTRAINT refusals_org_id_fkey,
    DROP CONSTRAINT refusals_token_id_fkey;
