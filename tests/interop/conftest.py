"""Krita round-trip checks: every test here is marked `interop`.

They need Debian's `krita` and `xvfb-run`; where those are absent each test
skips at once with the reason (`make test` collects them, `make interop`
installs Krita and runs them). The measured figures print at the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from krita_harness import FIGURES, Krita, krita_missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def krita(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Krita]:
    """A Krita runner with a home of its own for this test run."""
    reason = krita_missing()
    if reason:
        pytest.skip(reason)
    runner = Krita(home=tmp_path_factory.mktemp("krita-home"))
    first = runner.start().seconds
    yield runner
    rest = sorted(call.seconds for call in runner.calls[1:])
    FIGURES.other["Krita start-up"] = f"fresh home {first:.1f} s" + (
        f", then {len(rest)} calls, median {rest[len(rest) // 2]:.1f} s, slowest {rest[-1]:.1f} s"
        if rest
        else ""
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = FIGURES.lines()
    if lines:
        terminalreporter.section("Krita interop figures")
        for line in lines:
            terminalreporter.write_line(line)
