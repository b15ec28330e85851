"""Response models for owners; separate from storage rows on purpose."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


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


class SignalSeries(BaseModel):
    """One signal's statistics per bucket, aligned with MachineTelemetryOut.buckets; null where no
    reading in the bucket had the signal."""

    signal: str
    unit: str
    avg: list[float | None]
    min: list[float | None]
    max: list[float | None]


class MachineTelemetryOut(BaseModel):
    serial: str
    start: datetime = Field(serialization_alias="from", description="UTC, inclusive")
    end: datetime = Field(serialization_alias="to", description="UTC, exclusive")
    bucket: str = Field(description="bucket width, e.g. 5m")
    bucket_s: int
    buckets: list[datetime] = Field(
        description="UTC start of each bucket holding readings, oldest first; empty buckets are"
        " left out, and the first and last may be partly outside from..to"
    )
    readings: list[int] = Field(description="readings in each bucket")
    series: list[SignalSeries]


class FaultEpisodeOut(BaseModel):
    """A DTC from the first DM1 report listing it until the first one that no longer does."""

    spn: int
    fmi: int
    lamp: str
    raised_at: datetime
    cleared_at: datetime | None = Field(description="null while the fault is active")
    last_seen_at: datetime
    active: bool
    max_oc: int = Field(description="highest occurrence count reported")
    reports: int = Field(description="DM1 reports that listed it")


class FaultPage(BaseModel):
    items: list[FaultEpisodeOut]
    next_before: str | None = Field(description="pass as `before` for the next (older) page")


class TicketStep(BaseModel):
    """One step of a ticket's history as its owner sees it (dispatchers' notes stay internal)."""

    at: datetime
    kind: str = Field(examples=["opened", "requested", "status", "assigned", "rated"])
    status: str | None = Field(default=None, description="the status it moved to, for `status`")
    scheduled_for: datetime | None = None


class TicketDetailOut(TicketOut):
    scheduled_for: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    closed_at: datetime | None
    satisfaction: int | None
    history: list[TicketStep]


class ServiceRequestIn(BaseModel):
    description: str = Field(min_length=1, max_length=4000, examples=["Hydraulic leak at boom"])
    preferred_date: date | None = Field(default=None, description="a day that suits the owner")


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    comment: str | None = Field(default=None, max_length=4000)


class RatingOut(BaseModel):
    ticket_id: int
    score: int
    comment: str | None


class UsageOut(BaseModel):
    basis: str | None = Field(description="weekly_profile, short_history, or null: no estimate")
    hours_per_week: float
    per_weekday_h: list[float] | None = Field(description="Monday first")
    busy_factor: float = Field(description="the busy week as a multiple of the profile")
    quiet_factor: float = Field(description="the quiet week as a multiple of the profile")
    days_known: int
    reason: str | None = Field(description="why there is no estimate")


class ServiceDueOut(BaseModel):
    rule_key: str
    title: str
    every_h: float
    lead_h: float
    last_service_h: float | None
    due_at_h: float | None
    hours_left: float | None
    expected: date | None
    earliest: date | None
    latest: date | None = Field(description="null with a date expected: maybe never, if use stops")
    reason: str | None = Field(description="why there is no date")
    open_ticket_id: int | None = Field(description="a live ticket for this service already")


class ServiceForecastOut(BaseModel):
    serial: str
    today: date = Field(description="the machine's day, in its dealer's time zone")
    timezone: str
    rule_set_version: int
    engine_hours: float | None
    usage: UsageOut
    services: list[ServiceDueOut]
