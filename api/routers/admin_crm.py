"""/v1/admin owners (with contacts), dealers and technicians; included by api/routers/admin.py,
whose prefix, tags and documented problems apply. Also the small helpers both modules use."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query

from api import ids
from api.deps import AdminPrincipal, Conn
from api.ids import RecordId
from api.schemas import admin as s
from api.schemas.admin import problems
from maintenance.errors import NotFound
from maintenance.fleet import dealer_records as dealers
from maintenance.fleet import owner_records as owners

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
After = Annotated[ids.After, Query(description="id to continue after (next_after)")]
Active = Annotated[bool | None, Query(description="omit for both")]
Search = Annotated[str | None, Query(min_length=1, max_length=64, description="in name or code")]

R = TypeVar("R")
F = TypeVar("F")


def found(row: R | None, what: object) -> R:
    if row is None:
        raise NotFound(f"no record {what!r}")
    return row


def merged(fields: F, changes: dict[str, Any]) -> F:
    """The stored fields with a patch's changes applied (only the fields it sent)."""
    return dataclasses.replace(fields, **changes)  # type: ignore[type-var]


def as_dict(record: object) -> dict[str, Any]:
    return dataclasses.asdict(record)  # type: ignore[call-overload,no-any-return]


# --- Owners ---------------------------------------------------------------------------------------


def _owners_out(conn: Conn, rows: list[owners.OwnerRow]) -> list[s.OwnerOut]:
    contacts = owners.contacts_of(conn, [r.id for r in rows])
    return [
        s.OwnerOut(**as_dict(r), contacts=[s.ContactOut(**as_dict(c)) for c in contacts[r.id]])
        for r in rows
    ]


def _owner_out(conn: Conn, owner_id: int) -> s.OwnerOut:
    row = owners.owner(conn, owner_id=owner_id)
    if row is None:
        raise NotFound(f"no owner {owner_id}")
    return _owners_out(conn, [row])[0]


def _contacts(body: list[s.ContactIn]) -> list[owners.Contact]:
    return [owners.Contact(**c.model_dump()) for c in body]


@router.get("/owners", summary="Owners with their contacts, by id")
def list_owners(
    principal: AdminPrincipal,
    conn: Conn,
    after: After = 0,
    limit: Limit = 50,
    kind: owners.OwnerKind | None = None,
    dealer_id: RecordId | None = None,
    active: Active = None,
    q: Search = None,
) -> s.OwnerPage:
    rows = owners.owner_page(
        conn, after=after, limit=limit, kind=kind, dealer_id=dealer_id, active=active, q=q
    )
    return s.OwnerPage(
        items=_owners_out(conn, rows), next_after=rows[-1].id if len(rows) == limit else None
    )


@router.get("/owners/{owner_id}", summary="One owner", responses=problems(404))
def get_owner(principal: AdminPrincipal, conn: Conn, owner_id: RecordId) -> s.OwnerOut:
    return _owner_out(conn, owner_id)


@router.post("/owners", status_code=201, summary="Add an owner", responses=problems(409, 422))
def create_owner(principal: AdminPrincipal, conn: Conn, body: s.OwnerIn) -> s.OwnerOut:
    fields = owners.OwnerFields(**body.model_dump(exclude={"contacts"}))
    with conn.transaction():
        owner_id = owners.create_owner(conn, fields, contacts=_contacts(body.contacts))
        return _owner_out(conn, owner_id)


@router.patch(
    "/owners/{owner_id}",
    summary="Change an owner; `contacts` replaces the list; active=false instead of deleting",
    responses=problems(404, 409, 422),
)
def patch_owner(
    principal: AdminPrincipal, conn: Conn, owner_id: RecordId, body: s.OwnerPatch
) -> s.OwnerOut:
    changes = body.changes()
    contacts = changes.pop("contacts", None)
    with conn.transaction():
        row = found(owners.owner(conn, owner_id=owner_id, for_update=True), owner_id)
        owners.update_owner(conn, owner_id=owner_id, fields=merged(row.fields(), changes))
        if contacts is not None:
            owners.replace_contacts(
                conn, owner_id=owner_id, contacts=_contacts(body.contacts or [])
            )
        return _owner_out(conn, owner_id)


# --- Dealers -------------------------------------------------------------------------------------


def _dealer_out(row: dealers.DealerRow) -> s.DealerOut:
    return s.DealerOut(**as_dict(row))


def _hours(hours: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    return {day: list(span) for day, span in hours.items()}


@router.get("/dealers", summary="Dealers (service points), by id")
def list_dealers(
    principal: AdminPrincipal,
    conn: Conn,
    after: After = 0,
    limit: Limit = 50,
    region: Annotated[str | None, Query(max_length=64)] = None,
    active: Active = None,
    q: Search = None,
) -> s.DealerPage:
    rows = dealers.dealer_page(conn, after=after, limit=limit, region=region, active=active, q=q)
    return s.DealerPage(
        items=[_dealer_out(r) for r in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/dealers/{dealer_id}", summary="One dealer", responses=problems(404))
def get_dealer(principal: AdminPrincipal, conn: Conn, dealer_id: RecordId) -> s.DealerOut:
    return _dealer_out(found(dealers.dealer(conn, dealer_id=dealer_id), dealer_id))


@router.post("/dealers", status_code=201, summary="Add a dealer", responses=problems(409, 422))
def create_dealer(principal: AdminPrincipal, conn: Conn, body: s.DealerIn) -> s.DealerOut:
    values = body.model_dump()
    fields = dealers.DealerFields(**{**values, "opening_hours": _hours(body.opening_hours)})
    with conn.transaction():
        dealer_id = dealers.create_dealer(conn, fields)
        return _dealer_out(found(dealers.dealer(conn, dealer_id=dealer_id), dealer_id))


@router.patch(
    "/dealers/{dealer_id}",
    summary="Change a dealer; active=false instead of deleting",
    responses=problems(404, 409, 422),
)
def patch_dealer(
    principal: AdminPrincipal, conn: Conn, dealer_id: RecordId, body: s.DealerPatch
) -> s.DealerOut:
    changes = body.changes()
    if body.opening_hours is not None:
        changes["opening_hours"] = _hours(body.opening_hours)
    with conn.transaction():
        row = found(dealers.dealer(conn, dealer_id=dealer_id, for_update=True), dealer_id)
        dealers.update_dealer(conn, dealer_id=dealer_id, fields=merged(row.fields(), changes))
        return _dealer_out(found(dealers.dealer(conn, dealer_id=dealer_id), dealer_id))


# --- Technicians ---------------------------------------------------------------------------------


def _technician_out(row: dealers.TechnicianRow) -> s.TechnicianOut:
    return s.TechnicianOut(**as_dict(row))


@router.get("/technicians", summary="Technicians, by id")
def list_technicians(
    principal: AdminPrincipal,
    conn: Conn,
    after: After = 0,
    limit: Limit = 50,
    dealer_id: RecordId | None = None,
    active: Active = None,
    skill: Annotated[str | None, Query(max_length=32)] = None,
) -> s.TechnicianPage:
    rows = dealers.technician_page(
        conn, after=after, limit=limit, dealer_id=dealer_id, active=active, skill=skill
    )
    return s.TechnicianPage(
        items=[_technician_out(r) for r in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/technicians/{technician_id}", summary="One technician", responses=problems(404))
def get_technician(
    principal: AdminPrincipal, conn: Conn, technician_id: RecordId
) -> s.TechnicianOut:
    row = dealers.technician(conn, technician_id=technician_id)
    return _technician_out(found(row, technician_id))


@router.post("/technicians", status_code=201, summary="Add a technician", responses=problems(422))
def create_technician(
    principal: AdminPrincipal, conn: Conn, body: s.TechnicianIn
) -> s.TechnicianOut:
    with conn.transaction():
        technician_id = dealers.create_technician(
            conn, dealers.TechnicianFields(**body.model_dump())
        )
        return _technician_out(found(dealers.technician(conn, technician_id=technician_id), 0))


@router.patch(
    "/technicians/{technician_id}",
    summary="Change a technician (skills replace the list); active=false instead of deleting",
    responses=problems(404, 422),
)
def patch_technician(
    principal: AdminPrincipal, conn: Conn, technician_id: RecordId, body: s.TechnicianPatch
) -> s.TechnicianOut:
    with conn.transaction():
        row = found(
            dealers.technician(conn, technician_id=technician_id, for_update=True), technician_id
        )
        fields = merged(row.fields(), body.changes())
        dealers.update_technician(conn, technician_id=technician_id, fields=fields)
        return _technician_out(found(dealers.technician(conn, technician_id=technician_id), 0))
