-- One row per scheduled slot of a job (maintenance.job_runs): the leader claims (job, slot) before
-- running it, so a standby that takes over after a failover finds the slot taken and skips it.
-- A job is run at most once per slot: a run whose scheduler died stays 'running' and its slot is
-- not retried (the next slot catches up; every job is a sweep over current state).
CREATE TABLE job_runs (
    job          text NOT NULL,
    slot         timestamptz NOT NULL,      -- the scheduled fire time floored to the interval
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    error        text,
    runner       text NOT NULL,             -- host:pid of the scheduler that claimed the slot
    PRIMARY KEY (job, slot),
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL))
);
