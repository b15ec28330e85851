-- A finding whose evidence a finished ticket of the same machine and rule already settled (the
-- same DM1 report, the same due point) opens no new ticket; this index answers that check.
CREATE INDEX tickets_machine_rule_evidence_idx ON tickets (machine_id, rule_key, evidence_key);
