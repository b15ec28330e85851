"""Request and response models of /v1/admin. Inputs forbid unknown fields, so a misspelt field is a
422 naming it rather than a silent no-op. Patches take only the fields sent (`model_fields_set`);
null clears a nullable field and is refused for the others."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.ids import RecordId
from api.problems import responses
from maintenance.fleet.owner_records import OwnerKind
from telemetry.wire import Kind

# --- Problems ------------------------------------------------------------------------------------

_WHY: Final = {
    403: "the key is not an admin key",
    404: "no such record",
    409: "a duplicate (code, serial, PIN) or a change the record's state refuses",
    422: "invalid input; the detail (and `errors`) names the field and the reason",
    503: "the broker's password or ACL file could not be written; nothing changed",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return responses(*statuses, why=_WHY)


# --- Shared field types ---------------------------------------------------------------------------

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9_-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()./-]+$")]
Region = Annotated[str, Field(max_length=64)]
Id = RecordId
# The machines.serial CHECK: the serial is a topic level and the broker user name.
Serial = Annotated[
    str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$", examples=["T-1001"], description="serial")
]
# ISO 10261 product identification number: 17 characters, capitals and digits.
Pin = Annotated[str, Field(pattern=r"^[A-Z0-9]{17}$", examples=["1RW6155MCPA012345"])]
Skill = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", examples=["hydraulics"])]
HourMinute = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Weekday = Annotated[str, Field(pattern=r"^[1-7]$", description="ISO weekday, 1 = Monday")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Patch(_In):
    # Fields storage holds NOT NULL: an explicit null is refused rather than stored.
    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def check_not_null(self) -> Self:
        nulls = [
            n for n in self.NOT_NULL if n in self.model_fields_set and getattr(self, n) is None
        ]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self.model_fields_set}


# --- Owners ---------------------------------------------------------------------------------------


class ContactIn(_In):
    name: Name
    role: Annotated[str, Field(max_length=64)] = ""
    phone: Phone | None = None
    email: Email | None = None
    preferred: bool = Field(False, description="the contact alerts and follow-up calls go to")

    @model_validator(mode="after")
    def check_reachable(self) -> Self:
        if self.phone is None and self.email is None:
            raise ValueError("a contact needs a phone or an e-mail")
        return self


Contacts = Annotated[list[ContactIn], Field(max_length=20)]


def _one_preferred(contacts: list[ContactIn] | None) -> list[ContactIn] | None:
    if contacts and sum(c.preferred for c in contacts) > 1:
        raise ValueError("at most one contact may be preferred")
    return contacts


class OwnerIn(_In):
    code: Code = Field(examples=["OWN-HARGREAVE"])
    name: Name
    kind: OwnerKind
    email: Email | None = None
    phone: Phone | None = None
    region: Region = ""
    dealer_id: Id | None = Field(None, description="the owner's usual dealer")
    customer_since: date | None = None
    active: bool = True
    contacts: Contacts = []

    check_contacts = field_validator("contacts")(_one_preferred)


class OwnerPatch(_Patch):
    NOT_NULL: ClassVar[tuple[str, ...]] = ("code", "name", "kind", "region", "active", "contacts")
    code: Code | None = None
    name: Name | None = None
    kind: OwnerKind | None = None
    email: Email | None = None
    phone: Phone | None = None
    region: Region | None = None
    dealer_id: Id | None = None
    customer_since: date | None = None
    active: bool | None = Field(None, description="false: no longer a customer (never deleted)")
    contacts: Contacts | None = Field(None, description="replaces the whole list")

    check_contacts = field_validator("contacts")(_one_preferred)


class ContactOut(BaseModel):
    name: str
    role: str
    phone: str | None
    email: str | None
    preferred: bool


class OwnerOut(BaseModel):
    id: int
    code: str
    name: str
    kind: OwnerKind
    email: str | None
    phone: str | None
    region: str
    dealer_id: int | None
    customer_since: date | None
    active: bool
    grade: str | None = Field(description="A-D customer grade, computed by the CRM job")
    created_at: datetime
    contacts: list[ContactOut]


class OwnerPage(BaseModel):
    items: list[OwnerOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null: last")


# --- Dealers and technicians ----------------------------------------------------------------------


def _timezone(value: str | None) -> str | None:
    if value is not None:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


OpeningHours = dict[Weekday, tuple[HourMinute, HourMinute]]


def _opening_hours(value: OpeningHours | None) -> OpeningHours | None:
    for day, (opens, closes) in (value or {}).items():
        if opens >= closes:
            raise ValueError(f"day {day}: opens at {opens}, not before it closes at {closes}")
    return value


class DealerIn(_In):
    code: Code = Field(examples=["DLR-NORTH"])
    name: Name
    region: Region = ""
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    phone: Phone | None = None
    email: Email | None = None
    timezone: str = Field("UTC", examples=["Europe/Berlin"])
    opening_hours: OpeningHours = Field(
        default_factory=dict, examples=[{"1": ["07:30", "17:00"]}], description="absent = closed"
    )
    parts_warehouse: Annotated[str, Field(max_length=64)] = ""
    active: bool = True

    check_timezone = field_validator("timezone")(_timezone)
    check_hours = field_validator("opening_hours")(_opening_hours)


class DealerPatch(_Patch):
    NOT_NULL: ClassVar[tuple[str, ...]] = (
        "code",
        "name",
        "region",
        "timezone",
        "opening_hours",
        "parts_warehouse",
        "active",
    )
    code: Code | None = None
    name: Name | None = None
    region: Region | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    phone: Phone | None = None
    email: Email | None = None
    timezone: str | None = None
    opening_hours: OpeningHours | None = None
    parts_warehouse: Annotated[str, Field(max_length=64)] | None = None
    active: bool | None = Field(None, description="false: out of service (never deleted)")

    check_timezone = field_validator("timezone")(_timezone)
    check_hours = field_validator("opening_hours")(_opening_hours)


class DealerOut(BaseModel):
    id: int
    code: str
    name: str
    region: str
    lat: float | None
    lon: float | None
    phone: str | None
    email: str | None
    timezone: str
    opening_hours: dict[str, list[str]]
    parts_warehouse: str
    active: bool
    created_at: datetime


class DealerPage(BaseModel):
    items: list[DealerOut]
    next_after: int | None


Skills = Annotated[list[Skill], Field(max_length=20)]


class TechnicianIn(_In):
    dealer_id: Id
    name: Name
    skills: Skills = []
    phone: Phone | None = None
    email: Email | None = None
    active: bool = True


class TechnicianPatch(_Patch):
    NOT_NULL: ClassVar[tuple[str, ...]] = ("dealer_id", "name", "skills", "active")
    dealer_id: Id | None = None
    name: Name | None = None
    skills: Skills | None = Field(None, description="replaces the whole list")
    phone: Phone | None = None
    email: Email | None = None
    active: bool | None = Field(None, description="false: no longer assignable (never deleted)")


class TechnicianOut(BaseModel):
    id: int
    dealer_id: int
    name: str
    skills: list[str]
    phone: str | None
    email: str | None
    active: bool


class TechnicianPage(BaseModel):
    items: list[TechnicianOut]
    next_after: int | None


# --- Machines ------------------------------------------------------------------------------------

Year = Annotated[int, Field(ge=1950, le=2100)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Model = Annotated[str, Field(min_length=1, max_length=64, examples=["6155M"])]


class MachineIn(_In):
    serial: Serial
    kind: Kind
    model: Model
    year: Year | None = None
    pin: Pin | None = None
    owner_id: Id
    dealer_id: Id = Field(description="the servicing dealer")
    selling_dealer_id: Id | None = None
    purchase_date: date | None = None
    purchase_price: Price | None = None
    warranty_end: date | None = None
    active: bool = True

    @model_validator(mode="after")
    def check_warranty_after_purchase(self) -> Self:
        check_warranty(self.purchase_date, self.warranty_end)
        return self


def check_warranty(purchase_date: date | None, warranty_end: date | None) -> None:
    if purchase_date and warranty_end and warranty_end < purchase_date:
        raise ValueError(f"warranty_end {warranty_end} is before purchase_date {purchase_date}")


class MachinePatch(_Patch):
    """Serial and kind are the machine's identity on the wire and cannot change."""

    NOT_NULL: ClassVar[tuple[str, ...]] = ("model", "owner_id", "dealer_id", "active")
    model: Model | None = None
    year: Year | None = None
    pin: Pin | None = None
    owner_id: Id | None = None
    dealer_id: Id | None = None
    selling_dealer_id: Id | None = None
    purchase_date: date | None = None
    purchase_price: Price | None = None
    warranty_end: date | None = None
    active: bool | None = Field(
        None, description="false: retired (never deleted); its MQTT credentials are revoked"
    )


class MachineOut(BaseModel):
    id: int
    serial: str
    kind: Kind
    model: str
    year: int | None
    pin: str | None
    owner_id: int
    dealer_id: int
    selling_dealer_id: int | None
    purchase_date: date | None
    purchase_price: Decimal | None
    warranty_end: date | None
    active: bool
    created_at: datetime
    mqtt_provisioned: bool = Field(description="the machine has live MQTT credentials")


class MachinePage(BaseModel):
    items: list[MachineOut]
    next_after: str | None = Field(description="serial: pass as `after` for the next page")


class CredentialsOut(BaseModel):
    """Shown once: only a PBKDF2-SHA512 hash of the password is kept."""

    serial: str
    username: str
    password: str = Field(description="store it on the device now; it cannot be read again")
    publish_topics: str = Field(examples=["ironlink/v1/tractor/T-1001/#"])
    issued_at: datetime
    rotations: int = Field(description="times this machine's credentials were re-issued")
    broker_reloaded: bool = Field(
        description="the running broker was signalled to re-read its files; false: no local broker"
        " was running, and it reads them when it starts"
    )


class CredentialStateOut(BaseModel):
    serial: str
    username: str
    issued_at: datetime
    issued_by: str
    rotations: int
    revoked_at: datetime | None
    revoked_by: str | None


# --- Rule sets -----------------------------------------------------------------------------------


class RuleSetOut(BaseModel):
    version: int
    source: str
    loaded_at: datetime
    loaded_by: str
    active: bool
    rules: int = Field(description="number of rules in the set")


class RuleSetPage(BaseModel):
    items: list[RuleSetOut]
    next_before: int | None = Field(description="pass as `before` for the next (older) page")


class RuleSetDocumentOut(BaseModel):
    version: int
    active: bool
    document: dict[str, Any] = Field(description="the validated rule set, defaults filled in")
