-- Scheduled publishing: a draft with `publish_at` is published by the scheduler worker once
-- that time has come (milliseconds since the epoch, like every instant). The partial index
-- keeps the scheduler's look for due drafts to the scheduled ones alone.
ALTER TABLE posts ADD COLUMN publish_at BIGINT;

CREATE INDEX posts_scheduled ON posts (publish_at) WHERE publish_at IS NOT NULL;
