-- Indexes for reading an endpoint's deliveries newest first, page by page, and for pruning
-- finished deliveries after the retention period.
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE state <> 'pending';
