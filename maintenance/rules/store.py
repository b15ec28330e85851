"""Rule sets in the database (table rule_sets, migration 0011): load a new version, read the active
one, and let long-running processes pick up a newer version without a restart.

Every document goes through maintenance.rules.load.validate, the same path as the shipped YAML file,
so a stored rule set is one the engine can run. Versions only go up: a rollback is the old document
loaded again under a new version, so a ticket's rule-set version always names what opened it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from maintenance.errors import Conflict
from maintenance.rules.load import SHIPPED_SOURCE, default_rules, validate
from maintenance.rules.model import RuleSet

log = logging.getLogger(__name__)

# How long a running process may go on evaluating an older rule set after a new one is loaded.
# A check is one single-row lookup on the partial unique index rule_sets_one_active, so even the
# ingest hook could afford it per batch; 5 s keeps it off the hot path and is far below how fast an
# admin can notice the difference.
RECHECK_EVERY_S: Final = 5.0
BOOTSTRAP_ACTOR: Final = "bootstrap"

# Loaders queue on this lock (it conflicts with itself, not with plain SELECTs), so two loads cannot
# both pass the version check, and two processes bootstrapping an empty table insert one row.
LOCK_RULE_SETS: Final[LiteralString] = "LOCK TABLE rule_sets IN SHARE ROW EXCLUSIVE MODE"
ACTIVE_VERSION: Final[LiteralString] = "SELECT version FROM rule_sets WHERE active"
NEWEST_VERSION: Final[LiteralString] = "SELECT max(version) FROM rule_sets"
ACTIVE_DOCUMENT: Final[LiteralString] = "SELECT version, document FROM rule_sets WHERE active"
DEACTIVATE: Final[LiteralString] = "UPDATE rule_sets SET active = false WHERE active"
INSERT_ACTIVE: Final[LiteralString] = """
INSERT INTO rule_sets (version, document, source, loaded_by, active)
VALUES (%(version)s, %(document)s, %(source)s, %(actor)s, true)
"""
# Newest first; `before`, `limit` and `active` narrow it (NULL: no bound, LIMIT NULL is all).
RULE_SET_ROWS: Final[LiteralString] = """
SELECT version, source, loaded_at, loaded_by, active,
       jsonb_array_length(document -> 'rules') AS rules
FROM rule_sets
WHERE (%(before)s::integer IS NULL OR version < %(before)s)
  AND (%(active)s::boolean IS NULL OR active = %(active)s)
ORDER BY version DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class RuleSetRow:
    version: int
    source: str
    loaded_at: datetime
    loaded_by: str
    active: bool
    rules: int


def document_of(ruleset: RuleSet) -> dict[str, object]:
    """The stored form: the validated set, defaults filled in; validate() reads it back equal."""
    document = msgspec.to_builtins(ruleset)
    assert isinstance(document, dict)
    return document


def check_newer(*, version: int, newest: int | None) -> None:
    """A loaded version must be above every stored one (so it is above the active one too)."""
    if newest is not None and version <= newest:
        raise Conflict(
            f"rule set version {version} is not newer than version {newest} already loaded;"
            f" bump `version` to at least {newest + 1}"
        )


def load_rule_set(
    conn: psycopg.Connection[tuple[object, ...]], *, document: object, source: str, actor: str
) -> int:
    """Validates `document`, stores it and makes it the active set; returns its version.

    Raises Invalid (naming rule key and field) or Conflict (version not above the newest stored);
    either way nothing changes. Runs in its own transaction, or a savepoint of the caller's.
    """
    ruleset = validate(document)
    with conn.transaction():
        conn.execute(LOCK_RULE_SETS)
        row = conn.execute(NEWEST_VERSION).fetchone()
        check_newer(version=ruleset.version, newest=_int_or_none(row))
        _activate(conn, ruleset, source=source, actor=actor)
    log.info(
        "rule set %d (%d rules) loaded by %s from %s",
        ruleset.version,
        len(ruleset.rules),
        actor,
        source,
    )
    return ruleset.version


def _activate(
    conn: psycopg.Connection[tuple[object, ...]], ruleset: RuleSet, *, source: str, actor: str
) -> None:
    conn.execute(DEACTIVATE)
    conn.execute(
        INSERT_ACTIVE,
        {
            "version": ruleset.version,
            "document": Jsonb(document_of(ruleset)),
            "source": source,
            "actor": actor,
        },
    )


def active_version(conn: psycopg.Connection[tuple[object, ...]]) -> int | None:
    return _int_or_none(conn.execute(ACTIVE_VERSION).fetchone())


def active_rules(conn: psycopg.Connection[tuple[object, ...]]) -> RuleSet:
    """The active rule set. An empty table (a fresh database) first gets the shipped rule set."""
    row = conn.execute(ACTIVE_DOCUMENT).fetchone()
    if row is None:
        with conn.transaction():
            conn.execute(LOCK_RULE_SETS)
            row = conn.execute(ACTIVE_DOCUMENT).fetchone()  # another process may have won
            if row is None:
                shipped = default_rules()
                _activate(conn, shipped, source=SHIPPED_SOURCE, actor=BOOTSTRAP_ACTOR)
                log.info("rule_sets was empty: shipped rule set %d is active", shipped.version)
                return shipped
    return validate(row[1])


def adopt_shipped(conn: psycopg.Connection[tuple[object, ...]], *, actor: str) -> int | None:
    """Makes the shipped rule set active when it is newer than every stored one (or none is);
    returns the version loaded, or None when the database already has it or something newer.
    For the demo and fresh installs: an admin's newer set is never replaced."""
    shipped = default_rules()
    with conn.transaction():
        conn.execute(LOCK_RULE_SETS)
        newest = _int_or_none(conn.execute(NEWEST_VERSION).fetchone())
        if newest is not None and shipped.version <= newest:
            return None
        _activate(conn, shipped, source=SHIPPED_SOURCE, actor=actor)
    return shipped.version


def rule_set_rows(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    before: int | None = None,
    limit: int | None = None,
    active: bool | None = None,
) -> list[RuleSetRow]:
    """Rule-set versions newest first: all of them, or a page below `before`."""
    params = {"before": before, "limit": limit, "active": active}
    return [
        RuleSetRow(
            version=int(v),  # type: ignore[call-overload]
            source=str(s),
            loaded_at=at,  # type: ignore[arg-type]
            loaded_by=str(by),
            active=bool(a),
            rules=int(n),  # type: ignore[call-overload]
        )
        for v, s, at, by, a, n in conn.execute(RULE_SET_ROWS, params).fetchall()
    ]


def _int_or_none(row: tuple[object, ...] | None) -> int | None:
    if row is None or row[0] is None:
        return None
    version: int = int(row[0])  # type: ignore[call-overload]
    return version


class ActiveRules:
    """The active rule set for a long-running process (ingest, scheduler).

    `get` re-reads the table at most every `recheck_every_s` seconds, with a query for the active
    version only; the document is read and validated again only when that version changed. Safe to
    share between threads (the scheduler runs jobs in a pool).
    """

    def __init__(
        self,
        *,
        recheck_every_s: float = RECHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._recheck_every_s = recheck_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: RuleSet | None = None
        self._checked_at = 0.0

    def get(self, conn: psycopg.Connection[tuple[object, ...]]) -> RuleSet:
        with self._lock:
            now = self._clock()
            rules = self._rules
            if rules is not None and now - self._checked_at < self._recheck_every_s:
                return rules
            if rules is None or active_version(conn) != rules.version:
                rules = active_rules(conn)
                if self._rules is not None:
                    log.info("rule set %d is active (was %d)", rules.version, self._rules.version)
                self._rules = rules
            self._checked_at = now
            return rules
