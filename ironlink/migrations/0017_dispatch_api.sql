-- The dispatcher's queue (maintenance/tickets/queue.py) in its three orders. Live tickets first:
-- the desk's everyday view, where old finished tickets must not be scanned past. The rank is the
-- queue's own CASE expression, spelt identically so the planner matches it.
CREATE INDEX tickets_live_due_idx ON tickets (sla_due_at, id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX tickets_live_rank_due_idx ON tickets (
    (CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END),
    sla_due_at, id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX tickets_dealer_live_rank_due_idx ON tickets (
    dealer_id,
    (CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END),
    sla_due_at, id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');
-- Newest first over every status: the history view, whose rows grow without bound.
CREATE INDEX tickets_opened_idx ON tickets (opened_at DESC, id DESC);
CREATE INDEX tickets_dealer_opened_idx ON tickets (dealer_id, opened_at DESC, id DESC);
