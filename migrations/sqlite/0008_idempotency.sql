-- Idempotency keys of side-effecting tools: the first result, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    token_id     BIGINT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    key          TEXT   NOT NULL,
    tool         TEXT   NOT NULL,
    request_hash TEXT   NOT NULL,
    response     TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (token_id, key)
);
