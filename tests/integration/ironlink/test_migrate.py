from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from ironlink.migrate import MIGRATIONS_DIR, MigrationError, apply, discover


def test_migrates_an_empty_database_then_is_a_no_op(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        first = apply(conn, discover())
        second = apply(conn, discover())
        hypertables = {
            r[0]
            for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
        recorded = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert first == [m.name for m in discover()]
    assert second == []
    assert hypertables == {"readings", "faults", "dm1_reports", "readings_hourly"}
    assert recorded == (len(first),)


def test_an_edited_applied_migration_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        apply(conn, discover(copy))
        edited = copy / "0002_fleet.sql"
        edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(MigrationError, match=r"0002_fleet\.sql was changed"):
            apply(conn, discover(copy))


def test_a_failing_migration_leaves_nothing_behind(empty_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE kept (id int);")
    (tmp_path / "0002_broken.sql").write_text(
        "CREATE TABLE half (id int); SELECT no_such_function();"
    )
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction):
            apply(conn, discover(tmp_path))
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert "kept" in tables
    assert "half" not in tables
    assert versions == [1]
