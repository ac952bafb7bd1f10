-- The aggregate a keyed request created, written in the same transaction as its change, so a
-- retry whose first answer was lost (the process stopped between commit and reply) learns that
-- the change was made instead of making it again. NULL until that transaction commits.
ALTER TABLE idempotency_keys ADD COLUMN committed_type TEXT;
ALTER TABLE idempotency_keys ADD COLUMN committed_id INTEGER;
