-- The website's own analytics (spec §12): visitors, identified by the tracker's anonymous id
-- (and linked to a customer once known), and their sessions. A session's day is
-- 'YYYY-MM-DD' text like every analytics day; started_at is milliseconds since the epoch.
CREATE TABLE web_visitors (
    id           INTEGER PRIMARY KEY,
    profile_id   BIGINT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    anonymous_id TEXT   NOT NULL,
    customer_id  BIGINT REFERENCES customers(id) ON DELETE SET NULL,
    first_seen   TEXT   NOT NULL,
    country      TEXT   NOT NULL,
    device       TEXT   NOT NULL,
    browser      TEXT   NOT NULL,
    os           TEXT   NOT NULL,
    UNIQUE (profile_id, anonymous_id)
);

-- A session's profile is its visitor's, copied for the indexes below; it goes with the visitor
-- (no foreign key of its own: one check a row fewer when traffic is loaded).
CREATE TABLE web_sessions (
    id           INTEGER PRIMARY KEY,
    visitor_id   BIGINT NOT NULL REFERENCES web_visitors(id) ON DELETE CASCADE,
    profile_id   BIGINT NOT NULL,
    day          TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_s   BIGINT NOT NULL,
    pageviews    BIGINT NOT NULL,
    landing_page TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    referrer     TEXT,
    keyword      TEXT
);
CREATE INDEX web_sessions_profile_day ON web_sessions (profile_id, day);
CREATE INDEX web_sessions_profile_started ON web_sessions (profile_id, started_at);
CREATE INDEX web_sessions_visitor ON web_sessions (visitor_id, id);

-- What of a conversion's value has been paid (a WhatsApp order may still be awaiting payment);
-- conversions recorded before this column are taken as paid, one recorded without it as not yet.
ALTER TABLE conversions ADD COLUMN cash_cents BIGINT NOT NULL DEFAULT 0;
UPDATE conversions SET cash_cents = value_cents;
