"""/v1/owner: a machine owner's view. Every handler depends on OwnerPrincipal and every query is
scoped to its owner_id; another owner's machine or ticket answers 404, never its data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Conn, OwnerPrincipal
from api.routers.tickets_out import tickets_out
from api.schemas.owner import ActiveFault, MachineOut, MachinePage, TicketOut, TicketPage
from maintenance.errors import NotFound
from maintenance.fleet import repo as fleet
from maintenance.tickets import repo as tickets

router = APIRouter(prefix="/v1/owner", tags=["owner"])

Limit = Annotated[int, Query(ge=1, le=100, description="page size")]


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


@router.get("/machines", summary="The owner's machines with their latest state")
def list_machines(
    principal: OwnerPrincipal,
    conn: Conn,
    after: Annotated[str, Query(max_length=32, description="serial to continue after")] = "",
    limit: Limit = 50,
) -> MachinePage:
    assert principal.owner_id is not None
    rows = fleet.machines_for_owner(conn, owner_id=principal.owner_id, after=after, limit=limit)
    return MachinePage(
        items=[_machine_out(r) for r in rows],
        next_after=rows[-1].serial if len(rows) == limit else None,
    )


@router.get("/machines/{serial}", summary="One of the owner's machines")
def get_machine(principal: OwnerPrincipal, conn: Conn, serial: str) -> MachineOut:
    assert principal.owner_id is not None
    row = fleet.machine_for_owner(conn, owner_id=principal.owner_id, serial=serial)
    if row is None:
        raise NotFound(f"no machine {serial!r}")
    return _machine_out(row)


@router.get("/tickets", summary="Service tickets for the owner's machines, newest first")
def list_tickets(
    principal: OwnerPrincipal,
    conn: Conn,
    before: Annotated[int, Query(ge=1, description="ticket id to continue before")] = 2**62,
    limit: Limit = 50,
) -> TicketPage:
    assert principal.owner_id is not None
    rows = tickets.tickets_for_owner(conn, owner_id=principal.owner_id, before=before, limit=limit)
    return TicketPage(
        items=tickets_out(conn, rows), next_before=rows[-1].id if len(rows) == limit else None
    )


@router.get("/tickets/{ticket_id}", summary="One of the owner's tickets")
def get_ticket(principal: OwnerPrincipal, conn: Conn, ticket_id: int) -> TicketOut:
    assert principal.owner_id is not None
    row = tickets.ticket_for_owner(conn, owner_id=principal.owner_id, ticket_id=ticket_id)
    if row is None:
        raise NotFound(f"no ticket {ticket_id}")
    return tickets_out(conn, [row])[0]
