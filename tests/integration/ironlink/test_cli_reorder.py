"""`ironlink reorder-chunks [--max N]` against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ironlink.cli import build_parser
from ironlink.settings import Settings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]


def run(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(["reorder-chunks", *argv])
    result: int = args.func(settings, args)
    return result


def test_prints_each_chunk_reordered_and_the_count(
    settings: Settings, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    dealer = make_dealer(conn)
    machine, _ = make_machine(conn, owner_id=make_owner(conn, dealer_id=dealer), dealer_id=dealer)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=5)
    conn.execute(
        "INSERT INTO readings (machine_id, ts, seq, engine_hours)"
        " SELECT %s, %s + k * interval '1 hour', k, k FROM generate_series(0, 71) k",
        (machine, start),
    )
    assert run(settings, "--max", "2") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "chunks reordered: 2"
    assert f"(readings {start:%Y-%m-%d} 00:00 .. " in out[0]
    assert run(settings) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "chunks reordered: 1"
    assert run(settings) == 0
    assert capsys.readouterr().out.splitlines() == ["chunks reordered: 0"]
