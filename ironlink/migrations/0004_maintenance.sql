-- Maintenance: service history, tickets with their events, parts requests.

CREATE TABLE service_records (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine_id    bigint NOT NULL REFERENCES machines (id),
    rule_key      text NOT NULL,
    engine_hours  double precision NOT NULL,
    done_at       timestamptz NOT NULL DEFAULT now(),
    ticket_id     bigint,
    notes         text NOT NULL DEFAULT ''
);
CREATE INDEX service_records_machine_rule ON service_records (machine_id, rule_key, engine_hours DESC);

CREATE TABLE tickets (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine_id    bigint NOT NULL REFERENCES machines (id),
    owner_id      bigint NOT NULL REFERENCES owners (id),
    dealer_id     bigint NOT NULL REFERENCES dealers (id),
    rule_key      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('service_interval', 'fault_code', 'threshold',
                                                'silence', 'anomaly', 'manual')),
    title         text NOT NULL,
    priority      text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'scheduled', 'in_progress', 'waiting_parts',
                                    'resolved', 'closed', 'cancelled')),
    sla_due_at    timestamptz NOT NULL,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    occurrences   integer NOT NULL DEFAULT 1,
    -- What made the last finding distinct (e.g. the DM1 report time): a repeat of the same
    -- evidence is not another occurrence.
    evidence_key  text NOT NULL DEFAULT '',
    evidence      jsonb NOT NULL DEFAULT '[]'
);
-- One open ticket per problem: a repeat finding appends evidence instead of opening another.
CREATE UNIQUE INDEX tickets_one_open_per_machine_rule ON tickets (machine_id, rule_key)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX tickets_owner_idx ON tickets (owner_id, opened_at DESC);
CREATE INDEX tickets_dealer_status_idx ON tickets (dealer_id, status, sla_due_at);

CREATE TABLE ticket_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    kind        text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, at);

CREATE TABLE parts_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    dealer_id    bigint NOT NULL REFERENCES dealers (id),
    part_no      text NOT NULL,
    description  text NOT NULL DEFAULT '',
    qty          integer NOT NULL CHECK (qty > 0),
    status       text NOT NULL DEFAULT 'requested'
                 CHECK (status IN ('requested', 'reserved', 'backordered', 'consumed', 'released')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parts_requests_ticket_idx ON parts_requests (ticket_id);
CREATE INDEX parts_requests_dealer_idx ON parts_requests (dealer_id, status);
