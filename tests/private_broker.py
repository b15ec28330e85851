"""A Mosquitto of a test's own, on a free port, that the test may stop and start again."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


class PrivateBroker:
    """A Mosquitto of the test's own on a free port (anonymous clients allowed, persistence on), so
    that it can be stopped and started again without disturbing the shared test broker."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("mosquitto")
        if binary is None:
            pytest.fail("mosquitto is not installed; run `make setup`", pytrace=False)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.directory = directory
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            f"user {getpass.getuser()}\n"
            f"log_dest file {directory}/mosquitto.log\n"
            # The default of 1000 would drop what a slow subscriber has not taken yet.
            "max_queued_messages 1000000\n"
        )
        self.command = [binary, "-c", str(self.config)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves sessions and queued messages, then exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@contextmanager
def private_broker(directory: Path) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(directory)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
