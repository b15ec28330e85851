"""Rule sets in the database: bootstrap, load, refusals, the active switch, and processes picking a
newer version up without a restart."""

from __future__ import annotations

import threading

import psycopg
import pytest

from maintenance.errors import Conflict, Invalid
from maintenance.rules.load import SHIPPED_SOURCE, default_rules
from maintenance.rules.store import (
    ActiveRules,
    active_rules,
    active_version,
    adopt_shipped,
    document_of,
    load_rule_set,
    rule_set_rows,
)

Conn = psycopg.Connection[tuple[object, ...]]


def rows(conn: Conn) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT version, active, source, loaded_by FROM rule_sets ORDER BY version"
    ).fetchall()


def shipped_as(version: int, *, drop: str | None = None) -> dict[str, object]:
    document = document_of(default_rules())
    document["version"] = version
    if drop is not None:
        document["rules"] = [r for r in document["rules"] if r["key"] != drop]  # type: ignore[attr-defined,index]
    return document


def test_an_empty_table_bootstraps_from_the_shipped_yaml(conn: Conn) -> None:
    assert active_version(conn) is None
    ruleset = active_rules(conn)
    assert ruleset == default_rules()
    assert rows(conn) == [(ruleset.version, True, SHIPPED_SOURCE, "bootstrap")]
    assert active_rules(conn) == ruleset  # read back from the table this time
    assert len(rows(conn)) == 1


def test_a_newer_version_is_stored_and_becomes_the_only_active_one(conn: Conn) -> None:
    shipped = active_rules(conn).version
    version = load_rule_set(
        conn, document=shipped_as(shipped + 1, drop="coolant-hot"), source="a.yaml", actor="ann"
    )
    assert version == shipped + 1
    assert [(v, a) for v, a, *_ in rows(conn)] == [(shipped, False), (shipped + 1, True)]
    active = active_rules(conn)
    assert active.version == shipped + 1
    assert "coolant-hot" not in {r.key for r in active.rules}
    listed = rule_set_rows(conn)
    assert (listed[0].version, listed[0].active, listed[0].loaded_by, listed[0].source) == (
        shipped + 1,
        True,
        "ann",
        "a.yaml",
    )
    assert listed[0].rules == len(default_rules().rules) - 1


@pytest.mark.parametrize("offset", [0, -1])
def test_a_version_not_above_the_newest_is_refused_and_changes_nothing(
    conn: Conn, offset: int
) -> None:
    shipped = active_rules(conn).version
    load_rule_set(conn, document=shipped_as(shipped + 2), source="b.yaml", actor="ann")
    before = rows(conn)
    with pytest.raises(Conflict, match=f"not newer than version {shipped + 2}"):
        load_rule_set(conn, document=shipped_as(shipped + 2 + offset), source="c.yaml", actor="bob")
    # Not even an inactive version between the stored ones: versions only go up.
    with pytest.raises(Conflict):
        load_rule_set(conn, document=shipped_as(shipped + 1), source="c.yaml", actor="bob")
    assert rows(conn) == before


def test_an_invalid_document_names_rule_and_field_and_changes_nothing(conn: Conn) -> None:
    shipped = active_rules(conn).version
    document = shipped_as(shipped + 1)
    document["rules"][0]["every_h"] = -5  # type: ignore[index]
    before = rows(conn)
    key = document["rules"][0]["key"]  # type: ignore[index]
    with pytest.raises(Invalid, match=rf"rules\[0\]\.every_h.*rule {key}"):
        load_rule_set(conn, document=document, source="bad.yaml", actor="ann")
    assert rows(conn) == before
    assert active_version(conn) == shipped


def test_loading_inside_a_callers_transaction_rolls_back_with_it(conn: Conn) -> None:
    shipped = active_rules(conn).version

    class Abort(Exception):
        pass

    def load_then_fail() -> None:
        with conn.transaction():
            load_rule_set(conn, document=shipped_as(shipped + 1), source="d.yaml", actor="ann")
            raise Abort

    with pytest.raises(Abort):
        load_then_fail()
    assert active_version(conn) == shipped


def test_the_schema_allows_one_active_row_and_a_matching_version(conn: Conn) -> None:
    active_rules(conn)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO rule_sets (version, document, loaded_by, active)"
            " VALUES (99, '{\"version\": 99, \"rules\": []}', 'x', true)"
        )
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO rule_sets (version, document, loaded_by)"
            " VALUES (98, '{\"version\": 97, \"rules\": []}', 'x')"
        )


def test_concurrent_bootstraps_store_one_rule_set(db_url: str) -> None:
    errors: list[BaseException] = []

    def bootstrap() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                active_rules(c)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bootstrap) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(db_url, autocommit=True) as c:
        assert len(rows(c)) == 1


def test_a_process_picks_up_a_newer_version_after_the_recheck_interval(conn: Conn) -> None:
    now = [0.0]
    cache = ActiveRules(recheck_every_s=5.0, clock=lambda: now[0])
    shipped = cache.get(conn).version
    load_rule_set(conn, document=shipped_as(shipped + 1), source="e.yaml", actor="ann")
    now[0] = 4.9
    assert cache.get(conn).version == shipped  # not checked yet: no query at all
    now[0] = 5.0
    assert cache.get(conn).version == shipped + 1
    same = cache.get(conn)
    now[0] = 10.0
    assert cache.get(conn) is same  # checked again, unchanged: the document is not re-read


def test_the_shipped_set_is_adopted_only_when_newer(conn: Conn) -> None:
    shipped = default_rules().version
    load_rule_set(conn, document=shipped_as(shipped - 1), source="old.yaml", actor="ann")
    assert adopt_shipped(conn, actor="demo") == shipped
    assert active_version(conn) == shipped
    assert adopt_shipped(conn, actor="demo") is None
    load_rule_set(conn, document=shipped_as(shipped + 1), source="admin.yaml", actor="ann")
    assert adopt_shipped(conn, actor="demo") is None
    assert active_version(conn) == shipped + 1
