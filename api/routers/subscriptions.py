"""Alert subscriptions: owners manage their own (/v1/owner/subscriptions), dispatchers their
dealer's (/v1/dispatch/subscriptions), in the same shape.

A webhook's signing secret is made here and answered once, on create; it is never listed. Removing
a subscription switches it off (maintenance.alerts.subscriptions.deactivate): it is gone from the
list and its pending alerts are given up. Another owner's or dealer's subscription answers 404,
like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Response

from api import problems
from api.auth import Principal
from api.deps import Conn, DispatcherPrincipal, OwnerPrincipal
from api.ids import After, PageLimit, RecordId
from api.schemas import subscriptions as s
from maintenance.alerts import policy, subscriptions
from maintenance.alerts.model import Audience, Channel, QuietHours, Subscription
from maintenance.errors import Invalid
from maintenance.fleet import dealer_scope

_OWNER_WHY: Final = {
    403: "the key is not an owner key",
    404: "no such subscription among the owner's (another owner's answers the same)",
    409: "the owner already has an active subscription on this channel to this target",
}
_DISPATCH_WHY: Final = {
    403: "the key is not a dispatcher or admin key",
    404: "no such subscription or dealer in the key's scope (another dealer's answers the same)",
    409: "the dealer already has an active subscription on this channel to this target",
}

AfterId = Annotated[After, Query(description="next_after of the previous page")]


def _owner_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problems.responses(*statuses, why=_OWNER_WHY)


def _dispatch_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problems.responses(*statuses, why=_DISPATCH_WHY)


owner_router = APIRouter(
    prefix="/v1/owner/subscriptions",
    tags=["owner"],
    responses=_owner_problems(401, 403, 422, 429),
)
dispatch_router = APIRouter(
    prefix="/v1/dispatch/subscriptions",
    tags=["dispatch"],
    responses=_dispatch_problems(401, 403, 422, 429),
)


def _quiet(body: s.SubscriptionIn) -> QuietHours | None:
    policy.zone(body.timezone)  # a bad zone is refused even without quiet hours
    if body.quiet_hours is None:
        return None
    return policy.parse_quiet(body.quiet_hours, timezone=body.timezone)


def _fields(sub: Subscription) -> dict[str, Any]:
    q = sub.quiet
    return {
        "id": sub.id,
        "channel": sub.channel,
        "target": sub.target,
        "event_kinds": sub.event_kinds,
        "quiet_hours": f"{q.start:%H:%M}-{q.end:%H:%M}" if q else None,
        "timezone": q.timezone if q else "UTC",
    }


def _create(
    conn: Conn, body: s.SubscriptionIn, *, audience: Audience, recipient_id: int
) -> tuple[Subscription, str | None]:
    quiet = _quiet(body)
    secret = subscriptions.new_secret() if body.channel is Channel.WEBHOOK else None
    with conn.transaction():
        sid = subscriptions.subscribe(
            conn,
            audience=audience,
            recipient_id=recipient_id,
            channel=body.channel,
            target=body.target,
            secret=secret,
            event_kinds=[str(k) for k in body.event_kinds] if body.event_kinds else None,
            quiet=quiet,
        )
    [made] = subscriptions.subscriptions(
        conn, after=sid - 1, limit=1, **_scope_of(audience, recipient_id)
    )
    return made, secret


def _scope_of(audience: Audience, recipient_id: int) -> dict[str, Any]:
    if audience is Audience.OWNER:
        return {"owner_id": recipient_id, "audience": audience}
    return {"dealer_id": recipient_id, "audience": audience}


def _owner_id(principal: Principal) -> int:
    assert principal.owner_id is not None  # require_owner
    return principal.owner_id


# --- Owner ----------------------------------------------------------------------------------------


@owner_router.get("", summary="The owner's active alert subscriptions, by id")
def list_owner_subscriptions(
    principal: OwnerPrincipal, conn: Conn, after: AfterId = 0, limit: PageLimit = 50
) -> s.SubscriptionPage:
    rows = subscriptions.subscriptions(
        conn, owner_id=_owner_id(principal), active=True, after=after, limit=limit
    )
    return s.SubscriptionPage(
        items=[s.SubscriptionOut(**_fields(r)) for r in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@owner_router.post(
    "",
    status_code=201,
    summary="Subscribe to alerts by webhook or e-mail; a webhook's secret is answered only here",
    responses=_owner_problems(409),
)
def create_owner_subscription(
    principal: OwnerPrincipal, conn: Conn, body: s.SubscriptionIn
) -> s.SubscriptionCreated:
    made, secret = _create(conn, body, audience=Audience.OWNER, recipient_id=_owner_id(principal))
    return s.SubscriptionCreated(**_fields(made), secret=secret)


@owner_router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Stop a subscription: no further alerts, its pending ones are given up",
    responses=_owner_problems(404),
)
def delete_owner_subscription(
    principal: OwnerPrincipal, conn: Conn, subscription_id: RecordId
) -> Response:
    with conn.transaction():
        subscriptions.deactivate(
            conn,
            subscription_id=subscription_id,
            owner_id=_owner_id(principal),
            audience=Audience.OWNER,
        )
    return Response(status_code=204)


# --- Dispatch -------------------------------------------------------------------------------------


def _dealer_in_scope(conn: Conn, principal: Principal, code: str | None) -> int | None:
    """The dealer named by `code` within the key's scope, else the key's own dealer (None: an
    unbound key without a code, meaning every dealer)."""
    if code is None:
        return principal.dealer_id
    return dealer_scope.dealer_id_in_scope(conn, code=code, scope=principal.dealer_id)


def _dispatch_out(sub: Subscription) -> s.DispatchSubscriptionOut:
    return s.DispatchSubscriptionOut(**_fields(sub), dealer=sub.dealer_code or "")


@dispatch_router.get(
    "",
    summary="Active alert subscriptions of the key's dealer (or of every dealer)",
    responses=_dispatch_problems(404),
)
def list_dispatch_subscriptions(
    principal: DispatcherPrincipal,
    conn: Conn,
    dealer: Annotated[
        str | None, Query(min_length=1, max_length=64, description="only this dealer's (code)")
    ] = None,
    after: AfterId = 0,
    limit: PageLimit = 50,
) -> s.DispatchSubscriptionPage:
    rows = subscriptions.subscriptions(
        conn,
        dealer_id=_dealer_in_scope(conn, principal, dealer),
        audience=Audience.DEALER,
        active=True,
        after=after,
        limit=limit,
    )
    return s.DispatchSubscriptionPage(
        items=[_dispatch_out(r) for r in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@dispatch_router.post(
    "",
    status_code=201,
    summary="Subscribe the dealer to alerts by webhook or e-mail; a webhook's secret is answered"
    " only here",
    responses=_dispatch_problems(404, 409),
)
def create_dispatch_subscription(
    principal: DispatcherPrincipal, conn: Conn, body: s.DispatchSubscriptionIn
) -> s.DispatchSubscriptionCreated:
    dealer_id = _dealer_in_scope(conn, principal, body.dealer)
    if dealer_id is None:
        raise Invalid("a key bound to no dealer names the dealer to subscribe (`dealer`)")
    made, secret = _create(conn, body, audience=Audience.DEALER, recipient_id=dealer_id)
    return s.DispatchSubscriptionCreated(**_dispatch_out(made).model_dump(), secret=secret)


@dispatch_router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Stop a dealer subscription: no further alerts, its pending ones are given up",
    responses=_dispatch_problems(404),
)
def delete_dispatch_subscription(
    principal: DispatcherPrincipal, conn: Conn, subscription_id: RecordId
) -> Response:
    with conn.transaction():
        subscriptions.deactivate(
            conn,
            subscription_id=subscription_id,
            dealer_id=principal.dealer_id,
            audience=Audience.DEALER,
        )
    return Response(status_code=204)
