-- Admin API (api/routers/admin.py): owners and dealers are deactivated, never deleted (tickets,
-- machines and service records refer to them), and machines get MQTT credentials of their own.

ALTER TABLE owners ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE dealers ADD COLUMN active boolean NOT NULL DEFAULT true;

-- A machine's broker account, issued by POST /v1/admin/machines/{serial}/credentials. Only the
-- Mosquitto password-file entry is kept ($7$: PBKDF2-SHA512), so the broker's password file can
-- be rewritten from this table at any time; the clear password is shown once to the caller.
-- Rotation replaces the hash; revocation keeps the row (who had access, and until when).
CREATE TABLE machine_credentials (
    machine_id     bigint PRIMARY KEY REFERENCES machines (id),
    username       text NOT NULL UNIQUE,
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),
    issued_at      timestamptz NOT NULL DEFAULT now(),
    issued_by      text NOT NULL,
    rotations      integer NOT NULL DEFAULT 0 CHECK (rotations >= 0),
    revoked_at     timestamptz,
    revoked_by     text,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

-- Keyset pages of the admin lists filtered by dealer.
CREATE INDEX owners_dealer_idx ON owners (dealer_id, id);
