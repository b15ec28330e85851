-- Ticket lifecycle: who works a ticket and when, how it ended, what the owner thought of it, and
-- which rule-set version opened it (maintenance.tickets.lifecycle, maintenance.tickets.policy).

ALTER TABLE tickets
    ADD COLUMN assigned_technician_id  bigint REFERENCES technicians (id),
    ADD COLUMN assigned_at             timestamptz,
    ADD COLUMN scheduled_for           timestamptz,
    ADD COLUMN resolution              text,
    ADD COLUMN closed_at               timestamptz,
    ADD COLUMN cancelled_at            timestamptz,
    ADD COLUMN cancelled_reason        text,
    -- The owner's follow-up score after resolution: given once, never replaced (a score that can
    -- be changed after the dealer has called back measures the call, not the job).
    ADD COLUMN satisfaction            smallint CHECK (satisfaction BETWEEN 1 AND 5),
    ADD COLUMN satisfaction_comment    text,
    ADD COLUMN rated_at                timestamptz,
    -- NULL for tickets opened before rule sets were versioned, and for manual tickets.
    ADD COLUMN rule_set_version        integer,
    ADD CONSTRAINT tickets_rating_complete CHECK ((satisfaction IS NULL) = (rated_at IS NULL)),
    ADD CONSTRAINT tickets_assignment_complete
        CHECK (assigned_technician_id IS NULL OR assigned_at IS NOT NULL);

-- Labour is billed at the service point's hourly rate; NULL = not priced yet (a service record
-- then carries no labour cost rather than a made-up one).
ALTER TABLE dealers
    ADD COLUMN labour_rate_per_h  numeric(8, 2) CHECK (labour_rate_per_h >= 0);

-- Auto-assignment counts each technician's live tickets (the load) on every opened ticket.
CREATE INDEX tickets_technician_live_idx ON tickets (assigned_technician_id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');
-- The dispatcher's live queue per service point, most urgent promise first (the existing
-- (dealer_id, status, sla_due_at) index serves one status at a time).
CREATE INDEX tickets_dealer_live_due_idx ON tickets (dealer_id, sla_due_at, id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');
-- The day plan: scheduled visits per service point in time order.
CREATE INDEX tickets_dealer_scheduled_idx ON tickets (dealer_id, scheduled_for)
    WHERE status = 'scheduled';
