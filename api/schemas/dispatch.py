"""Request and response models of /v1/dispatch; separate from storage rows on purpose."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from api.ids import INTEGER_MAX, RecordId
from api.problems import responses
from api.schemas.owner import ActiveFault, PartsRequestOut, TicketOut
from maintenance.rules.model import Priority
from maintenance.tickets.model import Status

# --- Problems (RFC 9457), for the OpenAPI document ------------------------------------------------

_WHY: Final = {
    403: "the key is not a dispatcher or admin key",
    404: "no such record in the key's scope (another dealer's record answers the same)",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return responses(*statuses, why=_WHY)


# --- Tickets --------------------------------------------------------------------------------------


class TechnicianRef(BaseModel):
    id: int
    name: str


class SlaOut(BaseModel):
    due_at: datetime
    remaining_s: int = Field(
        description="seconds left to the deadline, negative once breached; a finished ticket is"
        " measured at the moment it was finished"
    )
    breached: bool


class DispatchTicketOut(TicketOut):
    owner_id: int
    assigned_technician: TechnicianRef | None
    scheduled_for: datetime | None
    sla: SlaOut


class QueuePage(BaseModel):
    items: list[DispatchTicketOut]
    next_after: str | None = Field(
        description="opaque cursor: pass it as `after` for the next page"
    )


class EventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]


class TelemetryBucket(BaseModel):
    t: datetime = Field(description="start of the bucket")
    mean: float | None
    min: float | None
    max: float | None


class TelemetrySeries(BaseModel):
    signal: str
    unit: str
    buckets: list[TelemetryBucket]


class TelemetryOut(BaseModel):
    start: datetime = Field(description="exclusive")
    end: datetime = Field(description="inclusive: the newest reading, or when the ticket finished")
    bucket_s: int
    series: list[TelemetrySeries]


class MachineBrief(BaseModel):
    serial: str
    kind: str
    model: str
    online: bool | None
    last_seen: datetime | None
    lat: float | None
    lon: float | None
    engine_hours: float | None
    active_faults: list[ActiveFault]


class TicketDetail(DispatchTicketOut):
    resolution: str | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_reason: str | None
    satisfaction: int | None
    machine: MachineBrief
    events: list[EventOut]
    telemetry: TelemetryOut
    transitions: list[Status] = Field(
        description="the statuses this ticket may move to now (maintenance.tickets.policy)"
    )


class AssignIn(BaseModel):
    technician_id: RecordId


class TransitionIn(BaseModel):
    to: Status
    note: str | None = Field(
        default=None, description="the reason when cancelling; otherwise a note on the change"
    )
    resolution: str | None = Field(
        default=None, description="what was done; required when `to` is resolved"
    )
    scheduled_for: datetime | None = Field(
        default=None, description="the visit; required when `to` is scheduled"
    )
    # service_records.labour_h is numeric(6, 2): anything above would overflow it (a 500).
    labour_h: float = Field(
        default=0.0, ge=0, le=9999.99, description="when resolving: hours of labour"
    )
    engine_hours: float | None = Field(
        default=None, ge=0, description="when resolving: the hour meter, if read on site"
    )


class NoteIn(BaseModel):
    text: str


# --- Parts and stock ------------------------------------------------------------------------------


class PartsRequestIn(BaseModel):
    part_no: str = Field(min_length=1, max_length=64)
    qty: int = Field(default=1, ge=1, le=INTEGER_MAX)
    description: str = Field(default="", max_length=200)


class PartsRequestDetail(PartsRequestOut):
    unit_price: Decimal | None
    created_at: datetime


class PartsPage(BaseModel):
    items: list[PartsRequestDetail]
    next_after: int | None


class StockItem(BaseModel):
    part_no: str
    description: str
    unit_price: Decimal | None
    on_hand: int
    reserved: int
    available: int
    backordered: int
    low: bool


class StockPage(BaseModel):
    dealer: str
    items: list[StockItem]
    next_after: str | None


class TechnicianLoad(BaseModel):
    id: int
    name: str
    dealer: str
    skills: list[str]
    active: bool
    phone: str | None
    email: str | None
    load: int = Field(description="live tickets assigned to them")


class TechnicianLoadPage(BaseModel):
    items: list[TechnicianLoad]
    next_after: int | None


# --- Customers ------------------------------------------------------------------------------------


class CustomerOwner(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    region: str
    email: str | None
    phone: str | None
    customer_since: date | None
    dealer: str | None


class CustomerContact(BaseModel):
    name: str
    role: str
    phone: str | None
    email: str | None
    preferred: bool


class CustomerMachineOut(BaseModel):
    serial: str
    pin: str | None
    kind: str
    model: str
    year: int | None
    active: bool
    dealer: str
    selling_dealer: str | None
    purchase_date: date | None
    warranty_end: date | None
    warranty: str
    engine_hours: float | None
    last_seen: datetime | None
    last_service_at: datetime | None


class CustomerTicketOut(BaseModel):
    id: int
    serial: str
    title: str
    status: str
    priority: str
    sla_due_at: datetime
    overdue: bool


class ServiceEntryOut(BaseModel):
    id: int
    serial: str
    done_at: datetime
    kind: str
    rule_key: str
    engine_hours: float
    technician: str | None
    dealer: str | None
    labour_h: Decimal
    labour_cost: Decimal
    parts_cost: Decimal
    notes: str


class SpendOut(BaseModel):
    parts: Decimal
    labour: Decimal
    total: Decimal
    records: int


class GradeOut(BaseModel):
    grade: str
    current: float
    future: float
    scores: dict[str, float]
    graded_at: datetime | None


class CustomerOut(BaseModel):
    owner: CustomerOwner
    contacts: list[CustomerContact]
    machines: list[CustomerMachineOut]
    open_tickets: list[CustomerTicketOut]
    service_history: list[ServiceEntryOut] = Field(description="newest first")
    spend_12m: SpendOut = Field(description="parts and labour of the last 12 months, no warranty")
    satisfaction: float | None = Field(description="mean of the owner's ratings, 1-5")
    ratings: int
    grade: GradeOut | None


# --- Fleet ----------------------------------------------------------------------------------------


class MachineCounts(BaseModel):
    total: int
    online: int
    offline: int
    unknown: int = Field(description="no status message received yet")
    red: int = Field(description="with an active DTC lighting the red stop lamp")
    amber: int = Field(description="with amber/protect/MIL lamps but no red")


class TicketCounts(BaseModel):
    open: int
    by_priority: dict[Priority, int]
    unassigned: int
    sla_breached: int
    sla_near: int = Field(description="due within `near_h` hours")


class FleetHealth(BaseModel):
    at: datetime
    machines: MachineCounts
    tickets: TicketCounts


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[longitude, latitude], WGS 84")


class PositionProperties(BaseModel):
    serial: str
    kind: str
    model: str
    dealer: str
    online: bool | None
    last_seen: datetime | None
    open_tickets: int
    worst_priority: Priority | None


class PositionFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: PositionProperties


class PositionCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[PositionFeature]
    next_after: str | None = Field(
        description="a foreign member (RFC 7946 6.1): the serial to pass as `after`"
    )
