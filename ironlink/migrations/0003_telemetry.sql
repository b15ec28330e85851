-- Telemetry: readings and DM1 fault reports as hypertables, latest state per machine, rejected input.

-- A reading is identified by (machine, seq); TimescaleDB requires the time column in every unique
-- index, and a controller resends a reading with its original ts, so (machine_id, ts, seq) is the key.
CREATE TABLE readings (
    machine_id    bigint NOT NULL REFERENCES machines (id),
    ts            timestamptz NOT NULL,
    seq           bigint NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    engine_hours  double precision NOT NULL,
    rpm           real,
    load_pct      real,
    coolant_c     real,
    oil_kpa       real,
    fuel_pct      real,
    fuel_lph      real,
    def_pct       real,
    battery_v     real,
    hyd_oil_c     real,
    hyd_bar       real,
    lat           double precision,
    lon           double precision,
    speed_kmh     real,
    pto_rpm       real,
    boom_cycles   bigint
);
SELECT create_hypertable('readings', 'ts', chunk_time_interval => interval '1 day',
                         create_default_indexes => false);
CREATE UNIQUE INDEX readings_machine_ts_seq ON readings (machine_id, ts DESC, seq);

-- One row per DTC in a DM1 report: the active list at that moment, with occurrence count and lamps.
CREATE TABLE faults (
    machine_id    bigint NOT NULL REFERENCES machines (id),
    ts            timestamptz NOT NULL,
    seq           bigint NOT NULL,
    spn           integer NOT NULL CHECK (spn BETWEEN 0 AND 524287),
    fmi           smallint NOT NULL CHECK (fmi BETWEEN 0 AND 31),
    oc            smallint NOT NULL DEFAULT 1 CHECK (oc BETWEEN 0 AND 127),
    lamp          text NOT NULL CHECK (lamp IN ('off', 'protect', 'amber', 'red', 'mil')),
    received_at   timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('faults', 'ts', chunk_time_interval => interval '7 days',
                         create_default_indexes => false);
CREATE UNIQUE INDEX faults_machine_ts_seq_dtc ON faults (machine_id, ts DESC, seq, spn, fmi);

-- Latest known state by measured time (ts), never by arrival: a late reading does not move it back.
-- Columns are nullable because a machine's first message may be a fault report or a status.
CREATE TABLE machine_state (
    machine_id     bigint PRIMARY KEY REFERENCES machines (id),
    ts             timestamptz,
    seq            bigint,
    engine_hours   double precision,
    fuel_pct       real,
    coolant_c      real,
    lat            double precision,
    lon            double precision,
    faults_ts      timestamptz,
    active_faults  jsonb NOT NULL DEFAULT '[]',
    online         boolean,
    status_ts      timestamptz,
    received_at    timestamptz NOT NULL DEFAULT now()
);

-- Every message ingest could not accept, kept for inspection with the reason.
CREATE TABLE rejected (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text NOT NULL,
    payload      bytea NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL DEFAULT ''
);
CREATE INDEX rejected_received_idx ON rejected (received_at DESC);
CREATE INDEX rejected_reason_idx ON rejected (reason, received_at DESC);
