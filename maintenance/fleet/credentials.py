"""Machines' MQTT credentials: issue (or rotate) and revoke, kept in machine_credentials and
written through to the running broker (telemetry.broker_files).

The table is the truth; the broker's files are derived from it on every change (all live
credentials, not just the one changed), so a file clobbered by hand or by `ironlink broker-sync`
is repaired by the next provisioning. The caller owns the transaction: the files are written
before it commits, under a transaction-level advisory lock, so two API processes provisioning at
once write in turn, each from a table that holds the other's committed row. If the commit then
fails, the file holds a hash nobody knows the password of until the next change rewrites it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import psycopg

from ironlink.broker_auth import hash_password
from maintenance.errors import Conflict, NotFound
from telemetry.broker_acl import DeviceGrant, new_password, publish_filter
from telemetry.broker_files import BrokerFiles, apply
from telemetry.wire import Kind

Conn = psycopg.Connection[tuple[object, ...]]

# Any constant works as long as only this module uses it: it serialises writers of the broker files.
LOCK_KEY: Final = 0x1B0C_ACC7
LOCK_BROKER_ACCOUNTS: Final[LiteralString] = "SELECT pg_advisory_xact_lock(%(key)s)"
MACHINE_BY_SERIAL: Final[LiteralString] = """
SELECT id, kind, active FROM machines WHERE serial = %(serial)s FOR UPDATE
"""
UPSERT_CREDENTIAL: Final[LiteralString] = """
INSERT INTO machine_credentials (machine_id, username, password_hash, issued_by)
VALUES (%(machine_id)s, %(username)s, %(hash)s, %(actor)s)
ON CONFLICT (machine_id) DO UPDATE SET
    password_hash = EXCLUDED.password_hash, issued_at = now(), issued_by = EXCLUDED.issued_by,
    rotations = machine_credentials.rotations + 1, revoked_at = NULL, revoked_by = NULL
RETURNING issued_at, rotations
"""
REVOKE_CREDENTIAL: Final[LiteralString] = """
UPDATE machine_credentials SET revoked_at = now(), revoked_by = %(actor)s
WHERE machine_id = %(machine_id)s AND revoked_at IS NULL
RETURNING username
"""
LIVE_CREDENTIALS: Final[LiteralString] = """
SELECT c.username, m.kind, c.password_hash
FROM machine_credentials c JOIN machines m ON m.id = c.machine_id
WHERE c.revoked_at IS NULL
"""
CREDENTIAL_OF: Final[LiteralString] = """
SELECT c.username, c.issued_at, c.issued_by, c.rotations, c.revoked_at, c.revoked_by
FROM machine_credentials c JOIN machines m ON m.id = c.machine_id
WHERE m.serial = %(serial)s
"""


@dataclass(frozen=True, slots=True)
class Issued:
    username: str
    password: str  # in clear: returned to the caller once, never stored
    publish_filter: str
    issued_at: datetime
    rotations: int
    broker_reloaded: bool


@dataclass(frozen=True, slots=True)
class CredentialState:
    username: str
    issued_at: datetime
    issued_by: str
    rotations: int
    revoked_at: datetime | None
    revoked_by: str | None


def _machine(conn: Conn, serial: str) -> tuple[int, Kind, bool]:
    row = conn.execute(MACHINE_BY_SERIAL, {"serial": serial}).fetchone()
    if row is None:
        raise NotFound(f"no machine {serial!r}")
    machine_id, kind, active = row
    return int(machine_id), Kind(str(kind)), bool(active)  # type: ignore[call-overload]


def _sync(conn: Conn, files: BrokerFiles, *, remove: tuple[str, ...] = ()) -> bool:
    """Writes every live credential to the broker's files; True if the broker was signalled."""
    rows = conn.execute(LIVE_CREDENTIALS).fetchall()
    put = {str(user): str(entry) for user, _, entry in rows}
    grants = [DeviceGrant(str(user), Kind(str(kind))) for user, kind, _ in rows]
    return apply(files, put=put, remove=remove, grants=grants).reloaded


def issue(conn: Conn, *, serial: str, files: BrokerFiles, actor: str) -> Issued:
    """New random credentials for the machine (replacing any it had) in the table and the running
    broker. Raises NotFound for an unknown serial, Conflict for a deactivated machine."""
    conn.execute(LOCK_BROKER_ACCOUNTS, {"key": LOCK_KEY})
    machine_id, kind, active = _machine(conn, serial)
    if not active:
        raise Conflict(f"machine {serial!r} is deactivated; reactivate it before provisioning")
    password = new_password()
    row = conn.execute(
        UPSERT_CREDENTIAL,
        {
            "machine_id": machine_id,
            "username": serial,
            "hash": hash_password(password),
            "actor": actor,
        },
    ).fetchone()
    assert row is not None
    issued_at, rotations = row
    reloaded = _sync(conn, files)
    return Issued(
        username=serial,
        password=password,
        publish_filter=publish_filter(DeviceGrant(serial, kind)),
        issued_at=issued_at,  # type: ignore[arg-type]
        rotations=int(rotations),  # type: ignore[call-overload]
        broker_reloaded=reloaded,
    )


def revoke(conn: Conn, *, serial: str, files: BrokerFiles, actor: str) -> bool:
    """Removes the machine's credentials from the running broker; raises NotFound when it has
    none live. Returns whether the broker was signalled."""
    conn.execute(LOCK_BROKER_ACCOUNTS, {"key": LOCK_KEY})
    machine_id, _, _ = _machine(conn, serial)
    row = conn.execute(REVOKE_CREDENTIAL, {"machine_id": machine_id, "actor": actor}).fetchone()
    if row is None:
        raise NotFound(f"machine {serial!r} has no live MQTT credentials")
    return _sync(conn, files, remove=(str(row[0]),))


def has_live(conn: Conn, *, serial: str) -> bool:
    state = credential_state(conn, serial=serial)
    return state is not None and state.revoked_at is None


def credential_state(conn: Conn, *, serial: str) -> CredentialState | None:
    row = conn.execute(CREDENTIAL_OF, {"serial": serial}).fetchone()
    if row is None:
        return None
    username, issued_at, issued_by, rotations, revoked_at, revoked_by = row
    return CredentialState(
        username=str(username),
        issued_at=issued_at,  # type: ignore[arg-type]
        issued_by=str(issued_by),
        rotations=int(rotations),  # type: ignore[call-overload]
        revoked_at=revoked_at,  # type: ignore[arg-type]
        revoked_by=None if revoked_by is None else str(revoked_by),
    )
