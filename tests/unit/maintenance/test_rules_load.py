from __future__ import annotations

import csv
from pathlib import Path

import msgspec
import pytest

from maintenance.errors import Conflict, Invalid
from maintenance.rules.load import default_rules, parse, read_document, validate
from maintenance.rules.model import (
    FaultCode,
    HoursJump,
    Op,
    ServiceInterval,
    Silence,
    Threshold,
)
from maintenance.rules.store import check_newer, document_of

COMMON_DTCS = Path(__file__).parents[3] / ".." / "shared" / "data" / "j1939" / "common_dtcs.csv"


def test_shipped_rules_validate() -> None:
    ruleset = default_rules()
    kinds = {type(r) for r in ruleset.rules}
    assert kinds == {ServiceInterval, FaultCode, Threshold, Silence, HoursJump}
    assert ruleset.version >= 3
    # A service is a kit of parts; a fault may need only work (a parked regeneration).
    assert all(r.parts for r in ruleset.rules if isinstance(r, ServiceInterval))


def test_shipped_fault_rules_name_codes_seen_in_the_field() -> None:
    if not COMMON_DTCS.exists():
        pytest.skip(f"{COMMON_DTCS} is not beside the clone")
    with COMMON_DTCS.open(newline="") as f:
        known = {(int(r["spn"]), int(r["fmi"])) for r in csv.DictReader(f)}
    for rule in default_rules().rules:
        if isinstance(rule, FaultCode):
            assert rule.fmi, f"{rule.key} matches any FMI"
            assert {(rule.spn, fmi) for fmi in rule.fmi} & known, rule.key


def test_every_fault_the_simulator_raises_has_a_rule() -> None:
    from simulators.scenarios import fault_catalogue

    covered = {
        (r.spn, fmi) for r in default_rules().rules if isinstance(r, FaultCode) for fmi in r.fmi
    }
    raised = {(d.spn, d.fmi) for f in fault_catalogue().faults for d in f.dtcs}
    assert raised - covered <= {(524020, 31)}  # a proprietary code the dealer can only look up


def test_unknown_field_names_the_place() -> None:
    text = (
        "version: 1\nrules:\n  - {key: svc-1, kind: service_interval, every_h: 10, colour: red}\n"
    )
    with pytest.raises(Invalid, match=r"colour.*rules\[0\]"):
        parse(text)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(Invalid, match="kind"):
        parse("version: 1\nrules:\n  - {key: x-1, kind: horoscope}\n")


def test_duplicate_keys_are_rejected() -> None:
    text = (
        "version: 1\nrules:\n"
        "  - {key: svc-1, kind: service_interval, every_h: 10}\n"
        "  - {key: svc-1, kind: service_interval, every_h: 20}\n"
    )
    with pytest.raises(Invalid, match="svc-1"):
        parse(text)


def test_negative_interval_is_rejected() -> None:
    with pytest.raises(Invalid, match="every_h"):
        parse("version: 1\nrules:\n  - {key: svc-1, kind: service_interval, every_h: -5}\n")


def test_shipped_thresholds_clear_on_the_safe_side() -> None:
    thresholds = {r.key: r for r in default_rules().rules if isinstance(r, Threshold)}
    assert set(thresholds) >= {"coolant-hot", "hyd-oil-hot", "battery-low", "oil-pressure-low"}
    for rule in thresholds.values():
        assert (rule.clear_level < rule.value) is (rule.op is Op.GT), rule.key
    assert thresholds["oil-pressure-low"].only_when_running


THRESHOLD = "{key: hot-1, kind: threshold, signal: coolant_c, op: gt, value: 105, hold_s: 60"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (THRESHOLD + ", clear_below: 98}", None),
        (THRESHOLD.replace("coolant_c", "coolant_f") + ", clear_below: 98}", r"hot-1.*coolant_f"),
        (
            THRESHOLD.replace("coolant_c", "pto_rpm").replace("105", "1000")
            + ", clear_below: 900, applies_to: {kind: excavator}}",
            r"hot-1.*pto_rpm.*excavator",
        ),
        (THRESHOLD + ", clear_below: 110}", r"hot-1: clear_below 110 must be below value 105"),
        (THRESHOLD + ", clear_below: 105}", r"hot-1: clear_below"),
        (THRESHOLD + ", clear_above: 110}", r"hot-1: clear_above does not apply to op gt"),
        (THRESHOLD + "}", r"hot-1: clear_below is required"),
        (
            THRESHOLD.replace("op: gt", "op: lt") + ", clear_above: 100}",
            r"hot-1: clear_above 100 must be above value 105",
        ),
        (THRESHOLD.replace("op: gt", "op: ge") + ", clear_below: 98}", r"rules\[0\]\.op"),
        (THRESHOLD.replace("60", "-1") + ", clear_below: 98}", r"rules\[0\]\.hold_s.*hot-1"),
        ("{key: quiet-1, kind: silence, after_s: 0}", r"rules\[0\]\.after_s.*quiet-1"),
        ("{key: jump-1, kind: hours_jump, max_rate: 0}", r"rules\[0\]\.max_rate.*jump-1"),
        ("{key: quiet-1, kind: silence, after_s: 60, signal: rpm}", r"signal.*quiet-1"),
    ],
)
def test_window_rule_validation_names_rule_and_field(rule: str, message: str | None) -> None:
    text = f"version: 3\nrules:\n  - {rule}\n"
    if message is None:
        assert len(parse(text).rules) == 1
    else:
        with pytest.raises(Invalid, match=message):
            parse(text)


def test_hours_jump_defaults() -> None:
    (rule,) = parse("version: 3\nrules:\n  - {key: jump-1, kind: hours_jump}\n").rules
    assert isinstance(rule, HoursJump)
    assert (rule.max_rate, rule.tolerance_h) == (1.05, 0.05)


# The stored form and the checks load_rule_set makes before it touches the table.


def test_stored_document_reads_back_as_the_same_rule_set() -> None:
    shipped = default_rules()
    document = document_of(shipped)
    again = validate(msgspec.json.decode(msgspec.json.encode(document)))  # as jsonb returns it
    assert again == shipped
    assert document["version"] == shipped.version


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "Expected `object`, got `null`"),
        ([{"key": "svc-1"}], "Expected `object`, got `array`"),
        ({"rules": []}, "missing required field `version`"),
        ({"version": 0, "rules": []}, r"\$\.version"),
        (
            {"version": 2, "rules": [{"key": "svc-1", "kind": "service_interval", "every_h": "x"}]},
            r"rules\[0\]\.every_h.*\(rule svc-1\)",
        ),
        (
            {"version": 2, "rules": [{"key": "Bad Key", "kind": "silence", "after_s": 60}]},
            r"rules\[0\]\.key",
        ),
    ],
)
def test_documents_are_validated_like_files(document: object, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        validate(document)


def test_text_that_is_not_yaml_is_invalid() -> None:
    with pytest.raises(Invalid, match="not YAML"):
        read_document("version: [1\n")


@pytest.mark.parametrize(("version", "newest"), [(1, None), (4, 3), (10, 3)])
def test_a_version_above_the_newest_may_be_loaded(version: int, newest: int | None) -> None:
    check_newer(version=version, newest=newest)


@pytest.mark.parametrize(("version", "newest"), [(3, 3), (2, 3)])
def test_a_version_not_above_the_newest_is_refused(version: int, newest: int) -> None:
    with pytest.raises(Conflict, match=f"version {version} is not newer than version {newest}"):
        check_newer(version=version, newest=newest)
