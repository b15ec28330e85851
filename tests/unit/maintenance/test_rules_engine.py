from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from maintenance.rules.engine import evaluate, next_due_h
from maintenance.rules.findings import MachineView
from maintenance.rules.model import Applies, FaultCode, PartLine, Priority, ServiceInterval
from telemetry.wire import Dtc, Kind

NOW = datetime(2026, 11, 23, tzinfo=UTC)
SVC = ServiceInterval(key="svc-250h", every_h=250, lead_h=25, parts=[PartLine(part_no="FLT-OIL")])
COOLANT = FaultCode(key="spn110-fmi0", spn=110, fmi=[0], priority=Priority.CRITICAL)


def view(
    machine_id: int = 1,
    *,
    hours: float | None = 100.0,
    last: dict[str, float] | None = None,
    dtcs: list[Dtc] | None = None,
    kind: Kind = Kind.TRACTOR,
    model: str = "6155M",
) -> MachineView:
    return MachineView(machine_id, kind, model, hours, last or {}, dtcs or [])


@pytest.mark.parametrize(
    ("hours", "last", "fires"),
    [
        (100.0, None, False),  # next due at 250, lead opens at 225
        (224.9, None, False),
        (225.0, None, True),
        (249.0, None, True),
        (260.0, {"svc-250h": 240.0}, False),  # serviced at 240: due at 490
        (466.0, {"svc-250h": 240.0}, True),
        (None, None, False),  # no hour meter reading yet
    ],
)
def test_service_interval_opens_within_lead(
    hours: float | None, last: dict[str, float] | None, fires: bool
) -> None:
    findings = evaluate([SVC], [view(hours=hours, last=last)], NOW)
    assert bool(findings) is fires
    if fires:
        assert findings[0].rule_key == "svc-250h"
        assert [p.part_no for p in findings[0].parts] == ["FLT-OIL"]


def test_next_due_is_vectorised_over_machines() -> None:
    due = next_due_h(250.0, np.array([10.0, 250.0, 600.0]), np.array([np.nan, np.nan, 590.0]))
    assert due.tolist() == [250.0, 500.0, 840.0]


def test_fault_code_matches_spn_and_fmi_only() -> None:
    machines = [
        view(1, dtcs=[Dtc(spn=110, fmi=0, oc=3)]),
        view(2, dtcs=[Dtc(spn=110, fmi=1)]),
        view(3, dtcs=[Dtc(spn=100, fmi=0)]),
    ]
    findings = evaluate([COOLANT], machines, NOW)
    assert [(f.machine_id, f.priority) for f in findings] == [(1, Priority.CRITICAL)]
    assert findings[0].evidence["oc"] == 3


def test_fault_rule_without_fmis_matches_any_fmi() -> None:
    rule = FaultCode(key="spn97-any", spn=97)
    assert len(evaluate([rule], [view(dtcs=[Dtc(spn=97, fmi=16)])], NOW)) == 1


def test_applies_to_filters_by_kind_and_model() -> None:
    rule = ServiceInterval(
        key="svc-x",
        every_h=100,
        lead_h=5,
        applies_to=Applies(kind=Kind.EXCAVATOR, models=["320 GC"]),
    )
    machines = [
        view(1, hours=99.0, kind=Kind.TRACTOR),
        view(2, hours=99.0, kind=Kind.EXCAVATOR, model="ZX135US-7"),
        view(3, hours=99.0, kind=Kind.EXCAVATOR, model="320 GC"),
    ]
    assert [f.machine_id for f in evaluate([rule], machines, NOW)] == [3]
