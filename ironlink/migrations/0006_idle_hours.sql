-- Controllers report cumulative idle hours (engine running, no work), which owners' fleet tools
-- read as ISO 15143-3 CumulativeIdleHours. Appended last: ingest stages rows with
-- (LIKE readings) and inserts SELECT *, so the staging table follows the same column order.
ALTER TABLE readings ADD COLUMN idle_hours double precision;
