"""Read side of telemetry for maintenance and the API: latest state per machine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import psycopg
from psycopg.rows import class_row

from telemetry.wire import Dtc


@dataclass(frozen=True, slots=True)
class MachineState:
    machine_id: int
    ts: datetime | None
    engine_hours: float | None
    fuel_pct: float | None
    coolant_c: float | None
    lat: float | None
    lon: float | None
    faults_ts: datetime | None
    active_faults: list[dict[str, object]]
    online: bool | None

    def dtcs(self) -> list[Dtc]:
        return [
            Dtc(spn=int(f["spn"]), fmi=int(f["fmi"]), oc=int(f.get("oc", 1)))  # type: ignore[call-overload]
            for f in self.active_faults
        ]


STATE_OF_MACHINES: Final[LiteralString] = """
SELECT machine_id, ts, engine_hours, fuel_pct, coolant_c, lat, lon, faults_ts, active_faults, online
FROM machine_state WHERE machine_id = ANY(%(ids)s)
"""


def states(
    conn: psycopg.Connection[tuple[object, ...]], machine_ids: list[int]
) -> list[MachineState]:
    with conn.cursor(row_factory=class_row(MachineState)) as cur:
        return cur.execute(STATE_OF_MACHINES, {"ids": machine_ids}).fetchall()
