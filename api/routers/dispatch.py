"""/v1/dispatch: the dispatcher's desk. Ticket queue and detail, assignment, state changes, notes,
parts and stock, technicians, the customer view, fleet health and positions.

Scope: a dispatcher key bound to a dealer sees that dealer's tickets, machines, stock, technicians
and customers only; another dealer's record answers 404 exactly like a missing one. An unbound
dispatcher key and admin keys see everything. Writes go through maintenance.tickets.lifecycle with
the key's label (or id) as the actor, one transaction per request.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, LiteralString

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.auth import Principal
from api.deps import Conn, DispatcherPrincipal
from api.ids import After, PageLimit, RecordId
from api.routers.tickets_out import ticket_out
from api.schemas import dispatch as s
from api.schemas.owner import ActiveFault
from maintenance.crm import customer as crm
from maintenance.crm import scope as crm_scope
from maintenance.errors import Invalid
from maintenance.fleet import dealer_scope, health, technician_load
from maintenance.parts import stock_view
from maintenance.rules.model import Priority
from maintenance.tickets import detail, lifecycle, parts_requests, policy, queue
from maintenance.tickets import repo as tickets
from maintenance.tickets.model import CLOSED_STATUSES, LIVE_STATUSES, Status
from maintenance.tickets.queue import Sort
from telemetry import reader

router = APIRouter(
    prefix="/v1/dispatch", tags=["dispatch"], responses=s.problems(401, 403, 422, 429)
)

KEY_LABEL: Final[LiteralString] = "SELECT label FROM api_keys WHERE id = %(id)s"


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


def _actor(conn: Conn, principal: Principal) -> str:
    """Who a change is recorded as: `dispatcher:<label>`, or `dispatcher:key-<id>` unlabelled."""
    row = conn.execute(KEY_LABEL, {"id": principal.key_id}).fetchone()
    label = str(row[0]) if row and row[0] else f"key-{principal.key_id}"
    return f"{principal.role}:{label}"


def _finished_at(row: queue.QueueRow) -> datetime | None:
    if Status(row.status) not in CLOSED_STATUSES:
        return None
    return row.resolved_at or row.cancelled_at or row.closed_at


def _tickets_out(
    conn: Conn, rows: list[queue.QueueRow], now: datetime
) -> list[s.DispatchTicketOut]:
    parts = tickets.parts_for_tickets(conn, [r.id for r in rows])
    return [
        ticket_out(
            r,
            parts[r.id],
            s.DispatchTicketOut,
            owner_id=r.owner_id,
            assigned_technician=(
                s.TechnicianRef(id=r.assigned_technician_id, name=r.technician_name or "")
                if r.assigned_technician_id is not None
                else None
            ),
            scheduled_for=r.scheduled_for,
            sla=s.SlaOut.model_validate(
                dataclasses.asdict(
                    detail.sla(
                        due_at=r.sla_due_at,
                        status=Status(r.status),
                        finished_at=_finished_at(r),
                        now=now,
                    )
                )
            ),
        )
        for r in rows
    ]


# The earliest a telemetry window may be asked to end: the window's start stays a real datetime.
EARLIEST_WINDOW_END: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _detail(
    conn: Conn, row: queue.QueueRow, now: datetime, telemetry_end: datetime | None = None
) -> s.TicketDetail:
    (summary,) = _tickets_out(conn, [row], now)
    state = next(iter(reader.states(conn, [row.machine_id])), None)
    end = detail.window_end(conn, machine_id=row.machine_id, finished_at=_finished_at(row), now=now)
    if telemetry_end is not None:
        asked = telemetry_end if telemetry_end.tzinfo else telemetry_end.replace(tzinfo=UTC)
        end = max(min(end, asked), EARLIEST_WINDOW_END)
    window = detail.telemetry_window(
        conn, machine_id=row.machine_id, signals=detail.signals_of(row.evidence), end=end
    )
    return s.TicketDetail(
        **summary.model_dump(),
        resolution=row.resolution,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        cancelled_at=row.cancelled_at,
        cancelled_reason=row.cancelled_reason,
        satisfaction=row.satisfaction,
        machine=s.MachineBrief(
            serial=row.serial,
            kind=row.machine_kind,
            model=row.machine_model,
            online=state.online if state else None,
            last_seen=state.ts if state else None,
            lat=state.lat if state else None,
            lon=state.lon if state else None,
            engine_hours=state.engine_hours if state else None,
            active_faults=[ActiveFault.model_validate(f) for f in state.active_faults]
            if state
            else [],
        ),
        events=[
            s.EventOut.model_validate(dataclasses.asdict(e))
            for e in lifecycle.events(conn, ticket_id=row.id)
        ],
        telemetry=s.TelemetryOut(
            start=window.start,
            end=window.end,
            bucket_s=int(window.bucket.total_seconds()),
            series=[
                s.TelemetrySeries.model_validate(dataclasses.asdict(series))
                for series in window.series
            ],
        ),
        transitions=[t for t in Status if t in policy.TRANSITIONS[Status(row.status)]],
    )


def _scoped_ticket(conn: Conn, principal: Principal, ticket_id: int) -> queue.QueueRow:
    return queue.ticket(conn, ticket_id=ticket_id, dealer_id=principal.dealer_id)


# --- Tickets --------------------------------------------------------------------------------------


@router.get("/tickets", summary="Ticket queue, filtered and sorted", responses=s.problems(404))
def list_tickets(
    principal: DispatcherPrincipal,
    conn: Conn,
    status: Annotated[list[Status] | None, Query(description="any of these statuses")] = None,
    live: Annotated[bool, Query(description="only unfinished tickets")] = False,
    priority: Annotated[list[Priority] | None, Query(description="any of these")] = None,
    dealer: Annotated[str | None, Query(max_length=64, description="dealer code")] = None,
    technician_id: RecordId | None = None,
    unassigned: bool = False,
    due_before: Annotated[datetime | None, Query(description="SLA due before this")] = None,
    serial: Annotated[str | None, Query(max_length=32)] = None,
    sort: Annotated[
        Sort,
        Query(
            description="sla: soonest deadline first; priority: critical"
            " first, then deadline; opened: newest first"
        ),
    ] = Sort.SLA,
    after: Annotated[str, Query(max_length=80, description="next_after of the previous page")] = "",
    limit: PageLimit = 50,
) -> s.QueuePage:
    statuses = set(map(str, status or ()))
    if live:
        statuses = (statuses or set(map(str, Status))) & set(map(str, LIVE_STATUSES))
        if not statuses:
            return s.QueuePage(items=[], next_after=None)  # only finished statuses asked for
    dealer_id = principal.dealer_id
    if dealer is not None:
        dealer_id = dealer_scope.dealer_id_in_scope(conn, code=dealer, scope=principal.dealer_id)
    filters = queue.Filters(
        dealer_id=dealer_id,
        statuses=statuses,
        priorities={str(p) for p in priority or ()},
        technician_id=technician_id,
        unassigned=unassigned,
        due_before=due_before,
        serial=serial,
    )
    position = queue.Position.decode(after, sort=sort) if after else None
    rows = queue.queue(conn, filters=filters, sort=sort, after=position, limit=limit)
    last = queue.Position.of(sort, rows[-1]).encode() if len(rows) == limit else None
    return s.QueuePage(items=_tickets_out(conn, rows, datetime.now(UTC)), next_after=last)


@router.get(
    "/tickets/{ticket_id}",
    summary="One ticket with evidence, events, parts, SLA and recent telemetry",
    responses=s.problems(404),
)
def get_ticket(
    principal: DispatcherPrincipal,
    conn: Conn,
    ticket_id: RecordId,
    telemetry_end: Annotated[
        datetime | None,
        Query(
            description="end the telemetry window here (the finding's time, say) instead of at"
            " the newest reading; never later than the newest reading or the ticket's finish"
        ),
    ] = None,
) -> s.TicketDetail:
    return _detail(
        conn, _scoped_ticket(conn, principal, ticket_id), datetime.now(UTC), telemetry_end
    )


@router.post(
    "/tickets/{ticket_id}/assign",
    summary="Assign a technician of the ticket's dealer",
    responses=s.problems(404, 409),
)
def assign(
    principal: DispatcherPrincipal, conn: Conn, ticket_id: RecordId, body: s.AssignIn
) -> s.TicketDetail:
    actor = _actor(conn, principal)
    with conn.transaction():
        _scoped_ticket(conn, principal, ticket_id)
        lifecycle.assign(conn, ticket_id=ticket_id, technician_id=body.technician_id, actor=actor)
    return get_ticket(principal, conn, ticket_id)


@router.post(
    "/tickets/{ticket_id}/transition",
    summary="Move the ticket to another status",
    description="The status machine is maintenance.tickets.policy.TRANSITIONS; a change it does"
    " not allow is 409 invalid-transition naming the statuses reachable from the current one.",
    responses=s.problems(404, 409),
)
def transition(
    principal: DispatcherPrincipal, conn: Conn, ticket_id: RecordId, body: s.TransitionIn
) -> s.TicketDetail:
    if body.resolution is not None and body.to is not Status.RESOLVED:
        raise Invalid(f"a resolution is given when resolving, not when moving to {body.to}")
    actor = _actor(conn, principal)
    now = datetime.now(UTC)
    with conn.transaction():
        _scoped_ticket(conn, principal, ticket_id)
        note = body.note
        if body.to is Status.RESOLVED and body.resolution is not None:
            # The resolution is the transition's text; a note given beside it is kept as a note.
            if note is not None and note.strip():
                lifecycle.add_note(conn, ticket_id=ticket_id, actor=actor, text=note, now=now)
            note = body.resolution
        lifecycle.transition(
            conn,
            ticket_id=ticket_id,
            to=body.to,
            actor=actor,
            note=note,
            scheduled_for=body.scheduled_for,
            labour_h=body.labour_h,
            engine_hours=body.engine_hours,
            now=now,
        )
    return get_ticket(principal, conn, ticket_id)


@router.post(
    "/tickets/{ticket_id}/notes",
    summary="Add a note to the ticket's history",
    status_code=201,
    responses=s.problems(404),
)
def add_note(
    principal: DispatcherPrincipal, conn: Conn, ticket_id: RecordId, body: s.NoteIn
) -> s.TicketDetail:
    actor = _actor(conn, principal)
    with conn.transaction():
        _scoped_ticket(conn, principal, ticket_id)
        lifecycle.add_note(conn, ticket_id=ticket_id, actor=actor, text=body.text)
    return get_ticket(principal, conn, ticket_id)


# --- Parts and stock ------------------------------------------------------------------------------


def _parts_out(p: parts_requests.PartsRequest) -> s.PartsRequestDetail:
    return s.PartsRequestDetail.model_validate(dataclasses.asdict(p) | {"dealer": p.dealer_code})


@router.get(
    "/tickets/{ticket_id}/parts",
    summary="The ticket's parts requests, oldest first",
    responses=s.problems(404),
)
def list_parts(
    principal: DispatcherPrincipal,
    conn: Conn,
    ticket_id: RecordId,
    status: Annotated[
        list[parts_requests.RequestStatus] | None, Query(description="any of these")
    ] = None,
    after: Annotated[After, Query(description="request id to continue after")] = 0,
    limit: PageLimit = 50,
) -> s.PartsPage:
    _scoped_ticket(conn, principal, ticket_id)
    rows = parts_requests.requests_of_ticket(
        conn,
        ticket_id=ticket_id,
        statuses={str(v) for v in status or ()},
        after=after,
        limit=limit,
    )
    return s.PartsPage(
        items=[_parts_out(r) for r in rows], next_after=rows[-1].id if len(rows) == limit else None
    )


@router.post(
    "/tickets/{ticket_id}/parts",
    summary="Request a part: reserved at the ticket's dealer, or backordered",
    status_code=201,
    responses=s.problems(404, 409),
)
def request_part(
    principal: DispatcherPrincipal, conn: Conn, ticket_id: RecordId, body: s.PartsRequestIn
) -> s.PartsRequestDetail:
    actor = _actor(conn, principal)
    with conn.transaction():
        _scoped_ticket(conn, principal, ticket_id)
        made = parts_requests.request_part(
            conn,
            ticket_id=ticket_id,
            part_no=body.part_no,
            qty=body.qty,
            description=body.description,
            actor=actor,
        )
    return _parts_out(made)


@router.get(
    "/dealers/{dealer_code}/stock",
    summary="A dealer's parts stock by part number",
    responses=s.problems(404),
)
def dealer_stock(
    principal: DispatcherPrincipal,
    conn: Conn,
    dealer_code: str,
    prefix: Annotated[str, Query(max_length=64, description="part numbers starting so")] = "",
    low: Annotated[
        bool, Query(description="only parts short of min_available or owing backorders")
    ] = False,
    min_available: Annotated[int, Query(ge=1, le=1000)] = 1,
    after: Annotated[str, Query(max_length=64, description="part number to continue after")] = "",
    limit: PageLimit = 50,
) -> s.StockPage:
    dealer_id = dealer_scope.dealer_id_in_scope(conn, code=dealer_code, scope=principal.dealer_id)
    rows = stock_view.dealer_stock(
        conn,
        dealer_id=dealer_id,
        prefix=prefix,
        low=low,
        min_available=min_available,
        after=after,
        limit=limit,
    )
    return s.StockPage(
        dealer=dealer_code,
        items=[
            s.StockItem.model_validate(
                dataclasses.asdict(r) | {"low": r.available < min_available or r.backordered > 0}
            )
            for r in rows
        ],
        next_after=rows[-1].part_no if len(rows) == limit else None,
    )


@router.get(
    "/technicians",
    summary="Technicians with their skills and load, for the assign dialog",
    responses=s.problems(404),
)
def list_technicians(
    principal: DispatcherPrincipal,
    conn: Conn,
    dealer: Annotated[str | None, Query(max_length=64, description="dealer code")] = None,
    skill: Annotated[str | None, Query(max_length=32)] = None,
    active: Annotated[bool | None, Query(description="omit for both")] = None,
    after: Annotated[After, Query(description="technician id to continue after")] = 0,
    limit: PageLimit = 50,
) -> s.TechnicianLoadPage:
    dealer_id = principal.dealer_id
    if dealer is not None:
        dealer_id = dealer_scope.dealer_id_in_scope(conn, code=dealer, scope=principal.dealer_id)
    rows = technician_load.technicians(
        conn, dealer_id=dealer_id, skill=skill, active=active, after=after, limit=limit
    )
    return s.TechnicianLoadPage(
        items=[
            s.TechnicianLoad.model_validate(dataclasses.asdict(r) | {"dealer": r.dealer_code})
            for r in rows
        ],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


# --- Customers ------------------------------------------------------------------------------------


@router.get(
    "/customers/{owner_id}",
    summary="Customer view: owner, contacts, machines, service history, spend, grade",
    description="A dealer-bound key sees the machines it services (and their tickets and history);"
    " spend, satisfaction and grade are the owner's as a whole.",
    responses=s.problems(404),
)
def get_customer(principal: DispatcherPrincipal, conn: Conn, owner_id: RecordId) -> s.CustomerOut:
    crm_scope.check_owner_in_scope(conn, owner_id=owner_id, dealer_id=principal.dealer_id)
    view = crm.customer_view(conn, owner_id=owner_id, now=datetime.now(UTC))
    machines, open_tickets, history = view.machines, view.open_tickets, view.service_history
    if principal.dealer_id is not None:
        mine = crm_scope.serials_serviced_by(conn, owner_id=owner_id, dealer_id=principal.dealer_id)
        machines = [m for m in machines if m.serial in mine]
        open_tickets = [t for t in open_tickets if t.serial in mine]
        history = [h for h in history if h.serial in mine]
    grade = None
    if view.grade is not None:
        grade = s.GradeOut(
            grade=str(view.grade.grade),
            current=view.grade.current,
            future=view.grade.future,
            scores=dataclasses.asdict(view.grade.scores),
            graded_at=view.graded_at,
        )
    return s.CustomerOut(
        owner=s.CustomerOwner.model_validate(
            dataclasses.asdict(view.owner) | {"dealer": view.owner.dealer_code}
        ),
        contacts=[s.CustomerContact.model_validate(dataclasses.asdict(c)) for c in view.contacts],
        machines=[
            s.CustomerMachineOut.model_validate(
                dataclasses.asdict(m)
                | {"dealer": m.servicing_dealer_code, "selling_dealer": m.selling_dealer_code}
            )
            for m in machines
        ],
        open_tickets=[
            s.CustomerTicketOut.model_validate(dataclasses.asdict(t)) for t in open_tickets
        ],
        service_history=[
            s.ServiceEntryOut.model_validate(dataclasses.asdict(h) | {"dealer": h.dealer_code})
            for h in history
        ],
        spend_12m=s.SpendOut(
            parts=view.spend_12m.parts,
            labour=view.spend_12m.labour,
            total=view.spend_12m.total,
            records=view.spend_12m.records,
        ),
        satisfaction=view.satisfaction,
        ratings=view.ratings,
        grade=grade,
    )


# --- Fleet ----------------------------------------------------------------------------------------


@router.get("/fleet/health", summary="Machines and tickets at a glance")
def fleet_health(
    principal: DispatcherPrincipal,
    conn: Conn,
    near_h: Annotated[float, Query(gt=0, le=168, description="hours that count as near")] = 2.0,
) -> s.FleetHealth:
    now = datetime.now(UTC)
    h = health.health(conn, dealer_id=principal.dealer_id, now=now, near=timedelta(hours=near_h))
    return s.FleetHealth(
        at=now,
        machines=s.MachineCounts(
            total=h.machines,
            online=h.online,
            offline=h.offline,
            unknown=h.unknown,
            red=h.red,
            amber=h.amber,
        ),
        tickets=s.TicketCounts(
            open=h.open_tickets,
            by_priority=h.by_priority,
            unassigned=h.unassigned,
            sla_breached=h.sla_breached,
            sla_near=h.sla_near,
        ),
    )


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise Invalid("bbox is west,south,east,north in degrees") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise Invalid("bbox needs -180 <= west <= east <= 180 and -90 <= south <= north <= 90")
    return west, south, east, north


@router.get(
    "/fleet/positions",
    summary="Machine positions as a GeoJSON FeatureCollection",
    response_class=GeoJSONResponse,
    response_model=s.PositionCollection,
)
def fleet_positions(
    principal: DispatcherPrincipal,
    conn: Conn,
    online: Annotated[bool | None, Query(description="omit for both")] = None,
    with_tickets: Annotated[bool, Query(description="only machines with live tickets")] = False,
    bbox: Annotated[str | None, Query(max_length=100, description="west,south,east,north")] = None,
    after: Annotated[str, Query(max_length=32, description="serial to continue after")] = "",
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> s.PositionCollection:
    rows = health.positions(
        conn,
        dealer_id=principal.dealer_id,
        online=online,
        with_tickets=with_tickets,
        bbox=_bbox(bbox) if bbox else None,
        after=after,
        limit=limit,
    )
    return s.PositionCollection(
        features=[
            s.PositionFeature(
                id=r.serial,
                geometry=s.PointGeometry(coordinates=(r.lon, r.lat)),
                properties=s.PositionProperties(
                    serial=r.serial,
                    kind=r.kind,
                    model=r.model,
                    dealer=r.dealer_code,
                    online=r.online,
                    last_seen=r.last_seen,
                    open_tickets=r.open_tickets,
                    worst_priority=Priority(r.worst_priority) if r.worst_priority else None,
                ),
            )
            for r in rows
        ],
        next_after=rows[-1].serial if len(rows) == limit else None,
    )
