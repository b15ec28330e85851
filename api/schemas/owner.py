"""Response models for owners; separate from storage rows on purpose."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ActiveFault(BaseModel):
    spn: int
    fmi: int
    oc: int = 1
    lamp: str = "amber"


class MachineOut(BaseModel):
    serial: str
    kind: str
    model: str
    year: int | None
    dealer: str
    engine_hours: float | None
    fuel_pct: float | None
    coolant_c: float | None
    lat: float | None
    lon: float | None
    last_seen: datetime | None
    online: bool | None
    active_faults: list[ActiveFault]


class MachinePage(BaseModel):
    items: list[MachineOut]
    next_after: str | None


class PartsRequestOut(BaseModel):
    id: int
    part_no: str
    description: str
    qty: int
    status: str
    dealer: str


class TicketOut(BaseModel):
    id: int
    serial: str
    owner: str
    dealer: str
    rule_key: str
    kind: str
    title: str
    priority: str
    status: str
    sla_due_at: datetime
    opened_at: datetime
    last_seen_at: datetime
    occurrences: int
    evidence: list[dict[str, object]]
    parts: list[PartsRequestOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_before: int | None
