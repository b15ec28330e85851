"""`ironlink rollup` against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ironlink.cli import build_parser
from ironlink.settings import Settings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]


def run(settings: Settings) -> None:
    args = build_parser().parse_args(["rollup"])
    assert args.func(settings, args) == 0


def test_prints_the_machine_hours_rolled_up(
    settings: Settings, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    dealer = make_dealer(conn)
    machine, _ = make_machine(conn, owner_id=make_owner(conn, dealer_id=dealer), dealer_id=dealer)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    conn.execute(
        "INSERT INTO readings (machine_id, ts, seq, engine_hours)"
        " SELECT %s, %s + k * interval '20 minutes', k, k FROM generate_series(0, 11) k",
        (machine, start),
    )
    run(settings)
    first = capsys.readouterr().out
    assert first.startswith("machine-hours rolled up: 4 in 1 batches")
    assert "first run" in first
    assert conn.execute("SELECT sum(readings) FROM readings_hourly").fetchone() == (12,)
    run(settings)
    assert capsys.readouterr().out.startswith("machine-hours rolled up: 0 in 0 batches")
