-- Every DM1 report is stored once, including the empty list that says every code has cleared:
-- (machine, seq) of a faults message is kept even when it lists no DTC (the faults table has a row
-- per listed DTC only).
CREATE TABLE dm1_reports (
    machine_id   bigint NOT NULL,
    ts           timestamptz NOT NULL,
    seq          bigint NOT NULL,
    active       jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('dm1_reports', 'ts', chunk_time_interval => interval '30 days',
                         create_default_indexes => false);
CREATE UNIQUE INDEX dm1_reports_machine_ts_seq ON dm1_reports (machine_id, ts DESC, seq);

-- A fault episode: a DTC active from the first report that lists it until the first later report
-- (by measured time) that does not. Derived from dm1_reports, so a late report rewrites them right.
CREATE TABLE fault_episodes (
    machine_id    bigint NOT NULL REFERENCES machines (id),
    spn           integer NOT NULL,
    fmi           smallint NOT NULL,
    onset_ts      timestamptz NOT NULL,
    cleared_ts    timestamptz,
    last_seen_ts  timestamptz NOT NULL,
    max_oc        smallint NOT NULL,
    lamp          text NOT NULL,
    reports       integer NOT NULL,
    PRIMARY KEY (machine_id, spn, fmi, onset_ts),
    CHECK (cleared_ts IS NULL OR cleared_ts >= onset_ts)
);
CREATE INDEX fault_episodes_active ON fault_episodes (machine_id) WHERE cleared_ts IS NULL;
CREATE INDEX fault_episodes_onset ON fault_episodes (onset_ts DESC);
