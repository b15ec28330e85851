"""/iso15143: the ISO 15143-3 (AEMP 2.0) fleet interface, scoped to the caller's machines.

Routes (the standard's URL shapes, page numbers from 1, at most 100 items a page):
  /iso15143/Fleet[/{pageNumber}]                      fleet snapshot, newest value per element
  /iso15143/Fleet/Equipment/ID/{id}                   one machine's snapshot (id: serial or PIN)
  /iso15143/Fleet/Equipment/ID/{id}/{item}/{startDateUTC}/{endDateUTC}[/{pageNumber}]
                                                      time series of one element, oldest first
JSON by default, XML when Accept prefers application/xml. An owner key sees its own machines, a
dispatcher key bound to a dealer that dealer's, other dispatcher and admin keys every machine;
a machine outside the scope answers 404 exactly like one that does not exist. See
api/iso15143/documents.py for what of the standard is and is not reported.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api import problems
from api.auth import Principal, Role
from api.deps import Conn, get_principal
from api.iso15143 import queries
from api.iso15143.documents import (
    PAGE_SIZE,
    DataItem,
    Document,
    check_page,
    check_range,
    data_item,
    equipment_document,
    fleet_document,
    offset,
    parse_utc,
    series_document,
    zulu,
)
from api.iso15143.render import to_xml, wants_xml
from maintenance.errors import Invalid, NotFound

# No 403: every role may call, each scoped to its own machines.
router = APIRouter(
    prefix="/iso15143", tags=["iso15143"], responses=problems.responses(401, 422, 429)
)

Caller = Annotated[Principal, Depends(get_principal)]
_DOCUMENT: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "the ISO 15143-3 document: JSON, or XML when Accept prefers it",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "string"}},
        },
    }
}
_NOT_FOUND: Final = problems.responses(
    404,
    why={404: "no such machine in the key's scope, data item or page (the detail says which)"},
)


def scope_for(principal: Principal) -> queries.Scope:
    if principal.role is Role.OWNER:
        assert principal.owner_id is not None  # the api_keys CHECK guarantees it
        return queries.Scope(owner_id=principal.owner_id)
    if principal.role is Role.DISPATCHER and principal.dealer_id is not None:
        return queries.Scope(dealer_id=principal.dealer_id)
    return queries.Scope()


def _page_number(text: str) -> int:
    # Parsed here rather than typed as int so that the problem names the page, not a loc list.
    if not text.isdigit():
        raise Invalid(f"pageNumber must be a whole number from 1, not {text!r}")
    return int(text)


def _respond(request: Request, doc: Document) -> Response:
    if wants_xml(request.headers.get("accept")):
        return Response(to_xml(doc), media_type="application/xml")
    return JSONResponse(doc.body)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + router.prefix


def _fleet(request: Request, principal: Principal, conn: Conn, page: int) -> Response:
    scope = scope_for(principal)
    total = queries.fleet_count(conn, scope=scope)
    check_page(page, total)
    rows = queries.fleet_page(conn, scope=scope, limit=PAGE_SIZE, offset=offset(page))
    base = _base(request)
    doc = fleet_document(
        rows, page=page, total=total, href=lambda n: f"{base}/Fleet/{n}", now=datetime.now(UTC)
    )
    return _respond(request, doc)


@router.get("/Fleet", summary="Fleet snapshot, first page", responses=_DOCUMENT)
def fleet_first_page(request: Request, principal: Caller, conn: Conn) -> Response:
    return _fleet(request, principal, conn, 1)


@router.get(
    "/Fleet/{pageNumber}",
    summary="Fleet snapshot: each machine's header and newest value of each element",
    responses=_DOCUMENT | _NOT_FOUND,
)
def fleet_page(request: Request, principal: Caller, conn: Conn, pageNumber: str) -> Response:
    return _fleet(request, principal, conn, _page_number(pageNumber))


@router.get(
    "/Fleet/Equipment/ID/{id}",
    summary="Single-element snapshot of one machine, by IronLink serial or PIN",
    responses=_DOCUMENT | _NOT_FOUND,
)
def equipment(request: Request, principal: Caller, conn: Conn, id: str) -> Response:
    row = queries.equipment_snapshot(conn, scope=scope_for(principal), equipment_id=id)
    if row is None:
        raise NotFound(f"no equipment {id!r}")
    href = f"{_base(request)}/Fleet/Equipment/ID/{quote(id, safe='')}"
    return _respond(request, equipment_document(row, self_href=href, now=datetime.now(UTC)))


def _series(
    request: Request,
    principal: Principal,
    conn: Conn,
    *,
    equipment_id: str,
    item_name: str,
    start_text: str,
    end_text: str,
    page: int,
) -> Response:
    item = data_item(item_name)
    start = parse_utc(start_text, name="startDateUTC")
    end = parse_utc(end_text, name="endDateUTC")
    check_range(start, end)
    machine_id = queries.machine_id_in_scope(
        conn, scope=scope_for(principal), equipment_id=equipment_id
    )
    if machine_id is None:
        raise NotFound(f"no equipment {equipment_id!r}")
    total = queries.series_count(conn, item=item, machine_id=machine_id, start=start, end=end)
    check_page(page, total)
    rows = queries.series_page(
        conn,
        item=item,
        machine_id=machine_id,
        start=start,
        end=end,
        limit=PAGE_SIZE,
        offset=offset(page),
    )
    href = _series_href(request, equipment_id, item, start, end)
    return _respond(request, series_document(item, rows, page=page, total=total, href=href))


def _series_href(
    request: Request, equipment_id: str, item: DataItem, start: datetime, end: datetime
) -> Callable[[int], str]:
    stem = (
        f"{_base(request)}/Fleet/Equipment/ID/{quote(equipment_id, safe='')}/{item}"
        f"/{zulu(start)}/{zulu(end)}"
    )
    return lambda n: f"{stem}/{n}"


@router.get(
    "/Fleet/Equipment/ID/{id}/{dataItem}/{startDateUTC}/{endDateUTC}",
    summary="Time series of one element, first page",
    responses=_DOCUMENT | _NOT_FOUND,
)
def series_first_page(
    request: Request,
    principal: Caller,
    conn: Conn,
    id: str,
    dataItem: str,
    startDateUTC: str,
    endDateUTC: str,
) -> Response:
    return _series(
        request,
        principal,
        conn,
        equipment_id=id,
        item_name=dataItem,
        start_text=startDateUTC,
        end_text=endDateUTC,
        page=1,
    )


@router.get(
    "/Fleet/Equipment/ID/{id}/{dataItem}/{startDateUTC}/{endDateUTC}/{pageNumber}",
    summary="Time series of one element (Locations, CumulativeOperatingHours, "
    "CumulativeIdleHours, FuelRemainingRatio, DEFRemaining, EngineCondition, Faults)",
    responses=_DOCUMENT | _NOT_FOUND,
)
def series_page(
    request: Request,
    principal: Caller,
    conn: Conn,
    id: str,
    dataItem: str,
    startDateUTC: str,
    endDateUTC: str,
    pageNumber: str,
) -> Response:
    return _series(
        request,
        principal,
        conn,
        equipment_id=id,
        item_name=dataItem,
        start_text=startDateUTC,
        end_text=endDateUTC,
        page=_page_number(pageNumber),
    )
