"""ISO 15143-3 XML: well-formed, namespaced, the same values as the JSON; Accept negotiation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from api.iso15143.documents import (
    NAMESPACE,
    DataItem,
    EngineState,
    EquipmentRow,
    fleet_document,
    series_document,
)
from api.iso15143.render import to_xml, wants_xml

NS = {"i": NAMESPACE}
T0 = datetime(2024, 5, 1, 6, tzinfo=UTC)


def href(n: int) -> str:
    return f"https://h/iso15143/Fleet/{n}?a=1&b=<2>"  # escaping is the serialiser's job


def test_fleet_xml_has_the_json_values_with_datetime_as_attributes() -> None:
    row = EquipmentRow(
        serial="T-0001",
        model="6155M",
        pin=None,
        hours_ts=T0,
        engine_hours=12.5,
        engine_ts=T0,
        rpm=900.0,
    )
    doc = fleet_document([row, row], page=1, total=150, href=href, now=T0)
    root = ET.fromstring(to_xml(doc))
    assert root.tag == f"{{{NAMESPACE}}}Fleet"
    assert root.attrib == {"version": "1", "snapshotTime": "2024-05-01T06:00:00Z"}
    rels = [
        (link.findtext("i:rel", namespaces=NS), link.findtext("i:href", namespaces=NS))
        for link in root.findall("i:Links", NS)
    ]
    assert rels == [(link["rel"], link["href"]) for link in doc.body["Links"]]  # type: ignore[call-overload, index, union-attr]
    equipment = root.findall("i:Equipment", NS)
    assert len(equipment) == 2
    hours = equipment[0].find("i:CumulativeOperatingHours", NS)
    assert hours is not None
    assert hours.get("datetime") == "2024-05-01T06:00:00Z"
    assert hours.findtext("i:Hour", namespaces=NS) == "12.5"
    assert equipment[0].findtext("i:EngineStatus/i:Running", namespaces=NS) == "true"
    assert equipment[0].findtext("i:EquipmentHeader/i:EquipmentID", namespaces=NS) == "T-0001"


def test_series_xml_repeats_the_item_element() -> None:
    rows = [EngineState(T0, True), EngineState(T0, False)]
    doc = series_document(DataItem.ENGINE_CONDITION, rows, page=1, total=2, href=href)
    root = ET.fromstring(to_xml(doc))
    assert root.tag == f"{{{NAMESPACE}}}EngineStatusMessages"
    running = [e.findtext("i:Running", namespaces=NS) for e in root.findall("i:EngineStatus", NS)]
    assert running == ["true", "false"]


def test_xml_declares_utf8() -> None:
    doc = series_document(DataItem.FAULTS, [], page=1, total=0, href=href)
    assert to_xml(doc).startswith(b"<?xml version='1.0' encoding='utf-8'?>")


@pytest.mark.parametrize(
    ("accept", "xml"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/xml", True),
        ("text/xml", True),
        ("application/xml, */*", True),
        ("application/json, application/xml", False),
        ("application/json;q=0.5, application/xml", True),
        ("application/xml;q=0.5, application/json", False),
        ("application/xml;q=0.5, */*", False),
        ("application/xml;q=0", False),
    ],
)
def test_json_unless_xml_is_preferred(accept: str | None, xml: bool) -> None:
    assert wants_xml(accept) is xml
