from __future__ import annotations

import csv
from pathlib import Path

import pytest

from maintenance.errors import Invalid
from maintenance.rules.load import default_rules, parse
from maintenance.rules.model import FaultCode, ServiceInterval

COMMON_DTCS = Path(__file__).parents[3] / ".." / "shared" / "data" / "j1939" / "common_dtcs.csv"


def test_shipped_rules_validate() -> None:
    ruleset = default_rules()
    kinds = {type(r) for r in ruleset.rules}
    assert kinds == {ServiceInterval, FaultCode}
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
