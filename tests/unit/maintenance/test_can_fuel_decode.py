"""The J1939 decoding behind `make eval-can-fuel`: engine speed, percent load and fuel rate from
PolyCAN rows, with the 'not available' codes and other sources left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.eval.eval_can_fuel import decode, latest

HEADER = ",time,pgn,priority,source,destination,data,description\n"


def _capture(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "capture.csv"
    path.write_text(HEADER + "".join(f"{i},{row},Unknown\n" for i, row in enumerate(rows)))
    return path


def test_decodes_speed_load_and_fuel_rate_with_their_j1939_scaling(tmp_path: Path) -> None:
    path = _capture(
        tmp_path,
        [
            # EEC1: SPN 190 in bytes 4-5, 0.125 rpm/bit: 0x1F40 = 8000 -> 1000 rpm.
            "100.0,61444,3,0,255,F0 7D 9B 40 1F 00 F0 7D ",
            # EEC2: SPN 92 in byte 3, 1 %/bit.
            "150.0,61443,3,0,255,FF 00 2A FF 05 FF FF FF ",
            # LFE: SPN 183 in bytes 1-2, 0.05 L/h per bit: 0x0064 = 100 -> 5 L/h.
            "200.0,65266,6,0,255,64 00 00 00 FF FF FF FF ",
            # Not available (0xFFFF, 0xFF) and another source address: skipped.
            "300.0,61444,3,0,255,F0 7D 9B FF FF 00 F0 7D ",
            "350.0,61443,3,0,255,FF 00 FF FF 05 FF FF FF ",
            "400.0,65266,6,3,255,C8 00 00 00 FF FF FF FF ",
        ],
    )
    signals = decode(path)
    assert signals["rpm"].tolist() == [[0.1, 1000.0]]
    assert signals["load"].tolist() == [[0.15, 42.0]]
    assert signals["fuel"].tolist() == [[0.2, 5.0]]


def test_latest_takes_the_last_broadcast_at_or_before_each_time() -> None:
    series = np.array([[1.0, 10.0], [2.0, 20.0]])
    got = latest(np.array([0.5, 1.0, 1.5, 3.0]), series)
    assert np.isnan(got[0])
    assert got[1:].tolist() == [10.0, 10.0, 20.0]
