-- Fleet and CRM records: dealers (service points), owners, technicians, machines, API keys.

CREATE TABLE dealers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    region      text NOT NULL DEFAULT '',
    lat         double precision,
    lon         double precision,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE owners (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    kind        text NOT NULL
                CHECK (kind IN ('farmer', 'cooperative', 'contractor', 'rental', 'government')),
    email       text,
    phone       text,
    region      text NOT NULL DEFAULT '',
    dealer_id   bigint REFERENCES dealers (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE technicians (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dealer_id   bigint NOT NULL REFERENCES dealers (id),
    name        text NOT NULL,
    skills      text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true
);

-- The serial is the machine's MQTT user name and a topic level, so it may not hold '/', '+', '#'.
CREATE TABLE machines (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial      text NOT NULL UNIQUE CHECK (serial ~ '^[A-Z0-9][A-Z0-9-]{2,31}$'),
    kind        text NOT NULL CHECK (kind IN ('tractor', 'excavator')),
    model       text NOT NULL,
    year        integer,
    owner_id    bigint NOT NULL REFERENCES owners (id),
    dealer_id   bigint NOT NULL REFERENCES dealers (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX machines_owner_idx ON machines (owner_id);
CREATE INDEX machines_dealer_idx ON machines (dealer_id);

-- Bearer keys: only a hash is stored; the prefix finds the row, the hash is compared in constant time.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix      text NOT NULL UNIQUE,
    key_sha256  bytea NOT NULL,
    role        text NOT NULL CHECK (role IN ('owner', 'dispatcher', 'admin')),
    owner_id    bigint REFERENCES owners (id),
    dealer_id   bigint REFERENCES dealers (id),
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK (role <> 'owner' OR owner_id IS NOT NULL)
);
