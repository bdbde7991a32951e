-- Sessions are now keyed by the SHA-256 of their id (the id itself is never stored); the
-- sessions stored before held the raw id and are dropped: their users sign in again.
DELETE FROM sessions;
