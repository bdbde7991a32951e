-- Each claim of a job writes a random token of its own: only the holder of the current lease
-- records the job's outcome (and its charge or refund).
ALTER TABLE jobs ADD COLUMN lease_token TEXT;
-- The same for write-back events: only the claim whose lease is current records a delivery.
ALTER TABLE outbox ADD COLUMN lease_token TEXT;
