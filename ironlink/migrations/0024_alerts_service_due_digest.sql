-- Alerts that come from a forecast or the calendar rather than a ticket event: a service falling
-- due (service_due, maintenance.alerts.service_due) and the owner's daily digest (digest,
-- maintenance.alerts.digest). Their outbox rows have no ticket.

ALTER TABLE alert_subscriptions DROP CONSTRAINT alert_subscriptions_event_kinds_check;
ALTER TABLE alert_subscriptions ADD CONSTRAINT alert_subscriptions_event_kinds_check
    CHECK (cardinality(event_kinds) > 0
           AND event_kinds <@ ARRAY['opened', 'escalated', 'resolved', 'cancelled', 'reopened',
                                    'sla_near', 'sla_breached', 'service_due', 'digest']);

-- One service-due alert per (machine, rule, due point), whoever runs the job and however often:
-- the row is inserted in the same statement as the alert's outbox rows, so a rerun, a second
-- scheduler or a failover finds it and enqueues nothing. due_at_h (engine hours, one decimal)
-- names the interval, so the next interval of the same rule gets its own alert. Kept apart from
-- the outbox so pruning delivered alerts never lets one be sent again.
CREATE TABLE service_due_alerts (
    machine_id  bigint NOT NULL REFERENCES machines (id),
    rule_key    text NOT NULL,
    due_at_h    numeric(10, 1) NOT NULL,
    expected    date NOT NULL,
    alerted_at  timestamptz NOT NULL,
    PRIMARY KEY (machine_id, rule_key, due_at_h)
);

-- One digest per owner and local day. A day with nothing to say is recorded too (items 0, no
-- outbox rows), so the owner is not examined again every hour of that day.
CREATE TABLE owner_digests (
    owner_id    bigint NOT NULL REFERENCES owners (id),
    local_day   date NOT NULL,
    items       integer NOT NULL CHECK (items >= 0),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (owner_id, local_day)
);

-- What retention prunes: finished rows by age.
CREATE INDEX alert_outbox_finished_idx ON alert_outbox (created_at) WHERE status <> 'pending';
