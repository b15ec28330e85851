-- The fleet anomaly detector's learned state (maintenance/anomaly/fleet.py FleetState), saved every
-- few minutes so a restarted scheduler resumes where it stopped instead of learning the fleet
-- again. One row per detector; the arrays are one .npz archive (numpy's format), written whole.
CREATE TABLE anomaly_state (
    name      text PRIMARY KEY,
    saved_at  timestamptz NOT NULL,
    machines  integer NOT NULL,
    state     bytea NOT NULL
);
