"""Engine hours only ever grow: a reading whose hours are below those of an earlier reading of the
same machine (or above those of a later one) is a broken meter or a swapped controller, not data.
No I/O; the caller supplies each machine's latest stored (ts, engine_hours)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from telemetry.wire import Reading

# Controllers report hours to 0.05 h (3 minutes) resolution; smaller steps back are rounding.
TOLERANCE_H: Final = 0.05


def check_hours(
    readings: Sequence[tuple[int, Reading]], latest: Mapping[int, tuple[datetime, float]]
) -> tuple[list[tuple[int, Reading]], list[tuple[int, Reading, str]]]:
    """Splits a batch into readings whose hours fit the machine's history and rejects with a
    detail. A late reading (older than the latest stored one) must not exceed its hours."""
    by_machine: dict[int, list[Reading]] = defaultdict(list)
    for machine_id, reading in readings:
        by_machine[machine_id].append(reading)
    accepted: list[tuple[int, Reading]] = []
    rejected: list[tuple[int, Reading, str]] = []
    for machine_id, rows in by_machine.items():
        known = latest.get(machine_id)
        highest_before = -1.0
        for r in sorted(rows, key=lambda r: (r.ts, r.seq)):
            if known is not None and r.ts < known[0] and r.engine_hours > known[1] + TOLERANCE_H:
                rejected.append((machine_id, r, (
                    f"engine_hours {r.engine_hours} at {r.ts.isoformat()} is above "
                    f"{known[1]} already reported at the later {known[0].isoformat()}"
                )))  # fmt: skip
                continue
            floor = max(highest_before, known[1] if known and known[0] <= r.ts else -1.0)
            if r.engine_hours < floor - TOLERANCE_H:
                rejected.append((machine_id, r, (
                    f"engine_hours {r.engine_hours} at {r.ts.isoformat()} is below {floor} "
                    "reported earlier"
                )))  # fmt: skip
                continue
            highest_before = max(highest_before, r.engine_hours)
            accepted.append((machine_id, r))
    return accepted, rejected
