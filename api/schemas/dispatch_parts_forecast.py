"""Response of GET /v1/dispatch/dealers/{dealer_code}/parts-forecast; separate from the forecast's
own values on purpose (maintenance.forecast.parts_demand)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from pydantic import BaseModel, Field


class Horizon(enum.IntEnum):
    """Days ahead the demand is summed over (maintenance.forecast.parts_demand.HORIZONS_DAYS)."""

    DAYS_30 = 30
    DAYS_60 = 60
    DAYS_90 = 90


class PartsForecastLine(BaseModel):
    part_no: str
    description: str
    on_hand: int
    available: int = Field(
        description="on hand less units reserved for tickets and units owed to backorders"
    )
    expected_demand_mean: float = Field(description="units expected in the horizon")
    expected_demand_upper: int = Field(
        description="units at the service level: services whose earliest date is in the horizon,"
        " and the fault-driven units' Poisson quantile"
    )
    service_demand_mean: int = Field(description="kit units of services expected in the horizon")
    service_demand_upper: int
    fault_demand_mean: float = Field(description="units that breakdowns are expected to use")
    fault_demand_upper: int
    days_of_cover: float | None = Field(
        description="days `available` lasts at the horizon's mean daily demand; null: no demand"
    )
    reorder_qty: int = Field(
        description="units to order now so that stock covers the lead time and review period at"
        " the service level; 0 when enough is available"
    )
    forecast_stock: int = Field(
        description="the stock the forecast needs: upper demand over lead time + review period"
    )
    habit_stock: int = Field(description="`habit_days` of the horizon's mean daily demand")


class HabitVsForecast(BaseModel):
    habit_days: int = Field(description="days of average demand dealers keep by habit")
    habit_stock: int = Field(description="units over every part")
    forecast_stock: int
    less_with_forecast: int = Field(description="habit_stock - forecast_stock")
    on_hand: int
    reorder_qty: int


class PartsForecastOut(BaseModel):
    dealer: str
    today: date = Field(description="the dealer's calendar day the horizon counts from")
    horizon_days: int
    lead_time_days: int
    review_days: int
    service_level: float
    machines: int = Field(description="the dealer's active machines the demand is forecast for")
    computed_at: datetime = Field(description="when the demand was forecast")
    from_snapshot: bool = Field(
        description="true: the daily parts-forecast job's demand; false: computed for this request"
    )
    lines: list[PartsForecastLine]
    totals: HabitVsForecast
