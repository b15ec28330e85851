-- TimescaleDB for the telemetry hypertables. Only Apache-licensed features are used unless the
-- server's timescaledb.license is 'timescale'.
CREATE EXTENSION IF NOT EXISTS timescaledb;
