"""Applies ironlink/migrations/NNNN_*.sql in order, one transaction each.

Each applied file is recorded with its sha256; a later run refuses to start if an applied file
changed, because the database no longer matches what the repository says it is.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, LiteralString

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

CREATE_LEDGER: Final[LiteralString] = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED: Final[LiteralString] = (
    "SELECT version, name, sha256 FROM schema_migrations ORDER BY version"
)
RECORD: Final[LiteralString] = (
    "INSERT INTO schema_migrations (version, name, sha256)"
    " VALUES (%(version)s, %(name)s, %(sha256)s)"
)
# Serialises concurrent runners (e.g. several containers starting at once).
LOCK_KEY: Final = 0x1A0_0001


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_area_what.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def apply(conn: psycopg.Connection[tuple[object, ...]], migrations: list[Migration]) -> list[str]:
    """Applies what is pending and returns the names applied; conn must be in autocommit mode."""
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        conn.execute(CREATE_LEDGER)
        applied = {int(v): (str(n), str(h)) for v, n, h in conn.execute(APPLIED).fetchall()}  # type: ignore[call-overload]
        for m in migrations:
            if m.version in applied and applied[m.version][1] != m.sha256:
                raise MigrationError(
                    f"{m.name} was changed after it was applied (recorded sha256 "
                    f"{applied[m.version][1][:12]}…, file {m.sha256[:12]}…); "
                    "never edit an applied migration, add a new one"
                )
        done: list[str] = []
        for m in migrations:
            if m.version in applied:
                continue
            with conn.transaction():
                conn.execute(m.sql.encode())
                conn.execute(RECORD, {"version": m.version, "name": m.name, "sha256": m.sha256})
            log.info("applied migration %s", m.name)
            done.append(m.name)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def ensure_database(database_url: str) -> None:
    """Creates the target database if it does not exist (the local cluster starts empty)."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    dbname = str(info.get("dbname", ""))
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname))
            )
            log.info("created database %s", dbname)
