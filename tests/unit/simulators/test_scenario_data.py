"""The shipped profiles, fault catalogue and run plans are valid and use real J1939 codes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from maintenance.fleet.seed import model_for
from simulators.profiles import catalogue, demo_model
from simulators.scenarios import PlanError, fault_catalogue, load_plan, parse_plan
from telemetry.wire import Kind

COMMON_DTCS = Path(__file__).parents[3] / ".." / "shared" / "data" / "j1939" / "common_dtcs.csv"


def test_every_fault_raises_spn_fmi_pairs_seen_in_the_field() -> None:
    if not COMMON_DTCS.exists():
        pytest.skip(f"{COMMON_DTCS} is not beside the clone")
    with COMMON_DTCS.open(newline="") as f:
        known = {(int(r["spn"]), int(r["fmi"])) for r in csv.DictReader(f)}
    used = {(d.spn, d.fmi) for fault in fault_catalogue().faults for d in fault.dtcs}
    assert used <= known, used - known


def test_the_catalogue_covers_both_kinds_and_the_demo_models() -> None:
    models = catalogue()
    for kind in Kind:
        for n in range(1, 7):
            assert models.profile(kind, demo_model(kind, n)).model == demo_model(kind, n)


def test_the_seed_gives_each_serial_the_model_the_simulator_gives_it() -> None:
    for kind in Kind:
        for n in range(1, 30):
            assert model_for(kind, n) == demo_model(kind, n)


@pytest.mark.parametrize("name", ["default", "demo"])
def test_the_shipped_plans_load(name: str) -> None:
    plan = load_plan(name)
    assert plan.injections


def test_a_plan_naming_an_unknown_fault_is_refused_with_the_known_ones() -> None:
    with pytest.raises(PlanError, match=r"unknown fault 'head-gasket'.*cooling-degradation"):
        parse_plan("version: 1\ninjections: [{fault: head-gasket, machines: 1, onset_h: [0, 1]}]")


def test_a_plan_with_a_wrong_type_is_refused_with_the_path() -> None:
    with pytest.raises(PlanError, match=r"connectivity.gaps_per_day"):
        parse_plan("version: 1\nconnectivity: {gaps_per_day: often}")


def test_a_missing_plan_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="No such file"):
        load_plan(tmp_path / "nope.yaml")
