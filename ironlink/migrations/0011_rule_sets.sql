-- Rule sets as data: every version an admin (or the shipped file) loaded, exactly one active.
-- Loading is maintenance.rules.store.load_rule_set: validate, refuse a version not above the newest,
-- insert and switch `active` in one transaction. Rows are never updated otherwise or deleted, so a
-- ticket's rule-set version always names the document that opened it.
CREATE TABLE rule_sets (
    version    integer PRIMARY KEY CHECK (version >= 1),
    -- The validated rule set (defaults filled in), as maintenance.rules.model.RuleSet encodes it.
    document   jsonb NOT NULL CHECK ((document ->> 'version')::integer = version),
    source     text NOT NULL DEFAULT '',
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    loaded_by  text NOT NULL,
    active     boolean NOT NULL DEFAULT false
);
-- At most one active row; the loader deactivates the old one in the same transaction, so once the
-- table has rows exactly one is active. Processes poll this index for a newer active version.
CREATE UNIQUE INDEX rule_sets_one_active ON rule_sets ((true)) WHERE active;
