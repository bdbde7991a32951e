-- OAuth 2.1 for MCP clients (spec §11). A grant is a token row with a client: its access
-- secret is replaced at every refresh, `expires_at` is the end the user chose on the consent
-- page and `access_expires_at` the current access token's (an hour). Pasted tokens have neither
-- a client nor an audience and keep working on every surface.
CREATE TABLE oauth_clients (
    -- Registered clients (RFC 7591) get a random id; a client described by a metadata
    -- document is named by the document's https URL, and this row caches the document.
    client_id     TEXT   PRIMARY KEY,
    kind          TEXT   NOT NULL CHECK (kind IN ('registered', 'document')),
    name          TEXT   NOT NULL,
    -- One per line.
    redirect_uris TEXT   NOT NULL,
    client_uri    TEXT,
    created_at    BIGINT NOT NULL,
    -- A document's copy is used until then, and fetched again after.
    fresh_until   BIGINT
);

ALTER TABLE tokens ADD COLUMN client_id TEXT REFERENCES oauth_clients(client_id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN audience TEXT;
ALTER TABLE tokens ADD COLUMN access_expires_at BIGINT;
CREATE INDEX tokens_client ON tokens (client_id);

-- An authorization request, checked at /authorize, while the user decides on the consent page
-- (found by the hash of the page's id); approved, it holds the hash of its one-time code and the
-- grant the code is exchanged for.
CREATE TABLE oauth_authorizations (
    id_hash         TEXT   PRIMARY KEY,
    client_id       TEXT   NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    redirect_uri    TEXT   NOT NULL,
    state           TEXT,
    code_challenge  TEXT   NOT NULL,
    resource        TEXT   NOT NULL,
    scopes          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    code_hash       TEXT   UNIQUE,
    code_expires_at BIGINT,
    code_used_at    BIGINT,
    token_id        BIGINT REFERENCES tokens(id) ON DELETE CASCADE
);

-- Refresh tokens, by SHA-256: each is spent by its one use, which issues the next; a spent one
-- presented again revokes its grant.
CREATE TABLE oauth_refresh_tokens (
    token_hash TEXT   PRIMARY KEY,
    token_id   BIGINT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (token_id);
