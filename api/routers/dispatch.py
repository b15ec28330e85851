"""/v1/dispatch: the dispatcher's ticket queue, most urgent promise first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Conn, DispatcherPrincipal
from api.routers.tickets_out import tickets_out
from api.schemas.owner import TicketOut
from maintenance.errors import Invalid
from maintenance.tickets import repo as tickets
from maintenance.tickets.model import Status

router = APIRouter(prefix="/v1/dispatch", tags=["dispatch"])

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(due: datetime, ticket_id: int) -> str:
    """Keyset position (sla_due_at, id) as URL-safe text: microseconds since the epoch, then id."""
    return f"{(due - _EPOCH) // timedelta(microseconds=1)}-{ticket_id}"


class QueuePage(BaseModel):
    items: list[TicketOut]
    next_after: str | None  # opaque cursor: pass it back as `after` for the next page


@router.get("/tickets", summary="Ticket queue ordered by SLA deadline")
def queue(
    principal: DispatcherPrincipal,
    conn: Conn,
    status: Status | None = None,
    after: Annotated[str, Query(max_length=64, description="next_after of the previous page")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> QueuePage:
    after_due, after_id = _EPOCH, 0
    if after:
        due_us, _, id_text = after.partition("-")
        try:
            after_due = _EPOCH + timedelta(microseconds=int(due_us))
            after_id = int(id_text)
        except (ValueError, OverflowError):
            raise Invalid("after must be the next_after value of a previous page") from None
    rows = tickets.tickets_for_dispatch(
        conn,
        dealer_id=principal.dealer_id,
        status=str(status) if status else None,
        after_due=after_due,
        after_id=after_id,
        limit=limit,
    )
    last = rows[-1] if len(rows) == limit else None
    return QueuePage(
        items=tickets_out(conn, rows),
        next_after=_cursor(last.sla_due_at, last.id) if last else None,
    )
