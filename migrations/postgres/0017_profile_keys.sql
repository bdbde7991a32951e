-- A key bound to one profile (spec §12) is stored as a workspace token of the profile's
-- workspace that also names the profile; it goes with its profile. The binding column's CHECK
-- stays as it is: changing it on SQLite would mean rebuilding the tokens table.
ALTER TABLE tokens ADD COLUMN profile_id BIGINT REFERENCES profiles(id) ON DELETE CASCADE;
CREATE INDEX tokens_profile ON tokens (profile_id);
