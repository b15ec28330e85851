"""FleetState <-> bytes (one .npz archive), so the detector's learning survives a restart. Pure."""

from __future__ import annotations

import io
import json
from dataclasses import fields

import numpy as np

from maintenance.anomaly.fleet import FleetState

# Bumped when FleetState's arrays change meaning; an older snapshot is then ignored (the detector
# learns again) rather than misread. 2: the features lost load^2.
FORMAT = 2
_MAPPINGS = ("rows", "group_index", "machine_ids")


def dumps(state: FleetState) -> bytes:
    arrays = {f.name: getattr(state, f.name) for f in fields(state) if f.name not in _MAPPINGS}
    meta = {
        "format": FORMAT,
        "machine_ids": state.machine_ids,
        "groups": sorted(state.group_index, key=state.group_index.__getitem__),
    }
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def loads(data: bytes) -> FleetState | None:
    """The state in `data`, or None if it was written in another format."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        meta = json.loads(archive["meta"].tobytes().decode())
        if meta.get("format") != FORMAT:
            return None
        state = FleetState()
        for f in fields(state):
            if f.name not in _MAPPINGS:
                setattr(state, f.name, archive[f.name])
    state.machine_ids = [int(m) for m in meta["machine_ids"]]
    state.rows = {m: row for row, m in enumerate(state.machine_ids)}
    state.group_index = {g: k for k, g in enumerate(meta["groups"])}
    return state
