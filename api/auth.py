"""API keys: `il_<prefix>_<secret>`; only the SHA-256 of the whole key is stored. The prefix
finds the
row, and the hash is compared in constant time. Keys carry 256 bits of randomness, so a fast hash is
enough (no password stretching needed)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final, LiteralString

import psycopg


class Role(enum.StrEnum):
    OWNER = "owner"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    role: Role
    owner_id: int | None
    dealer_id: int | None


INSERT_KEY: Final[LiteralString] = """
INSERT INTO api_keys (prefix, key_sha256, role, owner_id, dealer_id, label)
VALUES (%(prefix)s, %(hash)s, %(role)s, %(owner_id)s, %(dealer_id)s, %(label)s) RETURNING id
"""
KEY_BY_PREFIX: Final[LiteralString] = """
SELECT id, key_sha256, role, owner_id, dealer_id FROM api_keys
WHERE prefix = %(prefix)s AND revoked_at IS NULL
"""
REVOKE_BY_LABEL: Final[LiteralString] = """
UPDATE api_keys SET revoked_at = now() WHERE label = %(label)s AND revoked_at IS NULL
"""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"il_{prefix}_{secrets.token_urlsafe(32)}"


def create_key(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    role: Role,
    owner_id: int | None = None,
    dealer_id: int | None = None,
    label: str = "",
) -> str:
    """Stores a new key and returns it in clear: the only time it is ever seen."""
    prefix, key = new_key()
    conn.execute(
        INSERT_KEY,
        {
            "prefix": prefix,
            "hash": _digest(key),
            "role": str(role),
            "owner_id": owner_id,
            "dealer_id": dealer_id,
            "label": label,
        },
    )
    return key


def revoke_label(conn: psycopg.Connection[tuple[object, ...]], *, label: str) -> int:
    return conn.execute(REVOKE_BY_LABEL, {"label": label}).rowcount


def authenticate(conn: psycopg.Connection[tuple[object, ...]], key: str) -> Principal | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "il":
        return None
    row = conn.execute(KEY_BY_PREFIX, {"prefix": parts[1]}).fetchone()
    if row is None:
        _digest(key)  # spend the same work as a match would
        return None
    key_id, stored, role, owner_id, dealer_id = row
    if not hmac.compare_digest(bytes(stored), _digest(key)):  # type: ignore[call-overload]
        return None
    return Principal(int(key_id), Role(str(role)), owner_id, dealer_id)  # type: ignore[call-overload, arg-type]
