"""`ironlink rules load FILE|--shipped` and `ironlink rules show` against a real database."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from ironlink.cli import build_parser
from ironlink.settings import Settings
from maintenance.rules.load import default_rules

Conn = psycopg.Connection[tuple[object, ...]]


def run(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(["rules", *argv])
    result: int = args.func(settings, args)
    return result


def active(conn: Conn) -> tuple[object, ...] | None:
    return conn.execute("SELECT version, loaded_by, source FROM rule_sets WHERE active").fetchone()


def rule_file(tmp_path: Path, version: int, body: str) -> Path:
    path = tmp_path / f"rules-v{version}.yaml"
    path.write_text(f"version: {version}\nrules:\n{body}")
    return path


def test_show_on_a_fresh_database_lists_the_shipped_rules(
    settings: Settings, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "show") == 0
    out = capsys.readouterr().out
    shipped = default_rules()
    assert f"active rule set {shipped.version}:" in out
    assert "coolant-hot" in out
    assert "threshold" in out
    assert active(conn) == (
        shipped.version,
        "bootstrap",
        "shipped:maintenance/rules/default_rules.yaml",
    )


def test_load_makes_the_file_active_and_show_lists_both(
    settings: Settings, conn: Conn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(settings, "show")
    version = default_rules().version + 1
    path = rule_file(tmp_path, version, "  - {key: quiet-2d, kind: silence, after_s: 172800}\n")
    assert run(settings, "load", str(path), "--actor", "ann") == 0
    assert f"rule set {version} is active" in capsys.readouterr().out
    assert active(conn) == (version, "ann", str(path.resolve()))
    run(settings, "show")
    out = capsys.readouterr().out
    assert f"* v{version}" in out
    assert f"  v{version - 1}" in out
    assert "quiet-2d" in out
    assert "coolant-hot" not in out  # listed rules are the active set's


@pytest.mark.parametrize(
    ("version_offset", "body", "message"),
    [
        (0, "  - {key: quiet-2d, kind: silence, after_s: 172800}\n", "not newer than version"),
        (1, "  - {key: quiet-2d, kind: silence, after_s: -1}\n", r"after_s.*quiet-2d"),
        (1, "  - {key: quiet-2d, kind: silence, after_s: [\n", "not YAML"),
    ],
)
def test_a_refused_file_exits_1_with_the_reason_and_changes_nothing(
    settings: Settings,
    conn: Conn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    version_offset: int,
    body: str,
    message: str,
) -> None:
    run(settings, "show")
    before = active(conn)
    path = rule_file(tmp_path, default_rules().version + version_offset, body)
    assert run(settings, "load", str(path)) == 1
    err = capsys.readouterr().err
    assert err.startswith("ironlink rules load: ")
    assert re.search(message, err), err
    assert active(conn) == before


def test_a_missing_file_exits_1(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "load", str(tmp_path / "nope.yaml")) == 1
    assert "nope.yaml" in capsys.readouterr().err


def test_load_shipped_loads_only_a_newer_shipped_set(
    settings: Settings, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "load", "--shipped", "--actor", "ops") == 0
    assert active(conn) == (
        default_rules().version,
        "ops",
        "shipped:maintenance/rules/default_rules.yaml",
    )
    assert run(settings, "load", "--shipped") == 0
    assert "nothing loaded" in capsys.readouterr().out


def test_load_needs_a_file_or_shipped() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["rules", "load"])
