"""/v1/dispatch/dealers/{dealer_code}/parts-forecast: the parts a dealer's machines will need in
the next 30, 60 or 90 days against its shelf, with reorder suggestions and the stock a forecast
needs compared with the habit of 130-150 days (maintenance.forecast.parts_repo).

Scope as in api/routers/dispatch.py: a dispatcher key bound to a dealer sees its own dealer only;
another dealer's code answers 404 exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Conn, DispatcherPrincipal
from api.schemas import dispatch as s
from api.schemas.dispatch_parts_forecast import (
    HabitVsForecast,
    Horizon,
    PartsForecastLine,
    PartsForecastOut,
)
from maintenance.errors import NotFound
from maintenance.fleet import dealer_scope
from maintenance.forecast import parts_repo
from maintenance.forecast.parts_demand import DEFAULT_POLICY

router = APIRouter(
    prefix="/v1/dispatch", tags=["dispatch"], responses=s.problems(401, 403, 422, 429)
)


@router.get(
    "/dealers/{dealer_code}/parts-forecast",
    summary="A dealer's parts demand forecast: expected demand, days of cover, reorder quantities",
    responses=s.problems(404),
)
def parts_forecast(
    principal: DispatcherPrincipal,
    conn: Conn,
    dealer_code: str,
    horizon_days: Annotated[
        Horizon, Query(description="days ahead the demand is summed over")
    ] = Horizon.DAYS_30,
    lead_time_days: Annotated[
        # With the review period, within the 90 days of service visits the forecast dates.
        int,
        Query(ge=1, le=60, description="days from an order to its delivery"),
    ] = DEFAULT_POLICY.lead_time_days,
) -> PartsForecastOut:
    dealer_id = dealer_scope.dealer_id_in_scope(conn, code=dealer_code, scope=principal.dealer_id)
    policy = replace(DEFAULT_POLICY, lead_time_days=lead_time_days)
    found = parts_repo.dealer_parts_forecast(
        conn,
        dealer_id=dealer_id,
        now=datetime.now(UTC),
        horizon_days=int(horizon_days),
        policy=policy,
    )
    if found is None:  # removed since the check above
        raise NotFound(f"dealer {dealer_code!r} does not exist")
    result, demand = found.forecast, found.demand
    return PartsForecastOut(
        dealer=dealer_code,
        today=result.today,
        horizon_days=result.horizon_days,
        lead_time_days=policy.lead_time_days,
        review_days=policy.review_days,
        service_level=policy.service_level,
        machines=demand.machines,
        computed_at=demand.computed_at,
        from_snapshot=found.from_snapshot,
        lines=[
            PartsForecastLine(
                part_no=line.part_no,
                description=line.description,
                on_hand=line.on_hand,
                available=line.position,
                expected_demand_mean=round(line.expected_mean, 2),
                expected_demand_upper=line.expected_upper,
                service_demand_mean=line.service_mean,
                service_demand_upper=line.service_upper,
                fault_demand_mean=round(line.fault_mean, 2),
                fault_demand_upper=line.fault_upper,
                days_of_cover=None if line.days_of_cover is None else round(line.days_of_cover, 1),
                reorder_qty=line.reorder_qty,
                forecast_stock=line.forecast_stock,
                habit_stock=line.habit_stock,
            )
            for line in result.lines
        ],
        totals=HabitVsForecast(
            habit_days=policy.habit_days,
            habit_stock=result.totals.habit_stock,
            forecast_stock=result.totals.forecast_stock,
            less_with_forecast=result.totals.saved,
            on_hand=result.totals.on_hand,
            reorder_qty=result.totals.reorder_qty,
        ),
    )
