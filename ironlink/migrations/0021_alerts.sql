-- Alerts: who wants which ticket events on which channel (alert_subscriptions), and the
-- transactional outbox the ticket paths write in the ticket's own transaction (alert_outbox),
-- delivered by maintenance.alerts.delivery.

-- A subscription belongs to one owner or one dealer. Webhooks are signed with the subscription's
-- secret (HMAC-SHA256), so it is stored as given: a hash could not sign. Quiet hours are a local
-- wall-clock span in the recipient's time zone; start > end spans midnight (22:00-06:00).
CREATE TABLE alert_subscriptions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id     bigint REFERENCES owners (id),
    dealer_id    bigint REFERENCES dealers (id),
    channel      text NOT NULL CHECK (channel IN ('webhook', 'email')),
    target       text NOT NULL CHECK (length(target) BETWEEN 3 AND 2000),
    secret       text,
    event_kinds  text[] NOT NULL
                 CHECK (cardinality(event_kinds) > 0
                        AND event_kinds <@ ARRAY['opened', 'escalated', 'resolved', 'cancelled',
                                                 'reopened', 'sla_near', 'sla_breached']),
    quiet_start  time,
    quiet_end    time,
    timezone     text NOT NULL DEFAULT 'UTC',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(owner_id, dealer_id) = 1),
    CHECK (channel <> 'webhook' OR (target ~ '^https?://' AND length(secret) >= 16)),
    CHECK (channel <> 'email' OR target ~ '^[^@\s]+@[^@\s]+$'),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    CHECK (quiet_start <> quiet_end)
);
-- The same target twice would be the same recipient alerted twice for every event.
CREATE UNIQUE INDEX alert_subscriptions_one_per_target
    ON alert_subscriptions (owner_id, dealer_id, channel, target) NULLS NOT DISTINCT;
CREATE INDEX alert_subscriptions_owner_idx ON alert_subscriptions (owner_id) WHERE active;
CREATE INDEX alert_subscriptions_dealer_idx ON alert_subscriptions (dealer_id) WHERE active;

-- One row per (event, subscription): the unique key is "at most one alert per event and
-- recipient", whoever enqueues it and however often. event_key names the event across producers
-- ('ticket-event:<id>' for ticket events). The payload is a snapshot taken with the event, so a
-- retry hours later says what was true then. idempotency_key is sent with every attempt (webhook
-- header, e-mail Message-ID) so receivers drop the duplicate an at-least-once retry can cause.
-- A claimed row stays 'pending' with next_attempt_at pushed out by the delivery lease: a worker
-- that dies mid-send leaves it due again when the lease ends.
CREATE TABLE alert_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    event_key        text NOT NULL,
    subscription_id  bigint NOT NULL REFERENCES alert_subscriptions (id),
    ticket_id        bigint REFERENCES tickets (id),
    kind             text NOT NULL,
    priority         text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    delivered_at     timestamptz,
    UNIQUE (event_key, subscription_id),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
-- What the deliverers scan: due pending rows, oldest promise first.
CREATE INDEX alert_outbox_due_idx ON alert_outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX alert_outbox_ticket_idx ON alert_outbox (ticket_id);
