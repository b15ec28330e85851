"""ISO 15143-3 documents from plain rows: element names, `Z` times, paging links, input checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.iso15143.documents import (
    PAGE_SIZE,
    DataItem,
    EngineState,
    EquipmentRow,
    FaultOnset,
    Position,
    Sample,
    check_page,
    check_range,
    data_item,
    equipment,
    fleet_document,
    last_page,
    links,
    parse_utc,
    series_document,
    zulu,
)
from maintenance.errors import Invalid, NotFound

T0 = datetime(2024, 5, 1, 6, 0, 0, 123456, tzinfo=UTC)


def href(n: int) -> str:
    return f"https://h/iso15143/Fleet/{n}"


def full_row() -> EquipmentRow:
    return EquipmentRow(
        serial="T-0001",
        model="6155M",
        pin="1RW6155MR00000042",
        hours_ts=T0,
        engine_hours=1234.5678,
        idle_ts=T0,
        idle_hours=210.04,
        location_ts=T0 - timedelta(minutes=5),
        lat=52.1234567,
        lon=-7.7654321,
        fuel_ts=T0,
        fuel_pct=61.25,
        def_ts=T0,
        def_pct=80.0,
        engine_ts=T0,
        rpm=1450.0,
    )


def test_zulu_is_utc_to_the_second_with_z() -> None:
    cet = timezone(timedelta(hours=2))
    assert zulu(datetime(2024, 5, 1, 8, 0, 0, 999999, tzinfo=cet)) == "2024-05-01T06:00:00Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T06:00:00Z", datetime(2024, 5, 1, 6, tzinfo=UTC)),
        ("2024-05-01T06:00:00.5Z", datetime(2024, 5, 1, 6, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T08:00:00+02:00", datetime(2024, 5, 1, 6, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_parse_utc_accepts_z_offsets_and_dates(text: str, expected: datetime) -> None:
    assert parse_utc(text, name="startDateUTC") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [("2024-05-01T06:00:00", "no zone"), ("yesterday", "not a date"), ("2024-13-01", "not a")],
)
def test_parse_utc_refuses_naive_and_malformed_times(text: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        parse_utc(text, name="startDateUTC")


def test_range_must_be_forward_and_bounded() -> None:
    check_range(T0, T0 + timedelta(days=31))
    with pytest.raises(Invalid, match="after"):
        check_range(T0, T0)
    with pytest.raises(Invalid, match="31 days"):
        check_range(T0, T0 + timedelta(days=31, seconds=1))


@pytest.mark.parametrize(
    ("page", "total", "rels"),
    [
        (1, 0, [("self", 1), ("last", 1)]),
        (1, 100, [("self", 1), ("last", 1)]),
        (1, 101, [("self", 1), ("next", 2), ("last", 2)]),
        (2, 250, [("self", 2), ("prev", 1), ("next", 3), ("last", 3)]),
        (3, 250, [("self", 3), ("prev", 2), ("last", 3)]),
    ],
)
def test_links_self_prev_next_last(page: int, total: int, rels: list[tuple[str, int]]) -> None:
    assert links(href, page=page, total=total) == [{"rel": rel, "href": href(n)} for rel, n in rels]


def test_pages_hold_at_most_one_hundred() -> None:
    assert PAGE_SIZE == 100
    assert [last_page(n) for n in (0, 1, 100, 101, 200, 201)] == [1, 1, 1, 2, 2, 3]


def test_page_numbers_start_at_one_and_end_at_the_last() -> None:
    check_page(1, 0)
    with pytest.raises(Invalid, match="start at 1"):
        check_page(0, 10)
    with pytest.raises(NotFound, match="last page, 2"):
        check_page(3, 150)


def test_equipment_uses_the_standards_element_names() -> None:
    out = equipment(full_row())
    assert list(out) == [
        "EquipmentHeader",
        "Location",
        "CumulativeOperatingHours",
        "CumulativeIdleHours",
        "FuelRemaining",
        "DEFRemaining",
        "EngineStatus",
    ]
    assert out["EquipmentHeader"] == {
        "OEMName": "John Deere",
        "Model": "6155M",
        "EquipmentID": "T-0001",
        "SerialNumber": "T-0001",
        "PIN": "1RW6155MR00000042",
    }
    assert out["CumulativeOperatingHours"] == {"datetime": "2024-05-01T06:00:00Z", "Hour": 1234.57}
    assert out["Location"] == {
        "datetime": "2024-05-01T05:55:00Z",
        "Latitude": 52.123457,
        "Longitude": -7.765432,
    }
    assert out["FuelRemaining"] == {"datetime": "2024-05-01T06:00:00Z", "Percent": 61.2}
    assert out["EngineStatus"] == {"datetime": "2024-05-01T06:00:00Z", "Running": True}


def test_elements_never_reported_are_left_out_not_zeroed() -> None:
    out = equipment(EquipmentRow(serial="E-0002", model="320 GC", pin=None))
    assert out == {
        "EquipmentHeader": {"Model": "320 GC", "EquipmentID": "E-0002", "SerialNumber": "E-0002"}
    }


def test_unknown_maker_leaves_oem_name_out_and_idle_engine_is_not_running() -> None:
    row = EquipmentRow(serial="E-3", model="X", pin="ZZZ00000000000001", engine_ts=T0, rpm=0.0)
    out = equipment(row)
    assert "OEMName" not in out["EquipmentHeader"]  # type: ignore[operator]
    assert out["EngineStatus"] == {"datetime": "2024-05-01T06:00:00Z", "Running": False}


def test_fleet_document_carries_version_snapshot_time_links_and_equipment() -> None:
    doc = fleet_document([full_row()], page=1, total=1, href=href, now=T0)
    assert doc.root == "Fleet"
    assert list(doc.body) == ["version", "snapshotTime", "Links", "Equipment"]
    assert doc.body["snapshotTime"] == "2024-05-01T06:00:00Z"
    assert len(doc.body["Equipment"]) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "row", "root", "element", "expected"),
    [
        (
            DataItem.CUMULATIVE_OPERATING_HOURS,
            Sample(T0, 10.004),
            "CumulativeOperatingHoursMessages",
            "CumulativeOperatingHours",
            {"Hour": 10.0},
        ),
        (
            DataItem.CUMULATIVE_IDLE_HOURS,
            Sample(T0, 2.5),
            "CumulativeIdleHoursMessages",
            "CumulativeIdleHours",
            {"Hour": 2.5},
        ),
        (
            DataItem.FUEL_REMAINING_RATIO,
            Sample(T0, 44.44),
            "FuelRemainingMessages",
            "FuelRemaining",
            {"Percent": 44.4},
        ),
        (
            DataItem.DEF_REMAINING,
            Sample(T0, 9.0),
            "DEFRemainingMessages",
            "DEFRemaining",
            {"Percent": 9.0},
        ),
        (
            DataItem.LOCATIONS,
            Position(T0, 1.0, 2.0),
            "LocationMessages",
            "Location",
            {"Latitude": 1.0, "Longitude": 2.0},
        ),
        (
            DataItem.ENGINE_CONDITION,
            EngineState(T0, True),
            "EngineStatusMessages",
            "EngineStatus",
            {"Running": True},
        ),
        (
            DataItem.FAULTS,
            FaultOnset(T0, 110, 0, "red"),
            "DiagnosticTroubleCode",
            "FaultCode",
            {"CodeIdentifier": "SPN 110 FMI 0", "CodeSeverity": "red"},
        ),
    ],
)
def test_series_documents_name_root_and_items(
    item: DataItem,
    row: Sample | Position | EngineState | FaultOnset,
    root: str,
    element: str,
    expected: dict[str, object],
) -> None:
    doc = series_document(item, [row], page=1, total=1, href=href)
    assert doc.root == root
    assert list(doc.body) == ["Links", element]
    assert doc.body[element] == [{"datetime": "2024-05-01T06:00:00Z", **expected}]


def test_data_items_by_standard_name_or_alias_and_unknown_is_404() -> None:
    assert data_item("CumulativeOperatingHours") is DataItem.CUMULATIVE_OPERATING_HOURS
    assert data_item("DEFRemainingRatio") is DataItem.DEF_REMAINING
    with pytest.raises(NotFound, match="Locations"):
        data_item("Odometer")
