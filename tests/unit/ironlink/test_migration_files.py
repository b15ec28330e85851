from __future__ import annotations

from pathlib import Path

import pytest

from ironlink.migrate import MigrationError, discover


def test_shipped_migrations_are_numbered_in_order() -> None:
    found = discover()
    assert [m.version for m in found] == list(range(1, len(found) + 1))


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("SELECT 1;")
    (tmp_path / "two.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match=r"two\.sql"):
        discover(tmp_path)


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="duplicate"):
        discover(tmp_path)
