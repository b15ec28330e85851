-- ISO 15143-3 fault-code time series: one machine's fault onsets within a time range, in time
-- order. The primary key (machine_id, spn, fmi, onset_ts) leads with the code, so without this
-- index the range is a scan of every episode the machine ever had.
CREATE INDEX fault_episodes_machine_onset ON fault_episodes (machine_id, onset_ts);
