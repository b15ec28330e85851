-- Chunks of the telemetry hypertables rewritten in (machine_id, ts DESC, seq) order by
-- telemetry/chunk_reorder.py (the Apache build has no reorder policy). A chunk is named by its
-- table: a chunk dropped by retention never comes back under the same name, so a row of a dropped
-- chunk is only history and the job removes it. heap_bytes is the chunk's size right after the
-- rewrite; late rows appended since then make it grow, and enough growth earns a second rewrite.
CREATE TABLE reordered_chunks (
    chunk         text PRIMARY KEY,         -- schema-qualified chunk table
    hypertable    text NOT NULL,
    range_start   timestamptz NOT NULL,
    range_end     timestamptz NOT NULL,
    reordered_at  timestamptz NOT NULL,
    reorders      integer NOT NULL DEFAULT 1 CHECK (reorders >= 1),
    heap_bytes    bigint NOT NULL CHECK (heap_bytes >= 0),
    took_s        double precision NOT NULL CHECK (took_s >= 0)
);
