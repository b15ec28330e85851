-- Parts: catalogue, stock per dealer (on hand, reserved) and the ledger of every stock movement.

-- unit_price is NULL until someone prices the part: a catalogue row can be created on first use
-- (below), and 0 would claim the part is free.
CREATE TABLE parts (
    part_no      text PRIMARY KEY CHECK (part_no <> ''),
    description  text NOT NULL DEFAULT '',
    unit_price   numeric(12, 2) CHECK (unit_price >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Part numbers come from rule files, which admins edit without touching the catalogue. Refusing a
-- ticket because its part is not catalogued would drop a finding, so the catalogue row is created
-- on first use (with the rule's description, unpriced) and parts_requests.part_no can then be a
-- real foreign key. Requests already stored are catalogued here the same way.
INSERT INTO parts (part_no, description)
SELECT DISTINCT ON (part_no) part_no, description
FROM parts_requests
ORDER BY part_no, id DESC
ON CONFLICT DO NOTHING;
ALTER TABLE parts_requests
    ADD CONSTRAINT parts_requests_part_fk FOREIGN KEY (part_no) REFERENCES parts (part_no);

-- A backorder is not a reservation: only units on the shelf are reserved, so reserved <= on_hand.
-- A row with zero on hand means the dealer has no unit of the part; a missing row means the same.
CREATE TABLE dealer_stock (
    dealer_id   bigint NOT NULL REFERENCES dealers (id),
    part_no     text NOT NULL REFERENCES parts (part_no),
    on_hand     integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved    integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dealer_id, part_no),
    CHECK (reserved <= on_hand)
);

-- Append-only: per (dealer, part), sum(on_hand_delta) = on_hand and sum(reserved_delta) = reserved.
-- parts_request_id and ticket_id deliberately carry no foreign key: the ledger is the history the
-- stock totals are made of, so deleting or truncating tickets (the demo does on every start) must
-- neither be blocked by it nor cascade into it.
CREATE TABLE stock_movements (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dealer_id         bigint NOT NULL REFERENCES dealers (id),
    part_no           text NOT NULL REFERENCES parts (part_no),
    on_hand_delta     integer NOT NULL,
    reserved_delta    integer NOT NULL,
    kind              text NOT NULL
                      CHECK (kind IN ('receive', 'reserve', 'release', 'consume', 'adjust')),
    parts_request_id  bigint,
    ticket_id         bigint,
    at                timestamptz NOT NULL DEFAULT now(),
    actor             text NOT NULL,
    CHECK (on_hand_delta <> 0 OR reserved_delta <> 0)
);
CREATE INDEX stock_movements_stock_idx ON stock_movements (dealer_id, part_no, at);
CREATE INDEX stock_movements_ticket_idx ON stock_movements (ticket_id) WHERE ticket_id IS NOT NULL;

-- receive() fills backorders of one dealer and part, oldest first.
CREATE INDEX parts_requests_backorder_idx ON parts_requests (dealer_id, part_no, created_at, id)
    WHERE status = 'backordered';
