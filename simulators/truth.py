"""Ground truth of a simulation run, written as CSV files so tests and benchmarks can measure
end-to-end loss (every (machine, seq) published) and detection lead time (every injected fault
with its onset, each DTC episode's raise and clear times, every coverage gap)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from simulators.connectivity import Outgoing, Transmitter
from simulators.machine import FleetModel


def _iso(ts: datetime | None) -> str:
    return ts.isoformat() if ts is not None else ""


class GroundTruth:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._published: TextIO = (directory / "published.csv").open("w", newline="")
        self._writer = csv.writer(self._published)
        self._writer.writerow(["serial", "seq", "channel", "resend"])

    def published(self, serial: str, message: Outgoing) -> None:
        resend = int(message.resend)
        channel = str(message.channel)
        self._writer.writerows((serial, seq, channel, resend) for seq in message.seqs)

    def finish(self, model: FleetModel, transmitter: Transmitter) -> None:
        self._published.close()
        with (self.directory / "faults.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["serial", "fault", "onset", "spn", "fmi", "raised", "cleared"])
            for inj in model.injected:
                if not inj.episodes:
                    w.writerow([inj.serial, inj.fault.name, _iso(inj.onset), "", "", "", ""])
                for e in inj.episodes:
                    w.writerow(
                        [
                            inj.serial,
                            inj.fault.name,
                            _iso(inj.onset),
                            e.spn,
                            e.fmi,
                            _iso(e.raised),
                            _iso(e.cleared),
                        ]
                    )
        with (self.directory / "gaps.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["serial", "start", "end"])
            for m, start_s, end_s in transmitter.gaps:
                w.writerow(
                    [
                        model.specs[m].serial,
                        _iso(model.start + timedelta(seconds=start_s)),
                        _iso(model.start + timedelta(seconds=end_s)),
                    ]
                )
        with (self.directory / "machines.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["serial", "kind", "model", "clock_skew_s", "last_seq"])
            for i, spec in enumerate(model.specs):
                w.writerow(
                    [
                        spec.serial,
                        spec.kind,
                        model.profiles[i].model,
                        round(float(model.skew_s[i]), 3),
                        int(model.seq[i]),
                    ]
                )
