"""Rule-set versions for the admin API: one version's document, and going back to an older version
(pages of the history are maintenance.rules.store.rule_set_rows).

The store never reactivates an old row (versions only go up, so a ticket's rule-set version names
what opened it). Going back is therefore the old document loaded again under the next version,
through maintenance.rules.store.load_rule_set: the same validation and lock as any upload.
"""

from __future__ import annotations

from typing import Final, LiteralString

import psycopg

from maintenance.errors import Conflict, NotFound
from maintenance.rules.store import load_rule_set

Conn = psycopg.Connection[tuple[object, ...]]

RULE_SET_DOCUMENT: Final[LiteralString] = (
    "SELECT active, document FROM rule_sets WHERE version = %(version)s"
)
NEWEST_VERSION: Final[LiteralString] = "SELECT max(version) FROM rule_sets"


def rule_set_document(conn: Conn, *, version: int) -> tuple[bool, dict[str, object]]:
    """(active, stored document) of a version; NotFound when there is none."""
    row = conn.execute(RULE_SET_DOCUMENT, {"version": version}).fetchone()
    if row is None:
        raise NotFound(f"no rule set version {version}")
    active, document = row
    assert isinstance(document, dict)
    return bool(active), document


def reactivate(conn: Conn, *, version: int, actor: str) -> int:
    """Loads version `version`'s document again as the next version and makes it active; returns
    the new version. Conflict when `version` is the active one already."""
    active, document = rule_set_document(conn, version=version)
    if active:
        raise Conflict(f"rule set version {version} is already the active one")
    row = conn.execute(NEWEST_VERSION).fetchone()
    newest = int(row[0]) if row is not None and row[0] is not None else 0  # type: ignore[call-overload]
    # load_rule_set checks again under its table lock: a load racing this one makes it a Conflict.
    return load_rule_set(
        conn,
        document={**document, "version": newest + 1},
        source=f"reactivated version {version}",
        actor=actor,
    )
