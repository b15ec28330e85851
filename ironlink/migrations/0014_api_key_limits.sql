-- Per-key rate limits (NULL: the API's defaults, api/ratelimit.py) and when a key was last used.

ALTER TABLE api_keys
    ADD COLUMN rate_per_s    double precision
        CHECK (rate_per_s IS NULL OR (rate_per_s > 0 AND rate_per_s < 'Infinity')),
    ADD COLUMN burst         integer CHECK (burst IS NULL OR burst >= 1),
    -- Written at most once a minute per key (api/auth.py), so a busy key costs no write per request.
    ADD COLUMN last_used_at  timestamptz;

-- A key's scope matches its role: an owner key names no dealer, a dispatcher key no owner, an admin
-- key neither. Checked for existing rows too: a key that breaks it stops this migration, since a
-- NOT VALID check would still refuse that key's revocation and last-use updates.
ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_scope_matches_role CHECK (
        (role = 'owner' AND dealer_id IS NULL)
        OR (role = 'dispatcher' AND owner_id IS NULL)
        OR (role = 'admin' AND owner_id IS NULL AND dealer_id IS NULL)
    );
