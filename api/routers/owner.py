"""/v1/owner: a machine owner's view. Every handler depends on OwnerPrincipal and every query is
scoped to its owner_id; another owner's machine or ticket answers 404, never its data.

Lists page by keyset (`after`/`before` from the previous page's `next_after`/`next_before`) and
take filters; times are ISO 8601, answered in UTC; errors are RFC 9457 problem details.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Response

from api import problems
from api.deps import Conn, OwnerPrincipal
from api.history import params, queries
from api.ids import PageLimit, RecordId
from api.routers.tickets_out import tickets_out
from api.schemas.owner import (
    ActiveFault,
    FaultEpisodeOut,
    FaultPage,
    MachineOut,
    MachinePage,
    MachineTelemetryOut,
    RatingIn,
    RatingOut,
    ServiceDueOut,
    ServiceForecastOut,
    ServiceRequestIn,
    SignalSeries,
    TicketDetailOut,
    TicketOut,
    TicketPage,
    TicketStep,
    UsageOut,
)
from maintenance.errors import NotFound
from maintenance.fleet import repo as fleet
from maintenance.forecast import repo as forecasts
from maintenance.service_requests import request_service
from maintenance.tickets import lifecycle
from maintenance.tickets import repo as tickets
from maintenance.tickets.model import Status
from telemetry.signals import BY_NAME
from telemetry.wire import Kind

_WHY: Final = {
    403: "the key is not an owner key",
    404: "no such machine or ticket among the owner's (another owner's answers the same)",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problems.responses(*statuses, why=_WHY)


router = APIRouter(prefix="/v1/owner", tags=["owner"], responses=_problems(401, 403, 422, 429))
ABOUT_RECORD: Final = _problems(404)


class TicketKind(enum.StrEnum):
    SERVICE_INTERVAL = "service_interval"
    FAULT_CODE = "fault_code"
    THRESHOLD = "threshold"
    SILENCE = "silence"
    ANOMALY = "anomaly"
    MANUAL = "manual"


# Ticket events an owner sees; dispatchers' notes and escalations are the dealer's business.
OWNER_VISIBLE_EVENTS: Final = frozenset({"opened", "requested", "status", "assigned", "rated"})


def _machine_out(row: fleet.MachineRow) -> MachineOut:
    return MachineOut(
        serial=row.serial,
        kind=row.kind,
        model=row.model,
        year=row.year,
        dealer=row.dealer_code,
        engine_hours=row.engine_hours,
        fuel_pct=row.fuel_pct,
        coolant_c=row.coolant_c,
        lat=row.lat,
        lon=row.lon,
        last_seen=row.last_seen,
        online=row.online,
        active_faults=[ActiveFault.model_validate(f) for f in row.active_faults],
    )


def _own_machine(conn: Conn, owner_id: int | None, serial: str) -> fleet.MachineRow:
    assert owner_id is not None  # require_owner guarantees it
    row = fleet.machine_for_owner(conn, owner_id=owner_id, serial=serial)
    if row is None:
        raise NotFound(f"no machine {serial!r}")
    return row


def _own_ticket(conn: Conn, owner_id: int | None, ticket_id: int) -> tickets.TicketRow:
    assert owner_id is not None
    row = tickets.ticket_for_owner(conn, owner_id=owner_id, ticket_id=ticket_id)
    if row is None:
        raise NotFound(f"no ticket {ticket_id}")
    return row


# --- Machines --------------------------------------------------------------------------------


@router.get("/machines", summary="The owner's machines with their latest state")
def list_machines(
    principal: OwnerPrincipal,
    conn: Conn,
    after: Annotated[str, Query(max_length=32, description="serial to continue after")] = "",
    limit: PageLimit = 50,
    kind: Kind | None = None,
    online: Annotated[bool | None, Query(description="by the last status message")] = None,
    faulty: Annotated[bool | None, Query(description="with an active fault code or not")] = None,
) -> MachinePage:
    assert principal.owner_id is not None
    rows = fleet.machines_for_owner(
        conn,
        owner_id=principal.owner_id,
        after=after,
        limit=limit,
        kind=str(kind) if kind else None,
        online=online,
        faulty=faulty,
    )
    return MachinePage(
        items=[_machine_out(r) for r in rows],
        next_after=rows[-1].serial if len(rows) == limit else None,
    )


@router.get("/machines/{serial}", summary="One of the owner's machines", responses=ABOUT_RECORD)
def get_machine(principal: OwnerPrincipal, conn: Conn, serial: str) -> MachineOut:
    return _machine_out(_own_machine(conn, principal.owner_id, serial))


@router.get(
    "/machines/{serial}/telemetry",
    summary="One machine's readings downsampled: avg, min and max per time bucket",
    responses=ABOUT_RECORD,
)
def machine_telemetry(
    principal: OwnerPrincipal,
    conn: Conn,
    serial: str,
    start: Annotated[
        datetime | None,
        Query(alias="from", description="ISO 8601 with a zone; default 24 h before `to`"),
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="ISO 8601 with a zone; default now")
    ] = None,
    bucket: Annotated[
        str | None,
        Query(
            max_length=16,
            description=f"e.g. 30s, 5m, 1h, 1d; at most {params.MAX_BUCKETS} buckets a request;"
            " default: the smallest that fits",
        ),
    ] = None,
    signals: Annotated[
        list[str] | None,
        Query(
            description="signal names, comma-separated or repeated; default "
            + ",".join(params.DEFAULT_SIGNALS)
        ),
    ] = None,
) -> MachineTelemetryOut:
    machine = _own_machine(conn, principal.owner_id, serial)
    names = params.signals_for(signals or [], kind=Kind(machine.kind))
    span = params.telemetry_range(start, end, bucket, now=datetime.now(UTC))
    data = queries.bucketed(conn, machine_id=machine.id, span=span, signals=names)
    return MachineTelemetryOut(
        serial=machine.serial,
        start=span.start,
        end=span.end,
        bucket=params.bucket_text(span.bucket),
        bucket_s=int(span.bucket.total_seconds()),
        buckets=[ts.astimezone(UTC) for ts in data.starts],
        readings=data.readings,
        series=[
            SignalSeries(signal=name, unit=BY_NAME[name].unit, avg=avg, min=lowest, max=highest)
            for name, (avg, lowest, highest) in data.stats.items()
        ],
    )


@router.get(
    "/machines/{serial}/faults",
    summary="One machine's fault history (DTC episodes), newest first",
    responses=ABOUT_RECORD,
)
def machine_faults(
    principal: OwnerPrincipal,
    conn: Conn,
    serial: str,
    before: Annotated[
        str | None, Query(max_length=64, description="next_before of the previous page")
    ] = None,
    limit: PageLimit = 50,
    active: Annotated[bool | None, Query(description="only active (or only cleared)")] = None,
    spn: Annotated[int | None, Query(ge=0, le=524_287)] = None,
) -> FaultPage:
    machine = _own_machine(conn, principal.owner_id, serial)
    rows = queries.fault_episodes(
        conn,
        machine_id=machine.id,
        before=params.FaultCursor.parse(before) if before else None,
        active=active,
        spn=spn,
        limit=limit,
    )
    last = rows[-1] if len(rows) == limit else None
    return FaultPage(
        items=[
            FaultEpisodeOut(
                spn=r.spn,
                fmi=r.fmi,
                lamp=r.lamp,
                raised_at=r.onset_ts.astimezone(UTC),
                cleared_at=r.cleared_ts.astimezone(UTC) if r.cleared_ts else None,
                last_seen_at=r.last_seen_ts.astimezone(UTC),
                active=r.cleared_ts is None,
                max_oc=r.max_oc,
                reports=r.reports,
            )
            for r in rows
        ],
        next_before=params.FaultCursor(last.onset_ts, last.spn, last.fmi).text() if last else None,
    )


@router.get(
    "/machines/{serial}/service-forecast",
    summary="When each service interval falls due, from the machine's recent usage",
    responses=ABOUT_RECORD,
)
def service_forecast(principal: OwnerPrincipal, conn: Conn, serial: str) -> ServiceForecastOut:
    machine = _own_machine(conn, principal.owner_id, serial)
    found = forecasts.service_forecast(conn, machine_id=machine.id, now=datetime.now(UTC))
    if found is None:  # removed since the check above
        raise NotFound(f"no machine {serial!r}")
    usage = found.forecast.usage
    return ServiceForecastOut(
        serial=machine.serial,
        today=found.today,
        timezone=found.timezone,
        rule_set_version=found.rule_set_version,
        engine_hours=found.forecast.engine_hours,
        usage=UsageOut(
            basis=str(usage.basis) if usage.basis else None,
            hours_per_week=round(usage.hours_per_week, 2),
            per_weekday_h=[round(h, 2) for h in usage.per_weekday] if usage.per_weekday else None,
            busy_factor=round(usage.busy, 3),
            quiet_factor=round(usage.quiet, 3),
            days_known=usage.days_known,
            reason=usage.reason,
        ),
        services=[
            ServiceDueOut(
                rule_key=s.rule_key,
                title=s.title,
                every_h=s.every_h,
                lead_h=s.lead_h,
                last_service_h=s.last_service_h,
                due_at_h=s.due_at_h,
                hours_left=s.hours_left,
                expected=s.expected,
                earliest=s.earliest,
                latest=s.latest,
                reason=s.reason,
                open_ticket_id=found.open_tickets.get(s.rule_key),
            )
            for s in found.forecast.services
        ],
    )


@router.post(
    "/machines/{serial}/service-requests",
    status_code=201,
    summary="Ask for service: opens a manual ticket (or adds to the machine's open request)",
    responses=_problems(404, 409),
)
def request_machine_service(
    principal: OwnerPrincipal,
    conn: Conn,
    serial: str,
    body: ServiceRequestIn,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="a retry with the same key answers with the first request's ticket",
        ),
    ] = None,
) -> TicketOut:
    machine = _own_machine(conn, principal.owner_id, serial)
    assert principal.owner_id is not None
    requested = request_service(
        conn,
        owner_id=principal.owner_id,
        machine_id=machine.id,
        description=body.description,
        preferred_date=body.preferred_date,
        idempotency_key=idempotency_key,
        now=datetime.now(UTC),
    )
    response.headers["Location"] = f"{router.prefix}/tickets/{requested.ticket_id}"
    row = _own_ticket(conn, principal.owner_id, requested.ticket_id)
    return tickets_out(conn, [row])[0]


# --- Tickets ---------------------------------------------------------------------------------


@router.get("/tickets", summary="Service tickets for the owner's machines, newest first")
def list_tickets(
    principal: OwnerPrincipal,
    conn: Conn,
    before: Annotated[RecordId, Query(description="ticket id to continue before")] = 2**62,
    limit: PageLimit = 50,
    status: Annotated[list[Status] | None, Query(description="any of these; repeat")] = None,
    serial: Annotated[str | None, Query(max_length=32, description="one machine's")] = None,
    kind: TicketKind | None = None,
) -> TicketPage:
    assert principal.owner_id is not None
    rows = tickets.filtered_tickets_for_owner(
        conn,
        owner_id=principal.owner_id,
        before=before,
        limit=limit,
        statuses=[str(s) for s in status] if status else None,
        serial=serial,
        kind=str(kind) if kind else None,
    )
    return TicketPage(
        items=tickets_out(conn, rows), next_before=rows[-1].id if len(rows) == limit else None
    )


@router.get(
    "/tickets/{ticket_id}",
    summary="One of the owner's tickets with its parts and history",
    responses=ABOUT_RECORD,
)
def get_ticket(principal: OwnerPrincipal, conn: Conn, ticket_id: RecordId) -> TicketDetailOut:
    row = _own_ticket(conn, principal.owner_id, ticket_id)
    base = tickets_out(conn, [row])[0]
    history = [
        TicketStep(
            at=e.at.astimezone(UTC),
            kind=e.kind,
            status=str(e.detail["to"]) if e.kind == "status" else None,
            scheduled_for=e.detail.get("scheduled_for") if e.kind == "status" else None,  # type: ignore[arg-type]
        )
        for e in lifecycle.events(conn, ticket_id=row.id)
        if e.kind in OWNER_VISIBLE_EVENTS
    ]
    return TicketDetailOut(
        **base.model_dump(),
        scheduled_for=row.scheduled_for,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
        closed_at=row.closed_at,
        satisfaction=row.satisfaction,
        history=history,
    )


@router.post(
    "/tickets/{ticket_id}/rating",
    status_code=201,
    summary="Rate a resolved or closed ticket, once (1 to 5, with a comment)",
    responses=_problems(404, 409),
)
def rate_ticket(
    principal: OwnerPrincipal, conn: Conn, ticket_id: RecordId, body: RatingIn
) -> RatingOut:
    assert principal.owner_id is not None
    with conn.transaction():
        lifecycle.rate(
            conn,
            ticket_id=ticket_id,
            owner_id=principal.owner_id,
            score=body.score,
            comment=body.comment,
        )
    comment = (body.comment or "").strip() or None
    return RatingOut(ticket_id=ticket_id, score=body.score, comment=comment)
