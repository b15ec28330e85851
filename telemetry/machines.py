"""Serial -> machine lookup for ingest, cached; unknown serials are re-checked after a while so a
machine provisioned while ingest runs is picked up without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final, LiteralString

import psycopg

from telemetry.validate import MachineRef
from telemetry.wire import Kind

MACHINES_BY_SERIAL: Final[LiteralString] = (
    "SELECT serial, id, kind FROM machines WHERE serial = ANY(%s)"
)
# How long an unknown serial stays unknown before the database is asked again.
UNKNOWN_TTL_S: Final = 10.0


class MachineDirectory:
    def __init__(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conn = conn
        self._clock = clock
        self._known: dict[str, MachineRef] = {}
        self._unknown_until: dict[str, float] = {}

    def reconnect(self, database_url: str) -> None:
        self._conn.close()
        self._conn = psycopg.connect(database_url, autocommit=True)

    def close(self) -> None:
        self._conn.close()

    def resolve(self, serials: Iterable[str]) -> None:
        now = self._clock()
        wanted = [
            s for s in serials if s not in self._known and self._unknown_until.get(s, 0.0) <= now
        ]
        if not wanted:
            return
        rows = self._conn.execute(MACHINES_BY_SERIAL, (wanted,)).fetchall()
        for serial, machine_id, kind in rows:
            self._known[str(serial)] = MachineRef(int(machine_id), Kind(str(kind)))  # type: ignore[call-overload]
        for serial in wanted:
            if serial not in self._known:
                self._unknown_until[serial] = now + UNKNOWN_TTL_S

    def get(self, serial: str) -> MachineRef | None:
        return self._known.get(serial)
