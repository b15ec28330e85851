"""scripts/dtc_rules.py: fault-code rules from common_dtcs.csv, merged into the shipped rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from maintenance.rules.load import default_rules, parse
from maintenance.rules.model import FaultCode, Priority

ROOT = Path(__file__).parents[3]
COMMON_DTCS = ROOT / ".." / "shared" / "data" / "j1939" / "common_dtcs.csv"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dtc_rules", ROOT / "scripts" / "dtc_rules.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dtc_rules = _script()

# Hand-written rules win over the CSV (they were curated with parts and actions, and several group
# FMIs under one priority). These are the rows where the curated priority differs from the CSV's
# typical severity; a new difference fails the test so someone decides it on purpose.
REVIEWED_DIFFERENCES = {
    (94, 1): ("spn94-fuel-pressure", "high", "critical"),
    (637, 2): ("spn637-crank-sensor", "normal", "high"),
    (168, 18): ("spn168-charging", "normal", "high"),
    (3719, 31): ("spn3719-dpf-soot", "normal", "high"),
    (1761, 17): ("spn1761-def-level", "normal", "high"),
    (1761, 18): ("spn1761-def-level", "normal", "high"),
    (1761, 1): ("spn1761-def-level", "normal", "critical"),
    (4364, 18): ("spn4364-scr-efficiency", "normal", "high"),
    (1638, 0): ("spn1638-hyd-temp", "high", "critical"),
}

HAND_WRITTEN = """\
# a comment that must survive
version: 7
rules:
  - {key: spn110-fmi0, kind: fault_code, spn: 110, fmi: [0], priority: normal,
     parts: [{part_no: THERMOSTAT-82C}]}
  - {key: water-in-fuel, kind: fault_code, spn: 97, fmi: [15, 16], priority: high}
"""
ROWS = [
    {
        "spn": spn,
        "fmi": fmi,
        "spn_name": name,
        "fmi_meaning": "Most Severe",
        "typical_severity": severity,
        "typical_service_action": "Look at it.",
    }
    for spn, fmi, name, severity in [
        ("110", "0", "Coolant", "stop"),  # same key as a hand-written rule
        ("97", "16", "Water in fuel", "warning"),  # same code as a hand-written rule
        ("111", "1", "Coolant level", "stop"),
        ("1761", "18", "DEF level", "warning"),
        ("524020", "31", "Manufacturer", "info"),
        ("190", "0", "Engine speed", "odd"),
    ]
]


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        ("stop", "critical"),
        ("warning", "high"),
        ("info", "low"),
        ("Stop ", "critical"),
        ("", "normal"),
    ],
)
def test_severity_maps_to_priority(severity: str, priority: str) -> None:
    assert dtc_rules.priority_of(severity) == priority


def test_merge_keeps_hand_written_rules_and_their_parts_and_comments() -> None:
    merged = dtc_rules.merge(HAND_WRITTEN, ROWS)
    assert merged.startswith("# a comment that must survive\nversion: 8\n")
    ruleset = parse(merged)
    by_key = {r.key: r for r in ruleset.rules}
    assert by_key["spn110-fmi0"].priority is Priority.NORMAL  # hand-written wins on its key
    assert [p.part_no for p in by_key["spn110-fmi0"].parts] == ["THERMOSTAT-82C"]  # type: ignore[union-attr]
    assert "spn97-fmi16" not in by_key  # the hand-written rule already matches 97/16


def test_merge_generates_one_rule_per_uncovered_row_with_mapped_priority() -> None:
    ruleset = parse(dtc_rules.merge(HAND_WRITTEN, ROWS))
    generated = {
        r.key: (r.spn, r.fmi, r.priority, r.title, r.action, [p.part_no for p in r.parts])
        for r in ruleset.rules
        if isinstance(r, FaultCode) and r.key not in {"spn110-fmi0", "water-in-fuel"}
    }
    assert generated == {
        "spn111-fmi1": (
            111,
            [1],
            Priority.CRITICAL,
            "Coolant level: Most Severe",
            "Look at it.",
            ["COOLANT-50-20L"],  # a curated part
        ),
        "spn1761-fmi18": (1761, [18], Priority.HIGH, "DEF level: Most Severe", "Look at it.", []),
        "spn524020-fmi31": (
            524020,
            [31],
            Priority.LOW,
            "Manufacturer: Most Severe",
            "Look at it.",
            [],
        ),
        "spn190-fmi0": (190, [0], Priority.NORMAL, "Engine speed: Most Severe", "Look at it.", []),
    }


def test_merging_again_changes_nothing_and_keeps_the_version() -> None:
    once = dtc_rules.merge(HAND_WRITTEN, ROWS)
    assert dtc_rules.merge(once, ROWS) == once


def test_a_changed_row_rewrites_the_block_and_bumps_the_version_again() -> None:
    once = dtc_rules.merge(HAND_WRITTEN, ROWS)
    changed = [dict(r, typical_severity="info") if r["spn"] == "111" else r for r in ROWS]
    twice = dtc_rules.merge(once, changed)
    assert yaml.safe_load(twice)["version"] == 9
    rule = next(r for r in parse(twice).rules if r.key == "spn111-fmi1")
    assert rule.priority is Priority.LOW
    assert twice.count(dtc_rules.GENERATED_MARKER) == 1


def _csv_rows() -> list[dict[str, str]]:
    if not COMMON_DTCS.exists():
        pytest.skip(f"{COMMON_DTCS} is not beside the clone")
    rows: list[dict[str, str]] = dtc_rules.read_csv(COMMON_DTCS)
    return rows


def test_every_common_dtc_has_exactly_one_rule_with_its_priority() -> None:
    rows = _csv_rows()
    faults = [r for r in default_rules().rules if isinstance(r, FaultCode)]
    differences = {}
    for row in rows:
        spn, fmi = int(row["spn"]), int(row["fmi"])
        matching = [r for r in faults if r.spn == spn and fmi in r.fmi]
        assert len(matching) == 1, f"{spn}/{fmi}: {[r.key for r in matching]}"
        (rule,) = matching
        expected = dtc_rules.priority_of(row["typical_severity"])
        if str(rule.priority) != expected:
            differences[(spn, fmi)] = (rule.key, str(rule.priority), expected)
    assert differences == REVIEWED_DIFFERENCES


def test_the_committed_rules_file_is_what_the_script_writes() -> None:
    rows = _csv_rows()
    text = dtc_rules.RULES_FILE.read_text(encoding="utf-8")
    assert dtc_rules.merge(text, rows) == text, "run scripts/dtc_rules.py and commit the result"
