"""Window-based rule kinds (threshold, silence, hours_jump): tables of (rule, window, expected)
from tests/fixtures/rules/window_cases.yaml, plus the Window type and the engine's entry points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import yaml

from maintenance.rules.engine import assess, evaluate
from maintenance.rules.findings import Evaluation, MachineView
from maintenance.rules.model import Op, Rule, ServiceInterval, Threshold
from maintenance.rules.window import Window
from maintenance.rules.windowed import held_runs, threshold_candidates
from telemetry.wire import Kind

EPOCH = datetime(2026, 11, 23, tzinfo=UTC)
CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[2] / "fixtures" / "rules" / "window_cases.yaml").read_text()
)["cases"]
TIME_FIELDS = {"from", "to", "last_seen"}


def at(offset_s: float) -> datetime:
    return EPOCH + timedelta(seconds=offset_s)


def views(ids: set[int], kinds: dict[int, str]) -> list[MachineView]:
    return [
        MachineView(i, Kind(kinds.get(i, "tractor")), "6155M", engine_hours=None)
        for i in sorted(ids)
    ]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_window_rule_table(case: dict[str, Any]) -> None:
    rule: Rule = msgspec.convert(case["rule"], Rule)  # type: ignore[arg-type]
    rows = [(r[0], at(r[1]), *r[2:]) for r in case["rows"]]
    window = Window.from_rows(rows, signals=case["signals"], offline=case.get("offline", []))
    machines = views({r[0] for r in rows}, case.get("kinds", {}))

    result = assess([rule], machines, at(case.get("now", 0)), window=window)

    if "fires" in case:
        assert sorted(f.machine_id for f in result.findings) == case["fires"]
    if "clears" in case:
        assert sorted(c.machine_id for c in result.clears) == case["clears"]
    by_machine = {f.machine_id: f for f in result.findings}
    for machine_id, expected in case.get("evidence", {}).items():
        evidence = by_machine[machine_id].evidence
        for name, value in expected.items():
            want = at(value).isoformat() if name in TIME_FIELDS else value
            if isinstance(want, float):
                want = pytest.approx(want)
            assert evidence[name] == want, (machine_id, name)


def test_a_machine_never_both_fires_and_clears() -> None:
    for case in CASES:
        rule: Rule = msgspec.convert(case["rule"], Rule)  # type: ignore[arg-type]
        rows = [(r[0], at(r[1]), *r[2:]) for r in case["rows"]]
        window = Window.from_rows(rows, signals=case["signals"], offline=case.get("offline", []))
        result = assess(
            [rule],
            views({r[0] for r in rows}, case.get("kinds", {})),
            at(case.get("now", 0)),
            window=window,
        )
        fired = {f.machine_id for f in result.findings}
        assert not fired & {c.machine_id for c in result.clears}, case["name"]


COOLANT = Threshold(
    key="coolant-hot", signal="coolant_c", op=Op.GT, value=105, hold_s=120, clear_below=98
)
HOT_WINDOW = Window.of(
    machine_id=[1, 1, 1], ts=[0.0, 60.0, 120.0], signals={"coolant_c": [106] * 3}
)


def test_window_rules_without_a_window_find_nothing() -> None:
    machines = views({1}, {})
    assert evaluate([COOLANT], machines, EPOCH) == []
    assert assess([COOLANT], machines, EPOCH) == Evaluation([], [])


def test_evaluate_passes_the_window_and_keeps_clears_out() -> None:
    machines = views({1, 2}, {})
    window = Window.of(
        machine_id=[1, 1, 1, 2],
        ts=[0.0, 60.0, 120.0, 0.0],
        signals={"coolant_c": [106.0, 106.0, 106.0, 80.0]},
    )
    findings = evaluate([COOLANT], machines, EPOCH, window)
    assert [(f.machine_id, f.rule_kind, f.evidence["signal"]) for f in findings] == [
        (1, "threshold", "coolant_c")
    ]
    assert [c.machine_id for c in assess([COOLANT], machines, EPOCH, window=window).clears] == [2]


def test_window_rules_look_only_at_machines_passed_in() -> None:
    assert evaluate([COOLANT], views({2}, {}), EPOCH, HOT_WINDOW) == []


def test_interval_rules_ignore_the_window() -> None:
    svc = ServiceInterval(key="svc-250h", every_h=250, lead_h=25)
    machines = [MachineView(1, Kind.TRACTOR, "6155M", engine_hours=230.0)]
    assert len(evaluate([svc], machines, EPOCH, HOT_WINDOW)) == 1


def test_held_runs_finds_each_machines_final_run() -> None:
    t = np.array([0.0, 10, 20, 30, 0, 10, 20, 0])
    beyond = np.array([True, False, True, True, True, True, True, False])
    first, last = np.array([0, 4, 7]), np.array([3, 6, 7])
    # The third machine's newest reading is not beyond: its entry has no meaning.
    assert held_runs(t, beyond, first, last, gap_limit_s=300)[:2].tolist() == [2, 4]


def test_window_of_sorts_by_machine_then_time() -> None:
    w = Window.of(machine_id=[2, 1, 2, 1], ts=[5.0, 9.0, 1.0, 3.0], signals={"rpm": [1, 2, 3, 4]})
    assert w.machine_id.tolist() == [1, 1, 2, 2]
    assert w.ts.tolist() == [3.0, 9.0, 1.0, 5.0]
    assert w.signal("rpm").tolist() == [4.0, 2.0, 3.0, 1.0]
    assert np.isnan(w.signal("coolant_c")).all()


def test_window_from_rows_takes_datetimes_and_none() -> None:
    w = Window.from_rows(
        [(7, at(60), None, 900), (7, at(0), 12.5, None)], signals=["battery_v", "rpm"]
    )
    assert w.ts.tolist() == [EPOCH.timestamp(), EPOCH.timestamp() + 60]
    assert w.signal("battery_v")[0] == 12.5
    assert np.isnan(w.signal("battery_v")[1])


def test_window_refuses_unsorted_or_ragged_columns() -> None:
    with pytest.raises(ValueError, match="sorted"):
        Window(machine_id=np.array([2, 1]), ts=np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match="length"):
        Window(machine_id=np.array([1, 1]), ts=np.array([0.0]))


def test_threshold_candidates_are_the_machines_whose_newest_reading_could_fire() -> None:
    hot = Threshold(key="hot", signal="coolant_c", op=Op.GT, value=105, hold_s=60, clear_below=98)
    low = Threshold(
        key="low", signal="oil_kpa", op=Op.LT, value=100, hold_s=60, clear_above=150,
        only_when_running=True,
    )  # fmt: skip
    latest = Window.of(
        machine_id=[1, 2, 3, 4, 5],
        ts=[0.0] * 5,
        signals={
            "coolant_c": [90, 107, np.nan, 90, 90],  # 2 beyond; 3 without the signal
            "oil_kpa": [400, 400, 400, 80, 50],  # 4 beyond; 5 too, but not running
            "rpm": [1500, 1500, 1500, 1500, 0],
        },
    )
    assert threshold_candidates([hot, low], latest) == {2, 4}
    assert threshold_candidates([hot], latest) == {2}
    assert threshold_candidates([], latest) == set()
