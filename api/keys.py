"""Key administration behind `ironlink keys create|list|revoke`: find the owner or dealer a key is
scoped to, issue it, list keys without their secrets, revoke by id or prefix.

Bad input raises maintenance.errors.Invalid or NotFound with a message meant for the operator;
the CLI prints it and exits 2. A revoked key stops working on its next request (authenticate
reads revoked_at every time)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, LiteralString

from api.auth import Conn, IssuedKey, Role, check_scope, issue_key
from api.ratelimit import DEFAULT_LIMIT, Limit
from maintenance.errors import Invalid, NotFound

MAX_LABEL_CHARS: Final = 200
_PREFIX = re.compile(r"^[0-9a-f]{12}$")
_FULL_KEY = re.compile(r"^il_([0-9a-f]{12})_")
_MAX_BIGINT: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Party:
    """An owner or dealer a key is scoped to."""

    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: int
    prefix: str
    role: Role
    owner: Party | None
    dealer: Party | None
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_per_s: float | None  # None: the API's default
    burst: int | None

    @property
    def scope(self) -> str:
        if self.owner is not None:
            return f"owner {self.owner.code}"
        if self.dealer is not None:
            return f"dealer {self.dealer.code}"
        return "all dealers" if self.role is Role.DISPATCHER else "-"

    @property
    def limit_text(self) -> str:
        if self.rate_per_s is None and self.burst is None:
            return "default"
        rate = self.rate_per_s if self.rate_per_s is not None else DEFAULT_LIMIT.rate_per_s
        burst = self.burst if self.burst is not None else DEFAULT_LIMIT.burst
        return f"{rate:g}/s burst {burst}"


# Owners and dealers are found by id, then code (their customer/dealer number), then name; names
# are not unique, so a name that fits several is refused rather than guessed.
OWNER_BY_REF: Final[LiteralString] = """
SELECT id, code, name, CASE WHEN id = %(id)s THEN 0 WHEN lower(code) = lower(%(ref)s) THEN 1
                            ELSE 2 END AS rank
FROM owners
WHERE id = %(id)s OR lower(code) = lower(%(ref)s) OR lower(name) = lower(%(ref)s)
ORDER BY rank, id
"""
DEALER_BY_REF: Final[LiteralString] = """
SELECT id, code, name, CASE WHEN id = %(id)s THEN 0 WHEN lower(code) = lower(%(ref)s) THEN 1
                            ELSE 2 END AS rank
FROM dealers
WHERE id = %(id)s OR lower(code) = lower(%(ref)s) OR lower(name) = lower(%(ref)s)
ORDER BY rank, id
"""
KEYS: Final[LiteralString] = """
SELECT k.id, k.prefix, k.role, o.id, o.code, o.name, d.id, d.code, d.name, k.label, k.created_at,
       k.revoked_at, k.last_used_at, k.rate_per_s, k.burst
FROM api_keys k
LEFT JOIN owners o ON o.id = k.owner_id
LEFT JOIN dealers d ON d.id = k.dealer_id
WHERE (%(include_revoked)s OR k.revoked_at IS NULL)
  AND (%(id)s::bigint IS NULL OR k.id = %(id)s OR k.prefix = %(prefix)s)
ORDER BY k.id
"""
REVOKE_KEY: Final[LiteralString] = """
UPDATE api_keys SET revoked_at = now() WHERE id = %(id)s AND revoked_at IS NULL
RETURNING revoked_at
"""


def _id_of(ref: str) -> int | None:
    return int(ref) if ref.isdigit() and int(ref) <= _MAX_BIGINT else None


def _party(conn: Conn, query: LiteralString, what: str, ref: str) -> Party:
    ref = ref.strip()
    if not ref:
        raise Invalid(f"give the {what} by id, code or name")
    rows = conn.execute(query, {"id": _id_of(ref), "ref": ref}).fetchall()
    if not rows:
        raise NotFound(f"no {what} with id, code or name {ref!r}")
    best = [r for r in rows if r[3] == rows[0][3]]
    if len(best) > 1:
        listed = ", ".join(f"{r[1]} (id {r[0]})" for r in best[:5])
        raise Invalid(f"{len(best)} {what}s are named {ref!r}: {listed}; give the id or code")
    row = best[0]
    return Party(int(row[0]), str(row[1]), str(row[2]))  # type: ignore[call-overload]


def find_owner(conn: Conn, ref: str) -> Party:
    return _party(conn, OWNER_BY_REF, "owner", ref)


def find_dealer(conn: Conn, ref: str) -> Party:
    return _party(conn, DEALER_BY_REF, "dealer", ref)


def limit_from(*, rate_per_s: float | None, burst: int | None) -> Limit | None:
    """A key's own limit from the operator's options: none given keeps the API defaults; one given
    takes the other from the defaults of today (stored, so later default changes pass it by)."""
    if rate_per_s is None and burst is None:
        return None
    try:
        return Limit(
            rate_per_s if rate_per_s is not None else DEFAULT_LIMIT.rate_per_s,
            burst if burst is not None else DEFAULT_LIMIT.burst,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def create(
    conn: Conn,
    *,
    role: Role,
    owner: str | None = None,
    dealer: str | None = None,
    label: str = "",
    rate_per_s: float | None = None,
    burst: int | None = None,
) -> tuple[IssuedKey, KeyRow]:
    """Issues a key for the owner or dealer named by `owner`/`dealer` (id, code or name); returns
    the key in clear (show it once) and its stored row."""
    if len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise Invalid(f"a label is printable text of at most {MAX_LABEL_CHARS} characters")
    limit = limit_from(rate_per_s=rate_per_s, burst=burst)
    # The role's shape first, so a wrong combination is named before any lookup can fail.
    check_scope(
        role=role,
        owner_id=0 if owner is not None else None,
        dealer_id=0 if dealer is not None else None,
    )
    owner_id = find_owner(conn, owner).id if owner is not None else None
    dealer_id = find_dealer(conn, dealer).id if dealer is not None else None
    with conn.transaction():
        issued = issue_key(
            conn, role=role, owner_id=owner_id, dealer_id=dealer_id, label=label, limit=limit
        )
        row = _rows(conn, id=issued.id, prefix=issued.prefix, include_revoked=True)[0]
    return issued, row


def _rows(
    conn: Conn, *, id: int | None = None, prefix: str | None = None, include_revoked: bool
) -> list[KeyRow]:
    rows = conn.execute(
        KEYS, {"include_revoked": include_revoked, "id": id, "prefix": prefix}
    ).fetchall()
    return [
        KeyRow(
            id=int(r[0]),  # type: ignore[call-overload]
            prefix=str(r[1]),
            role=Role(str(r[2])),
            owner=Party(int(r[3]), str(r[4]), str(r[5])) if r[3] is not None else None,  # type: ignore[call-overload]
            dealer=Party(int(r[6]), str(r[7]), str(r[8])) if r[6] is not None else None,  # type: ignore[call-overload]
            label=str(r[9]),
            created_at=r[10],  # type: ignore[arg-type]
            revoked_at=r[11],  # type: ignore[arg-type]
            last_used_at=r[12],  # type: ignore[arg-type]
            rate_per_s=float(r[13]) if r[13] is not None else None,  # type: ignore[arg-type]
            burst=int(r[14]) if r[14] is not None else None,  # type: ignore[call-overload]
        )
        for r in rows
    ]


def list_keys(conn: Conn, *, include_revoked: bool = False) -> list[KeyRow]:
    return _rows(conn, include_revoked=include_revoked)


def find_key(conn: Conn, ref: str) -> KeyRow:
    """A key by id, by its 12-character prefix or by the whole key (whose prefix is then used)."""
    ref = ref.strip()
    if match := _FULL_KEY.match(ref):
        ref = match.group(1)
    key_id, prefix = _id_of(ref), ref if _PREFIX.match(ref) else None
    if key_id is None and prefix is None:
        raise Invalid(f"{ref[:40]!r} is neither a key id nor a 12-character key prefix")
    # A prefix of 12 digits is also a valid id: both are looked up and two hits are refused.
    rows = _rows(conn, id=key_id if key_id is not None else -1, prefix=prefix, include_revoked=True)
    if not rows:
        raise NotFound(f"no API key with id or prefix {ref!r}")
    if len(rows) > 1:
        raise Invalid(f"{ref!r} is the id of key {rows[0].prefix} and the prefix of another")
    return rows[0]


def revoke(conn: Conn, ref: str) -> tuple[KeyRow, bool]:
    """Revokes the key named by `ref`; the bool says whether it was live until now (False: it had
    been revoked already, which is left as it was)."""
    row = find_key(conn, ref)
    done = conn.execute(REVOKE_KEY, {"id": row.id}).fetchone()
    if done is None:
        return row, False
    return _rows(conn, id=row.id, include_revoked=True)[0], True


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at else "-"


def table(rows: list[KeyRow]) -> list[str]:
    """Lines of a fixed-width table for a terminal (times in UTC, to the minute)."""
    head = ("ID", "PREFIX", "ROLE", "SCOPE", "LIMIT", "CREATED", "REVOKED", "LAST USED", "LABEL")
    cells = [head] + [
        (
            str(r.id),
            r.prefix,
            str(r.role),
            r.scope,
            r.limit_text,
            _when(r.created_at),
            _when(r.revoked_at),
            _when(r.last_used_at),
            r.label,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in cells
    ]


def as_json(row: KeyRow) -> str:
    return json.dumps(
        {
            "id": row.id,
            "prefix": row.prefix,
            "role": str(row.role),
            "owner": row.owner.code if row.owner else None,
            "dealer": row.dealer.code if row.dealer else None,
            "scope": row.scope,
            "label": row.label,
            "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "rate_per_s": row.rate_per_s,
            "burst": row.burst,
        }
    )
