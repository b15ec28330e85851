-- Parts-demand forecast snapshots (maintenance.forecast.parts_repo): what the daily parts-forecast
-- job computed per dealer, so a dispatcher's request reads a few rows instead of forecasting every
-- machine of the dealer (eight weeks of hour-meter days each). Stock is not stored: the request
-- joins the live shelf, which changes all day.

-- One row per dealer: replacing it (ON DELETE CASCADE) replaces the dealer's whole snapshot.
CREATE TABLE parts_forecast_runs (
    dealer_id    bigint PRIMARY KEY REFERENCES dealers (id) ON DELETE CASCADE,
    computed_at  timestamptz NOT NULL,
    today        date NOT NULL,           -- the dealer's calendar day the dates count from
    machines     integer NOT NULL CHECK (machines >= 0)
);

-- Each forecast service occurrence with the kit it uses (the rule's parts when computed).
-- machine_id carries no foreign key: a snapshot is history, and must not block a machine's removal.
CREATE TABLE parts_forecast_visits (
    dealer_id   bigint NOT NULL REFERENCES parts_forecast_runs (dealer_id) ON DELETE CASCADE,
    machine_id  bigint NOT NULL,
    rule_key    text NOT NULL,
    expected    date,                     -- NULL: beyond what the service forecast dates
    earliest    date NOT NULL,
    kit         jsonb NOT NULL            -- [{"part_no", "qty", "description"}]
);
CREATE INDEX parts_forecast_visits_dealer_idx ON parts_forecast_visits (dealer_id);

-- Fault-driven demand: expected units per day at the dealer, by part.
CREATE TABLE parts_forecast_fault_rates (
    dealer_id  bigint NOT NULL REFERENCES parts_forecast_runs (dealer_id) ON DELETE CASCADE,
    part_no    text NOT NULL,
    per_day    double precision NOT NULL CHECK (per_day > 0),
    PRIMARY KEY (dealer_id, part_no)
);
