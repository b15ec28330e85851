-- Hourly rollup of readings per machine (telemetry/hourly_rollup.py): what continuous aggregates
-- would give, built by the app so that the Apache build and the 'timescale' licence return the
-- same results by one code path. Per signal the count, sum, min and max of its non-NULL values, so
-- that several hours combine exactly: avg = sum(sum) / sum(n). Every signal the owner's history
-- can ask for (telemetry.signals); min and max keep the column's own type, sums are float8 like
-- avg's accumulator. A row exists only for an hour that had readings.
CREATE TABLE readings_hourly (
    machine_id        bigint NOT NULL,
    hour              timestamptz NOT NULL,
    readings          integer NOT NULL,
    engine_hours_n    integer NOT NULL,
    engine_hours_sum  double precision,
    engine_hours_min  double precision,
    engine_hours_max  double precision,
    rpm_n             integer NOT NULL,
    rpm_sum           double precision,
    rpm_min           real,
    rpm_max           real,
    load_pct_n        integer NOT NULL,
    load_pct_sum      double precision,
    load_pct_min      real,
    load_pct_max      real,
    coolant_c_n       integer NOT NULL,
    coolant_c_sum     double precision,
    coolant_c_min     real,
    coolant_c_max     real,
    oil_kpa_n         integer NOT NULL,
    oil_kpa_sum       double precision,
    oil_kpa_min       real,
    oil_kpa_max       real,
    fuel_pct_n        integer NOT NULL,
    fuel_pct_sum      double precision,
    fuel_pct_min      real,
    fuel_pct_max      real,
    fuel_lph_n        integer NOT NULL,
    fuel_lph_sum      double precision,
    fuel_lph_min      real,
    fuel_lph_max      real,
    def_pct_n         integer NOT NULL,
    def_pct_sum       double precision,
    def_pct_min       real,
    def_pct_max       real,
    battery_v_n       integer NOT NULL,
    battery_v_sum     double precision,
    battery_v_min     real,
    battery_v_max     real,
    hyd_oil_c_n       integer NOT NULL,
    hyd_oil_c_sum     double precision,
    hyd_oil_c_min     real,
    hyd_oil_c_max     real,
    hyd_bar_n         integer NOT NULL,
    hyd_bar_sum       double precision,
    hyd_bar_min       real,
    hyd_bar_max       real,
    lat_n             integer NOT NULL,
    lat_sum           double precision,
    lat_min           double precision,
    lat_max           double precision,
    lon_n             integer NOT NULL,
    lon_sum           double precision,
    lon_min           double precision,
    lon_max           double precision,
    speed_kmh_n       integer NOT NULL,
    speed_kmh_sum     double precision,
    speed_kmh_min     real,
    speed_kmh_max     real,
    pto_rpm_n         integer NOT NULL,
    pto_rpm_sum       double precision,
    pto_rpm_min       real,
    pto_rpm_max       real,
    boom_cycles_n     integer NOT NULL,
    boom_cycles_sum   double precision,
    boom_cycles_min   bigint,
    boom_cycles_max   bigint,
    idle_hours_n      integer NOT NULL,
    idle_hours_sum    double precision,
    idle_hours_min    double precision,
    idle_hours_max    double precision,
    PRIMARY KEY (machine_id, hour),
    CHECK (hour = date_trunc('hour', hour, 'UTC'))
);
-- A machine's month is ~720 rows; 30-day chunks keep a year's history query to a chunk or few.
SELECT create_hypertable('readings_hourly', 'hour', chunk_time_interval => interval '30 days',
                         create_default_indexes => false);

-- Hours that received readings since they were last rolled up: ingest marks them in the batch's
-- own transaction, the rollup claims and recomputes them. While an hour is here, the history reads
-- its raw readings.
CREATE TABLE readings_hourly_dirty (
    machine_id  bigint NOT NULL,
    hour        timestamptz NOT NULL,
    PRIMARY KEY (machine_id, hour)
);
CREATE INDEX readings_hourly_dirty_hour ON readings_hourly_dirty (hour, machine_id);

-- One row once the rollup has started: before its first run marked every hour already in
-- readings dirty, nothing in readings_hourly may be trusted (no row: the history reads raw).
-- Hours from rolled_up_before on are always read raw.
CREATE TABLE readings_hourly_state (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rolled_up_before  timestamptz NOT NULL
);
