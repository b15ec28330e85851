-- Owner API: service requests and the owner's ticket list.

-- An owner's request for service (POST /v1/owner/machines/{serial}/service-requests): a record of
-- its own, linked to the manual ticket it opened or added its evidence to. The idempotency key
-- makes a retried request (a timeout, a double tap) answer with the first one's ticket instead of
-- asking twice; unique per owner, since the owner chooses it.
CREATE TABLE service_requests (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id         bigint NOT NULL REFERENCES owners (id),
    machine_id       bigint NOT NULL REFERENCES machines (id),
    ticket_id        bigint REFERENCES tickets (id),
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    description      text NOT NULL CHECK (length(description) BETWEEN 1 AND 4000),
    preferred_date   date,
    requested_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX service_requests_owner_key ON service_requests (owner_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX service_requests_ticket_idx ON service_requests (ticket_id);
CREATE INDEX service_requests_machine_idx ON service_requests (machine_id, requested_at DESC);

-- The owner's ticket list pages by id, newest first; (owner_id, opened_at) does not give that
-- order, so a large fleet's list would sort every ticket it ever had for each page.
CREATE INDEX tickets_owner_id_idx ON tickets (owner_id, id DESC);
