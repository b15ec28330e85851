"""Pure pieces behind /v1/dispatch: queue cursors, the signals a ticket's evidence names, SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maintenance.errors import Invalid
from maintenance.tickets.detail import DEFAULT_SIGNALS, MAX_SIGNALS, signals_of, sla
from maintenance.tickets.model import Status
from maintenance.tickets.queue import Position, Sort

AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize("sort", list(Sort))
@pytest.mark.parametrize("at", [AT, datetime(1969, 7, 20, 20, 17, tzinfo=UTC)])
def test_a_position_round_trips_exactly(sort: Sort, at: datetime) -> None:
    position = Position(sort, at, 42, rank=3 if sort is Sort.PRIORITY else 0)
    text = position.encode()
    assert Position.decode(text, sort=sort) == position
    assert text.isascii()
    assert " " not in text


def test_a_position_of_another_sort_is_refused() -> None:
    text = Position(Sort.SLA, AT, 1).encode()
    with pytest.raises(Invalid, match="sort=sla, not sort=priority"):
        Position.decode(text, sort=Sort.PRIORITY)


@pytest.mark.parametrize("text", ["", "sla", "sla.0.1", "sla.0.1.2.3", "sla.a.1.2", "x.0.1.2",
                                  "sla.0.99999999999999999999999.1"])  # fmt: skip
def test_garbage_is_not_a_position(text: str) -> None:
    with pytest.raises(Invalid, match="next_after"):
        Position.decode(text, sort=Sort.SLA)


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ([{"signal": "coolant_c"}, {"signal": "coolant_c"}], ["coolant_c"]),
        ([{"signal": "hyd_bar"}, {"spn": 110, "fmi": 0}], ["hyd_bar", "coolant_c"]),
        ([{"spn": 1638}, {"spn": 99999}], ["hyd_oil_c"]),
        ([{"signal": "lat"}, {"signal": "no_such"}], list(DEFAULT_SIGNALS)),
        ([{"due_at_h": 250.0}], list(DEFAULT_SIGNALS)),
        ([], list(DEFAULT_SIGNALS)),
        ([{"signal": 7, "spn": "110"}], list(DEFAULT_SIGNALS)),  # wrong types name nothing
    ],
)
def test_signals_of_evidence(evidence: list[dict[str, object]], expected: list[str]) -> None:
    assert signals_of(evidence) == expected


def test_signals_are_capped() -> None:
    names = ["rpm", "load_pct", "coolant_c", "oil_kpa", "fuel_pct", "fuel_lph", "def_pct",
             "battery_v", "hyd_oil_c", "hyd_bar"]  # fmt: skip
    assert signals_of([{"signal": n} for n in names]) == names[:MAX_SIGNALS]


def test_sla_of_a_live_ticket_counts_to_now_and_a_finished_one_to_its_finish() -> None:
    due = AT + timedelta(hours=1)
    assert sla(due_at=due, status=Status.OPEN, finished_at=None, now=AT).remaining_s == 3600
    late = sla(due_at=due, status=Status.IN_PROGRESS, finished_at=None, now=due + timedelta(1))
    assert (late.remaining_s, late.breached) == (-86400, True)
    done = sla(due_at=due, status=Status.RESOLVED, finished_at=AT, now=due + timedelta(days=30))
    assert (done.remaining_s, done.breached) == (3600, False)
    # A reopened ticket is live again: its old finish no longer counts.
    reopened = sla(due_at=due, status=Status.IN_PROGRESS, finished_at=AT, now=due)
    assert (reopened.remaining_s, reopened.breached) == (0, False)
