-- Events that may repeat fast (a token refused a scope on every call) are recorded once per
-- key (token, tool, scope and minute); the rest are counted on that row.
ALTER TABLE audit_events ADD COLUMN repeat_key TEXT;
ALTER TABLE audit_events ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX audit_events_repeat_key ON audit_events (repeat_key);

-- The sign-in throttle's table now counts attempts of every throttled action (sign-in failures,
-- sign-ups, organizations created), each recorded before the work it guards.
ALTER TABLE sign_in_failures RENAME TO throttle_attempts;
