"""Fleet records: what the rules need per machine, and owner-scoped reads for the API.

Functions scoped to one owner end in _for_owner and always filter by owner_id in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

import psycopg
from psycopg.rows import class_row

from maintenance.rules.findings import MachineView
from telemetry.wire import Dtc, Kind

MACHINE_VIEWS: Final[LiteralString] = """
SELECT m.id, m.kind, m.model, s.engine_hours, s.active_faults, s.faults_ts,
       COALESCE((SELECT jsonb_object_agg(r.rule_key, r.hours)
                 FROM (SELECT rule_key, max(engine_hours) AS hours FROM service_records
                       WHERE machine_id = m.id GROUP BY rule_key) r), '{}'::jsonb) AS last_service
FROM machines m
LEFT JOIN machine_state s ON s.machine_id = m.id
WHERE m.id = ANY(%(ids)s)
"""
ACTIVE_MACHINE_IDS: Final[LiteralString] = (
    "SELECT machine_id FROM machine_state WHERE ts IS NOT NULL"
)


def machine_views(
    conn: psycopg.Connection[tuple[object, ...]], machine_ids: list[int]
) -> list[MachineView]:
    views: list[MachineView] = []
    rows = conn.execute(MACHINE_VIEWS, {"ids": machine_ids}).fetchall()
    for machine_id, kind, model, hours, faults, faults_ts, last_service in rows:
        views.append(
            MachineView(
                machine_id=int(machine_id),  # type: ignore[call-overload]
                kind=Kind(str(kind)),
                model=str(model),
                engine_hours=float(hours) if hours is not None else None,  # type: ignore[arg-type]
                last_service_h={str(k): float(v) for k, v in dict(last_service).items()},  # type: ignore[call-overload]
                active_dtcs=[
                    Dtc(spn=int(f["spn"]), fmi=int(f["fmi"]), oc=int(f.get("oc", 1)))
                    for f in (faults or [])  # type: ignore[attr-defined]
                ],
                faults_ts=faults_ts,  # type: ignore[arg-type]
            )
        )
    return views


def active_machine_ids(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    return [int(r[0]) for r in conn.execute(ACTIVE_MACHINE_IDS).fetchall()]  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class MachineRow:
    id: int
    serial: str
    kind: str
    model: str
    year: int | None
    dealer_code: str
    engine_hours: float | None
    fuel_pct: float | None
    coolant_c: float | None
    lat: float | None
    lon: float | None
    last_seen: datetime | None
    online: bool | None
    active_faults: list[dict[str, object]]


_MACHINE_SELECT: Final[LiteralString] = """
SELECT m.id, m.serial, m.kind, m.model, m.year, d.code AS dealer_code,
       s.engine_hours, s.fuel_pct, s.coolant_c, s.lat, s.lon, s.ts AS last_seen, s.online,
       COALESCE(s.active_faults, '[]'::jsonb) AS active_faults
FROM machines m
JOIN dealers d ON d.id = m.dealer_id
LEFT JOIN machine_state s ON s.machine_id = m.id
"""
# NULL filters filter nothing; `faulty` is whether the machine has an active DTC now.
MACHINES_FOR_OWNER: Final[LiteralString] = (
    _MACHINE_SELECT
    + """ WHERE m.owner_id = %(owner_id)s AND m.serial > %(after)s
          AND (%(kind)s::text IS NULL OR m.kind = %(kind)s)
          AND (%(online)s::boolean IS NULL OR s.online IS NOT DISTINCT FROM %(online)s)
          AND (%(faulty)s::boolean IS NULL
               OR (COALESCE(jsonb_array_length(s.active_faults), 0) > 0) = %(faulty)s)
        ORDER BY m.serial LIMIT %(limit)s"""
)
MACHINE_FOR_OWNER: Final[LiteralString] = (
    _MACHINE_SELECT + " WHERE m.owner_id = %(owner_id)s AND m.serial = %(serial)s"
)


def machines_for_owner(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    owner_id: int,
    after: str = "",
    limit: int = 100,
    kind: str | None = None,
    online: bool | None = None,
    faulty: bool | None = None,
) -> list[MachineRow]:
    with conn.cursor(row_factory=class_row(MachineRow)) as cur:
        return cur.execute(
            MACHINES_FOR_OWNER,
            {
                "owner_id": owner_id,
                "after": after,
                "limit": limit,
                "kind": kind,
                "online": online,
                "faulty": faulty,
            },
        ).fetchall()


def machine_for_owner(
    conn: psycopg.Connection[tuple[object, ...]], *, owner_id: int, serial: str
) -> MachineRow | None:
    with conn.cursor(row_factory=class_row(MachineRow)) as cur:
        return cur.execute(MACHINE_FOR_OWNER, {"owner_id": owner_id, "serial": serial}).fetchone()
