"""Markers by directory, and session fixtures for the real services.

Integration and e2e tests use the project's own PostgreSQL/TimescaleDB and Mosquitto started by
`make services-up` (scripts/services.sh). A migrated template database is built once per session;
each test gets its own clone, so tests that commit (ingest, tickets) never see each other's rows.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ironlink import migrate
from ironlink.settings import Settings, load

TEMPLATE_DB = "ironlink_test_template"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


def _admin_url(base: Settings) -> str:
    return psycopg.conninfo.make_conninfo(base.database_url, dbname="postgres")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load(os.environ)


@pytest.fixture(scope="session")
def template_db(base_settings: Settings) -> str:
    admin = _admin_url(base_settings)
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable ({exc}); run `make services-up` first", pytrace=False
        )
    with conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE_DB))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    url = psycopg.conninfo.make_conninfo(base_settings.database_url, dbname=TEMPLATE_DB)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply(conn, migrate.discover())
    return TEMPLATE_DB


@pytest.fixture
def db_url(base_settings: Settings, template_db: str) -> Iterator[str]:
    name = f"ironlink_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_url(base_settings)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    yield psycopg.conninfo.make_conninfo(base_settings.database_url, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def empty_db_url(base_settings: Settings, template_db: str) -> Iterator[str]:
    """A database with nothing in it, for the migration runner's own tests."""
    name = f"ironlink_empty_{uuid.uuid4().hex[:12]}"
    admin = _admin_url(base_settings)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield psycopg.conninfo.make_conninfo(base_settings.database_url, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="session")
def broker(base_settings: Settings) -> tuple[str, int]:
    address = (base_settings.mqtt_host, base_settings.mqtt_port)
    try:
        socket.create_connection(address, timeout=3).close()
    except OSError as exc:
        pytest.fail(
            f"Mosquitto is not reachable at {address} ({exc}); run `make services-up` first",
            pytrace=False,
        )
    return address


@pytest.fixture
def settings(base_settings: Settings, db_url: str) -> Settings:
    """Settings for one test: its own database and its own shared-subscription group. The group's
    persistent session outlives the test by a minute only; otherwise the broker would queue every
    later test's messages for it."""
    return base_settings.replace(
        database_url=db_url,
        ingest_group=f"test-{uuid.uuid4().hex[:8]}",
        ingest_flush_s=0.05,
        ingest_session_expiry_s=60,
    )
