"""Request and response models of the alert subscription routes (owner and dispatch)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.ids import BIGINT_MAX
from maintenance.alerts.model import AlertKind, Channel
from maintenance.alerts.policy import MAX_TARGET_CHARS

# HH:MM-HH:MM; the times themselves are checked by maintenance.alerts.policy.parse_quiet.
QUIET_PATTERN = r"^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$"
# IANA names: letters, digits, '_', '+', '-' and '/' between parts (Europe/Berlin, Etc/GMT+1).
ZONE_PATTERN = r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$"


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    target: str = Field(
        min_length=3,
        max_length=MAX_TARGET_CHARS,
        description="webhook: an http(s) URL; email: one address",
        examples=["https://farm.example/ironlink-hook"],
    )
    event_kinds: list[AlertKind] | None = Field(
        default=None,
        min_length=1,
        max_length=len(AlertKind),
        description="what to hear about; omitted: the audience's defaults. Dealers cannot"
        " subscribe to the owner's digest",
    )
    quiet_hours: str | None = Field(
        default=None,
        pattern=QUIET_PATTERN,
        description="local HH:MM-HH:MM (start after end spans midnight); only critical alerts"
        " are sent inside it",
        examples=["22:00-06:00"],
    )
    timezone: str = Field(
        default="UTC",
        max_length=64,
        pattern=ZONE_PATTERN,
        description="IANA time zone of the quiet hours",
        examples=["Europe/Berlin"],
    )


class DispatchSubscriptionIn(SubscriptionIn):
    dealer: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="dealer code; needed with a key bound to no dealer, else the key's own",
    )


class SubscriptionOut(BaseModel):
    id: int = Field(ge=1, le=BIGINT_MAX)
    channel: Channel
    target: str
    event_kinds: list[AlertKind]
    quiet_hours: str | None = Field(description="local HH:MM-HH:MM, or none")
    timezone: str


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        description="webhooks: the HMAC-SHA256 signing secret, shown only in this answer; keep it"
        " to verify X-IronLink-Signature. None for e-mail"
    )


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_after: int | None = Field(description="`after` for the next page; none at the end")


class DispatchSubscriptionOut(SubscriptionOut):
    dealer: str = Field(description="the subscribed dealer's code")


class DispatchSubscriptionCreated(DispatchSubscriptionOut):
    secret: str | None = Field(
        description="webhooks: the HMAC-SHA256 signing secret, shown only in this answer. None"
        " for e-mail"
    )


class DispatchSubscriptionPage(BaseModel):
    items: list[DispatchSubscriptionOut]
    next_after: int | None = Field(description="`after` for the next page; none at the end")
