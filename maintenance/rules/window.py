"""Recent readings of a batch of machines as numpy columns, the input of window-based rules.

Pure: the caller (a sweep or the ingest hook) reads rows from telemetry.reader and builds a Window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Window:
    """Readings sorted by (machine_id, ts); `ts` in seconds since the epoch (UTC).

    `signals` holds one float column per signal, NaN where a reading did not report it; a signal
    absent from the mapping is missing everywhere. `offline` lists the machines whose last status
    message said offline. Silence rules judge a machine by its newest row here, so a window for them
    must include each machine's newest reading however old it is.
    """

    machine_id: Ints
    ts: Floats
    signals: Mapping[str, Floats] = field(default_factory=dict)
    offline: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        n = self.machine_id.shape[0]
        if self.ts.shape != (n,) or any(v.shape != (n,) for v in self.signals.values()):
            raise ValueError("window columns differ in length")
        m, t = self.machine_id, self.ts
        if n > 1 and not bool(np.all((m[1:] > m[:-1]) | ((m[1:] == m[:-1]) & (t[1:] >= t[:-1])))):
            raise ValueError("window rows are not sorted by (machine_id, ts); use Window.of")

    def __len__(self) -> int:
        return int(self.machine_id.shape[0])

    @classmethod
    def of(
        cls,
        *,
        machine_id: npt.ArrayLike,
        ts: npt.ArrayLike,
        signals: Mapping[str, npt.ArrayLike] | None = None,
        offline: Iterable[int] = (),
    ) -> Window:
        """Columns in any row order; they are sorted by (machine_id, ts) here."""
        ids = np.asarray(machine_id, dtype=np.int64)
        times = np.asarray(ts, dtype=np.float64)
        order = np.lexsort((times, ids))
        return cls(
            machine_id=ids[order],
            ts=times[order],
            signals={
                name: np.asarray(v, dtype=np.float64)[order] for name, v in (signals or {}).items()
            },
            offline=frozenset(offline),
        )

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Sequence[object]],
        *,
        signals: Sequence[str],
        offline: Iterable[int] = (),
    ) -> Window:
        """Rows `(machine_id, ts, *values)` with values in the order of `signals`; `ts` a datetime
        (aware) or epoch seconds; None for a value the reading did not carry."""
        ids: list[int] = []
        times: list[float] = []
        columns: list[list[float]] = [[] for _ in signals]
        for row in rows:
            machine_id, ts, *values = row
            if len(values) != len(signals):
                raise ValueError(f"row has {len(values)} values for {len(signals)} signals")
            ids.append(int(machine_id))  # type: ignore[call-overload]
            times.append(ts.timestamp() if isinstance(ts, datetime) else float(ts))  # type: ignore[arg-type]
            for column, value in zip(columns, values, strict=True):
                column.append(np.nan if value is None else float(value))  # type: ignore[arg-type]
        return cls.of(
            machine_id=ids,
            ts=times,
            signals=dict(zip(signals, columns, strict=True)),
            offline=offline,
        )

    def signal(self, name: str) -> Floats:
        """The column for `name`, all NaN when the window does not carry it."""
        column = self.signals.get(name)
        return np.full(len(self), np.nan) if column is None else column
