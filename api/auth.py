"""API keys: `il_<prefix>_<secret>`; only the SHA-256 of the whole key is stored. The prefix finds
the row, and the hash is compared in constant time. Keys carry 256 bits of randomness, so a fast
hash is enough (no password stretching needed).

A key is bound to a role and a scope: `owner` to one owner, `dispatcher` to one dealer or (no
dealer) all, `admin` to nothing. Issuing, listing and revoking by an operator is in api/keys.py."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, LiteralString

import psycopg

from api.ratelimit import DEFAULT_LIMIT, Limit
from maintenance.errors import Invalid

Conn = psycopg.Connection[tuple[object, ...]]


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
    limit: Limit | None = None  # the key's own rate limit; None: the limiter's default


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: int
    prefix: str
    key: str  # in clear: shown once to whoever asked for it, never stored


INSERT_KEY: Final[LiteralString] = """
INSERT INTO api_keys (prefix, key_sha256, role, owner_id, dealer_id, label, rate_per_s, burst)
VALUES (%(prefix)s, %(hash)s, %(role)s, %(owner_id)s, %(dealer_id)s, %(label)s, %(rate_per_s)s,
        %(burst)s)
RETURNING id
"""
# `stale` says whether last_used_at is due for a write; see LAST_USED_EVERY.
KEY_BY_PREFIX: Final[LiteralString] = """
SELECT id, key_sha256, role, owner_id, dealer_id, rate_per_s, burst,
       last_used_at IS NULL OR last_used_at < now() - %(every)s AS stale
FROM api_keys
WHERE prefix = %(prefix)s AND revoked_at IS NULL
"""
TOUCH_KEY: Final[LiteralString] = "UPDATE api_keys SET last_used_at = now() WHERE id = %(id)s"
REVOKE_BY_LABEL: Final[LiteralString] = """
UPDATE api_keys SET revoked_at = now() WHERE label = %(label)s AND revoked_at IS NULL
"""

# last_used_at is for an operator deciding which keys to revoke, so minute precision is enough and
# a key in steady use costs one write a minute rather than one per request.
LAST_USED_EVERY: Final = timedelta(minutes=1)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"il_{prefix}_{secrets.token_urlsafe(32)}"


def check_scope(*, role: Role, owner_id: int | None, dealer_id: int | None) -> None:
    """The role/scope pairs the api_keys table accepts, with a reason a person can act on."""
    if role is Role.OWNER and owner_id is None:
        raise Invalid("an owner key needs an owner")
    if role is Role.OWNER and dealer_id is not None:
        raise Invalid("an owner key is scoped by its owner alone; give no dealer")
    if role is Role.DISPATCHER and owner_id is not None:
        raise Invalid("a dispatcher key is scoped to a dealer (or all), not to an owner")
    if role is Role.ADMIN and (owner_id is not None or dealer_id is not None):
        raise Invalid("an admin key has no owner or dealer scope")


def issue_key(
    conn: Conn,
    *,
    role: Role,
    owner_id: int | None = None,
    dealer_id: int | None = None,
    label: str = "",
    limit: Limit | None = None,
) -> IssuedKey:
    """Stores a new key (only its hash) and returns it in clear: the only time it is ever seen.
    `limit` None leaves the key on the API's default limits, following them if they change."""
    check_scope(role=role, owner_id=owner_id, dealer_id=dealer_id)
    prefix, key = new_key()
    row = conn.execute(
        INSERT_KEY,
        {
            "prefix": prefix,
            "hash": _digest(key),
            "role": str(role),
            "owner_id": owner_id,
            "dealer_id": dealer_id,
            "label": label,
            "rate_per_s": limit.rate_per_s if limit else None,
            "burst": limit.burst if limit else None,
        },
    ).fetchone()
    assert row is not None
    return IssuedKey(int(row[0]), prefix, key)  # type: ignore[call-overload]


def create_key(
    conn: Conn,
    *,
    role: Role,
    owner_id: int | None = None,
    dealer_id: int | None = None,
    label: str = "",
    limit: Limit | None = None,
) -> str:
    """Like issue_key, for callers that need only the key itself (demo seeding, tests)."""
    return issue_key(
        conn, role=role, owner_id=owner_id, dealer_id=dealer_id, label=label, limit=limit
    ).key


def revoke_label(conn: Conn, *, label: str) -> int:
    return conn.execute(REVOKE_BY_LABEL, {"label": label}).rowcount


def authenticate(conn: Conn, key: str) -> Principal | None:
    """The principal of a live key, or None for a malformed, unknown, wrong or revoked one (the
    caller cannot tell which). Records the key's use at most once per LAST_USED_EVERY."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "il":
        return None
    row = conn.execute(KEY_BY_PREFIX, {"prefix": parts[1], "every": LAST_USED_EVERY}).fetchone()
    if row is None:
        _digest(key)  # spend the same work as a match would
        return None
    key_id, stored, role, owner_id, dealer_id, rate_per_s, burst, stale = row
    if not hmac.compare_digest(bytes(stored), _digest(key)):  # type: ignore[call-overload]
        return None
    if stale:
        conn.execute(TOUCH_KEY, {"id": key_id})
    limit = None
    if rate_per_s is not None or burst is not None:
        # `keys create` stores both; a row edited by hand to hold one takes the other's constant.
        limit = Limit(
            float(rate_per_s) if rate_per_s is not None else DEFAULT_LIMIT.rate_per_s,  # type: ignore[arg-type]
            int(burst) if burst is not None else DEFAULT_LIMIT.burst,  # type: ignore[call-overload]
        )
    return Principal(
        int(key_id),  # type: ignore[call-overload]
        Role(str(role)),
        owner_id,  # type: ignore[arg-type]
        dealer_id,  # type: ignore[arg-type]
        limit,
    )
