"""Alert subscriptions of owners and dealers: create, list, switch off. In the caller's
transaction.

Switching off keeps the row (outbox rows refer to it); subscribing again to the same channel and
target switches that row back on with the new settings and secret, since the table allows one row
per recipient, channel and target.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import time
from typing import Final, LiteralString, TypeAlias

import psycopg

from maintenance.alerts import policy
from maintenance.alerts.model import AlertKind, Audience, Channel, QuietHours, Subscription
from maintenance.errors import Conflict, Invalid, NotFound

Conn: TypeAlias = psycopg.Connection[tuple[object, ...]]

# HMAC keys shorter than this are guessable; the table's CHECK says the same.
MIN_SECRET_CHARS: Final = 16

INSERT_SUBSCRIPTION: Final[LiteralString] = """
INSERT INTO alert_subscriptions (owner_id, dealer_id, channel, target, secret, event_kinds,
                                 quiet_start, quiet_end, timezone)
VALUES (%(owner_id)s, %(dealer_id)s, %(channel)s, %(target)s, %(secret)s, %(event_kinds)s,
        %(quiet_start)s, %(quiet_end)s, %(timezone)s)
ON CONFLICT (owner_id, dealer_id, channel, target) DO UPDATE
SET secret = EXCLUDED.secret, event_kinds = EXCLUDED.event_kinds,
    quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
    timezone = EXCLUDED.timezone, active = true, created_at = now()
WHERE NOT alert_subscriptions.active
RETURNING id
"""
RECIPIENT_EXISTS: Final[LiteralString] = """
SELECT (SELECT count(*) FROM owners WHERE id = %(owner_id)s)
     + (SELECT count(*) FROM dealers WHERE id = %(dealer_id)s)
"""
# audience 'owner' or 'dealer' keeps that audience's rows only; active NULL keeps both states.
SUBSCRIPTIONS: Final[LiteralString] = """
SELECT s.id, s.owner_id, s.dealer_id, s.channel, s.target, s.event_kinds, s.quiet_start,
       s.quiet_end, s.timezone, s.active, d.code
FROM alert_subscriptions s
LEFT JOIN dealers d ON d.id = s.dealer_id
WHERE (%(owner_id)s::bigint IS NULL OR s.owner_id = %(owner_id)s)
  AND (%(dealer_id)s::bigint IS NULL OR s.dealer_id = %(dealer_id)s)
  AND (%(audience)s::text IS NULL
       OR (%(audience)s = 'owner' AND s.owner_id IS NOT NULL)
       OR (%(audience)s = 'dealer' AND s.dealer_id IS NOT NULL))
  AND (%(active)s::boolean IS NULL OR s.active = %(active)s)
  AND s.id > %(after)s
ORDER BY s.id
LIMIT %(limit)s
"""
OWNER_BY_REF: Final[LiteralString] = (
    "SELECT id FROM owners WHERE id::text = %(ref)s OR code = %(ref)s ORDER BY id LIMIT 2"
)
DEALER_BY_REF: Final[LiteralString] = (
    "SELECT id FROM dealers WHERE id::text = %(ref)s OR code = %(ref)s ORDER BY id LIMIT 2"
)
# Scoped like SUBSCRIPTIONS: a row outside the caller's scope is as missing as no row at all.
DEACTIVATE: Final[LiteralString] = """
UPDATE alert_subscriptions SET active = false
WHERE id = %(id)s
  AND (%(owner_id)s::bigint IS NULL OR owner_id = %(owner_id)s)
  AND (%(dealer_id)s::bigint IS NULL OR dealer_id = %(dealer_id)s)
  AND (%(audience)s::text IS NULL
       OR (%(audience)s = 'owner' AND owner_id IS NOT NULL)
       OR (%(audience)s = 'dealer' AND dealer_id IS NOT NULL))
RETURNING id
"""
# Webhook secrets made for a caller who did not bring one: 32 random bytes.
SECRET_BYTES: Final = 32


def subscribe(
    conn: Conn,
    *,
    audience: Audience,
    recipient_id: int,
    channel: Channel,
    target: str,
    secret: str | None = None,
    event_kinds: Iterable[str] | None = None,
    quiet: QuietHours | None = None,
) -> int:
    """A new active subscription; its kinds default to the audience's (policy.DEFAULT_KINDS).
    Raises Invalid (target, secret, kinds, zone), NotFound (recipient) or Conflict (the recipient
    has this channel and target already)."""
    kinds = policy.kinds_for(audience, event_kinds)
    target = policy.check_target(channel, target)
    if channel is Channel.WEBHOOK and (secret is None or len(secret) < MIN_SECRET_CHARS):
        raise Invalid(f"a webhook needs a signing secret of at least {MIN_SECRET_CHARS} chars")
    if quiet is not None:
        policy.zone(quiet.timezone)
    ids = {
        "owner_id": recipient_id if audience is Audience.OWNER else None,
        "dealer_id": recipient_id if audience is Audience.DEALER else None,
    }
    found = conn.execute(RECIPIENT_EXISTS, ids).fetchone()
    if found is None or found[0] != 1:
        raise NotFound(f"{audience} {recipient_id} does not exist")
    row = conn.execute(
        INSERT_SUBSCRIPTION,
        {
            **ids,
            "channel": str(channel),
            "target": target,
            "secret": secret if channel is Channel.WEBHOOK else None,
            "event_kinds": [str(k) for k in kinds],
            "quiet_start": quiet.start if quiet else None,
            "quiet_end": quiet.end if quiet else None,
            "timezone": quiet.timezone if quiet else "UTC",
        },
    ).fetchone()
    if row is None:
        raise Conflict(
            f"{audience} {recipient_id} already has an active {channel} subscription to {target}"
        )
    subscription_id = row[0]
    assert isinstance(subscription_id, int)
    return subscription_id


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(SECRET_BYTES)


def subscriptions(
    conn: Conn,
    *,
    owner_id: int | None = None,
    dealer_id: int | None = None,
    audience: Audience | None = None,
    active: bool | None = None,
    after: int = 0,
    limit: int = 10_000,
) -> list[Subscription]:
    """In id order, after id `after`; scoped by owner, dealer and audience when given."""
    out: list[Subscription] = []
    rows = conn.execute(
        SUBSCRIPTIONS,
        {
            "owner_id": owner_id,
            "dealer_id": dealer_id,
            "audience": str(audience) if audience else None,
            "active": active,
            "after": after,
            "limit": limit,
        },
    )
    for sid, owner, dealer, channel, target, kinds, q_start, q_end, tz, active_, code in rows:
        quiet = None
        if isinstance(q_start, time) and isinstance(q_end, time):
            quiet = QuietHours(q_start, q_end, str(tz))
        out.append(
            Subscription(
                id=int(sid),  # type: ignore[call-overload]
                owner_id=int(owner) if owner is not None else None,  # type: ignore[call-overload]
                dealer_id=int(dealer) if dealer is not None else None,  # type: ignore[call-overload]
                channel=Channel(str(channel)),
                target=str(target),
                event_kinds=[AlertKind(k) for k in kinds],  # type: ignore[attr-defined]
                quiet=quiet,
                active=bool(active_),
                dealer_code=str(code) if code is not None else None,
            )
        )
    return out


def deactivate(
    conn: Conn,
    *,
    subscription_id: int,
    owner_id: int | None = None,
    dealer_id: int | None = None,
    audience: Audience | None = None,
) -> None:
    """Off for new events; its pending rows are given up at their next claim. NotFound for a
    missing subscription and one outside the given scope alike."""
    params = {
        "id": subscription_id,
        "owner_id": owner_id,
        "dealer_id": dealer_id,
        "audience": str(audience) if audience else None,
    }
    if conn.execute(DEACTIVATE, params).fetchone() is None:
        raise NotFound(f"subscription {subscription_id} does not exist")


def recipient_id(conn: Conn, *, audience: Audience, ref: str) -> int:
    """An owner or dealer named by id or code."""
    query = OWNER_BY_REF if audience is Audience.OWNER else DEALER_BY_REF
    rows = conn.execute(query, {"ref": ref.strip()}).fetchall()
    if len(rows) != 1 or not isinstance(rows[0][0], int):
        raise NotFound(f"no single {audience} with id or code {ref!r}")
    return rows[0][0]
