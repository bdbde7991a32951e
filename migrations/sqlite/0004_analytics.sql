-- The marketing data the analytics tools read (spec §9). Days are 'YYYY-MM-DD' text;
-- money is in cents.
CREATE TABLE profiles (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    domain       TEXT   NOT NULL
);
CREATE INDEX profiles_workspace ON profiles (workspace_id);

CREATE TABLE campaigns (
    id         INTEGER PRIMARY KEY,
    profile_id BIGINT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    name       TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    objective  TEXT   NOT NULL
);
CREATE INDEX campaigns_profile ON campaigns (profile_id);

CREATE TABLE ad_sets (
    id          INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    audience    TEXT   NOT NULL
);

CREATE TABLE creatives (
    id          INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    format      TEXT   NOT NULL,
    headline    TEXT   NOT NULL
);

CREATE TABLE ads (
    id          INTEGER PRIMARY KEY,
    ad_set_id   BIGINT NOT NULL REFERENCES ad_sets(id) ON DELETE CASCADE,
    creative_id BIGINT NOT NULL REFERENCES creatives(id) ON DELETE CASCADE,
    name        TEXT   NOT NULL
);

CREATE TABLE daily_metrics (
    ad_id         BIGINT NOT NULL REFERENCES ads(id) ON DELETE CASCADE,
    day           TEXT   NOT NULL,
    impressions   BIGINT NOT NULL,
    clicks        BIGINT NOT NULL,
    spend_cents   BIGINT NOT NULL,
    conversions   BIGINT NOT NULL,
    revenue_cents BIGINT NOT NULL,
    PRIMARY KEY (ad_id, day)
);

CREATE TABLE customers (
    id         INTEGER PRIMARY KEY,
    profile_id BIGINT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    full_name  TEXT   NOT NULL,
    email      TEXT   NOT NULL,
    phone      TEXT   NOT NULL,
    first_seen TEXT   NOT NULL
);
CREATE INDEX customers_profile ON customers (profile_id);

-- A visit or message on the way to a conversion; campaign_id is NULL for organic and direct.
CREATE TABLE touchpoints (
    id          INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    campaign_id BIGINT REFERENCES campaigns(id) ON DELETE SET NULL,
    channel     TEXT   NOT NULL,
    day         TEXT   NOT NULL
);
CREATE INDEX touchpoints_customer ON touchpoints (customer_id, day);

CREATE TABLE conversions (
    id           INTEGER PRIMARY KEY,
    customer_id  BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    profile_id   BIGINT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    day          TEXT   NOT NULL,
    value_cents  BIGINT NOT NULL,
    source       TEXT   NOT NULL CHECK (source IN ('website', 'whatsapp'))
);
CREATE INDEX conversions_profile_day ON conversions (profile_id, day);
