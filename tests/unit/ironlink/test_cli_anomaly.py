"""`ironlink anomaly score INPUT.csv OUTPUT.csv` on NAB-format files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ironlink.cli import main
from maintenance.anomaly.detectors import THRESHOLD, score_series

ROWS = 3000
SPIKE = 2000


def _series(path: Path) -> list[tuple[str, str]]:
    rng = np.random.default_rng(11)
    values = 60.0 + rng.normal(0.0, 1.0, ROWS)
    values[SPIKE] += 25.0
    start = np.datetime64("2015-09-01T00:00:00", "s")
    rows = [
        (str(start + np.timedelta64(300 * i, "s")).replace("T", " "), f"{v:.3f}")
        for i, v in enumerate(values)
    ]
    rows[17] = (rows[17][0], "")  # a missing reading
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["timestamp", "value"])
        writer.writerows(rows)
    return rows


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_scores_every_row_and_keeps_the_input_columns(tmp_path: Path) -> None:
    rows = _series(tmp_path / "in.csv")
    assert main(["anomaly", "score", str(tmp_path / "in.csv"), str(tmp_path / "out.csv")]) == 0
    out = _read(tmp_path / "out.csv")
    assert out[0] == ["timestamp", "value", "anomaly_score"]
    assert [tuple(r[:2]) for r in out[1:]] == rows
    scores = np.array([float(r[2]) for r in out[1:]])
    assert np.flatnonzero(scores >= THRESHOLD).tolist() == [SPIKE]


def test_written_scores_equal_the_detectors_exactly(tmp_path: Path) -> None:
    rows = _series(tmp_path / "in.csv")
    main(["anomaly", "score", str(tmp_path / "in.csv"), str(tmp_path / "out.csv")])
    expected = score_series(
        np.array([r[0] for r in rows], dtype="datetime64[s]"),
        np.array([float(r[1]) if r[1] else np.nan for r in rows]),
    )
    written = np.array([float(r[2]) for r in _read(tmp_path / "out.csv")[1:]])
    np.testing.assert_array_equal(written, expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,value\n2015-09-01 00:00:00,1\n", "line 1: header"),
        ("", "line 1: header"),
        ("timestamp,value\n2015-09-01 00:00:00,1\n2015-09-01 00:05:00\n", "line 3: expected 2"),
        ("timestamp,value\n2015-09-01 00:00:00,1\nyesterday,2\n", "line 3: bad timestamp"),
        ("timestamp,value\n2015-09-01 00:00:00,1\n2015-09-01 00:05:00,hot\n", "line 3: bad value"),
        ("timestamp,value\n2015-09-01 00:00:00,1,2\n", "line 2: expected 2"),
    ],
)
def test_malformed_file_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(content)
    assert main(["anomaly", "score", str(source), str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert str(source) in err
    assert not (tmp_path / "out.csv").exists()


def test_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["anomaly", "score", str(tmp_path / "nope.csv"), str(tmp_path / "o.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err
