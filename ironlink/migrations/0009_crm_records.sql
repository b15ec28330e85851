-- CRM records a dealer runs its customers on: owner contacts and grade, service points' hours and
-- parts warehouse, each machine's identity and commercial facts, and service history with labour
-- and cost (what the customer view's 12-month spend sums).

-- Owners: how long they have been customers and their A/B/C/D grade (maintenance.crm.grading),
-- with the scores behind it so a dispatcher can see why.
ALTER TABLE owners
    ADD COLUMN customer_since date,
    ADD COLUMN grade          text CHECK (grade IN ('A', 'B', 'C', 'D')),
    ADD COLUMN graded_at      timestamptz,
    ADD COLUMN grade_detail   jsonb NOT NULL DEFAULT '{}';

CREATE TABLE owner_contacts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES owners (id),
    name        text NOT NULL,
    role        text NOT NULL DEFAULT '',
    phone       text,
    email       text,
    preferred   boolean NOT NULL DEFAULT false,
    CHECK (phone IS NOT NULL OR email IS NOT NULL)
);
CREATE INDEX owner_contacts_owner_idx ON owner_contacts (owner_id);
-- At most one preferred contact per owner: the one alerts and follow-up calls go to.
CREATE UNIQUE INDEX owner_contacts_one_preferred ON owner_contacts (owner_id) WHERE preferred;

-- Dealers are service points: opening hours per ISO weekday ({"1": ["07:30", "17:00"], ...},
-- absent = closed), the parts warehouse that serves them, and how to reach them.
ALTER TABLE dealers
    ADD COLUMN phone            text,
    ADD COLUMN email            text,
    ADD COLUMN timezone         text NOT NULL DEFAULT 'UTC',
    ADD COLUMN opening_hours    jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN parts_warehouse  text NOT NULL DEFAULT '';

ALTER TABLE technicians
    ADD COLUMN phone  text,
    ADD COLUMN email  text;
CREATE INDEX technicians_dealer_idx ON technicians (dealer_id) WHERE active;

-- Machines: dealer_id is the servicing dealer; the selling dealer may differ (a machine bought in
-- one region and worked in another). pin is the 17-character product identification number
-- (ISO 10261) stamped on the frame; serial stays the controller's identity on the wire.
ALTER TABLE machines
    ADD COLUMN pin                text UNIQUE CHECK (pin ~ '^[A-Z0-9]{17}$'),
    ADD COLUMN selling_dealer_id  bigint REFERENCES dealers (id),
    ADD COLUMN purchase_date      date,
    ADD COLUMN purchase_price     numeric(12, 2) CHECK (purchase_price >= 0),
    ADD COLUMN warranty_end       date,
    ADD COLUMN active             boolean NOT NULL DEFAULT true;

-- Service history: what was done, by whom, at which engine hours, with parts, labour and cost.
ALTER TABLE service_records
    ADD COLUMN kind           text NOT NULL DEFAULT 'service'
                              CHECK (kind IN ('service', 'repair', 'inspection', 'warranty')),
    ADD COLUMN technician_id  bigint REFERENCES technicians (id),
    ADD COLUMN dealer_id      bigint REFERENCES dealers (id),
    ADD COLUMN labour_h       numeric(6, 2) NOT NULL DEFAULT 0 CHECK (labour_h >= 0),
    ADD COLUMN labour_cost    numeric(12, 2) NOT NULL DEFAULT 0 CHECK (labour_cost >= 0),
    ADD COLUMN parts_cost     numeric(12, 2) NOT NULL DEFAULT 0 CHECK (parts_cost >= 0),
    ADD COLUMN parts          jsonb NOT NULL DEFAULT '[]';
CREATE INDEX service_records_machine_done ON service_records (machine_id, done_at DESC);
