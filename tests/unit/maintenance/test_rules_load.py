from __future__ import annotations

import pytest

from maintenance.errors import Invalid
from maintenance.rules.load import default_rules, parse
from maintenance.rules.model import FaultCode, ServiceInterval


def test_shipped_rules_validate() -> None:
    ruleset = default_rules()
    kinds = {type(r) for r in ruleset.rules}
    assert kinds == {ServiceInterval, FaultCode}
    assert all(r.parts for r in ruleset.rules)


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
