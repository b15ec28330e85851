"""Names where the console tests left their screenshots, at the end of the run."""

from __future__ import annotations

import pytest

from tests.e2e.console.browser import SHOTS


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    shots = config.stash.get(SHOTS, [])
    if shots:
        terminalreporter.write_line(
            f"console screenshots ({len(shots)}): {shots[0].parent}", bold=True
        )
