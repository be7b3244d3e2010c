"""Krita round-trip checks: every test here is marked `interop`.

The ones that call Krita run only when the run selects the marker
(`pytest -m interop`, as `make interop` does) and Debian's `krita` and
`xvfb-run` are installed; otherwise they skip at once with the reason, so
`make test` stays Krita-free. The measured figures print at the end of the run.
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
def krita(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Krita]:
    """A Krita runner with a home of its own for this test run."""
    if "interop" not in (request.config.getoption("markexpr") or ""):
        # Keeps `make test` Krita-free even where Krita is installed.
        pytest.skip("Krita checks run with `-m interop` (`make interop`)")
    reason = krita_missing()
    if reason:
        pytest.skip(reason)
    runner = Krita(home=tmp_path_factory.mktemp("krita-home"))
    first = runner.start().seconds
    yield runner
    rest = sorted(call.seconds for call in runner.calls[1:])
    summary = f"fresh home {first:.1f} s"
    if rest:
        summary += f", then {len(rest)} calls, median {rest[len(rest) // 2]:.1f} s"
        summary += f", slowest {rest[-1]:.1f} s"
    if runner.restarts:
        summary += f", {runner.restarts} call(s) made again after Krita found no display"
    FIGURES.other["Krita start-up"] = summary


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = FIGURES.lines()
    if lines:
        terminalreporter.section("Krita interop figures")
        for line in lines:
            terminalreporter.write_line(line)
