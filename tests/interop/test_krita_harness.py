"""The harness keeps a hanging Krita from hanging the run."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from krita_harness import BUDGET_S, NO_DISPLAY, Krita, KritaCall, KritaFailed, KritaTimeout


def _ora_with_unprofiled_sixteen_bit_layer(path: Path) -> None:
    # Krita 5.1 asks in a modal dialog which profile a 16-bit PNG without a
    # colour profile has: on a virtual display nobody answers, so it hangs.
    layer = np.full((8, 8, 4), 40000, np.uint16)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster", compress_type=zipfile.ZIP_STORED)
        zf.writestr(
            "stack.xml",
            '<?xml version="1.0"?><image version="0.0.6" w="8" h="8"><stack>'
            '<layer name="deep" src="data/deep.png"/></stack></image>',
        )
        zf.writestr("data/deep.png", imagecodecs.png_encode(layer))


def test_hanging_krita_is_killed_with_its_display_at_the_timeout(
    krita: Krita, tmp_path: Path
) -> None:
    source = tmp_path / "hangs.ora"
    _ora_with_unprofiled_sixteen_bit_layer(source)
    runner = Krita(home=krita.home)  # its own hang count, the warm home
    start = time.monotonic()
    with pytest.raises(KritaTimeout, match="within 15 s"):
        runner.export(source, tmp_path / "hangs.png", timeout=15)
    assert time.monotonic() - start < 15 + 12  # the timeout plus the kill's grace
    assert runner.last_pid is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(runner.last_pid, 0)  # nothing of the group (Krita, Xvfb) is left
    assert not (tmp_path / "hangs.png").exists()


def test_after_two_hangs_krita_is_not_started_again(krita: Krita, tmp_path: Path) -> None:
    runner = Krita(home=krita.home, hangs=2)
    source = tmp_path / "fine.ora"
    source.write_bytes(b"never opened")
    start = time.monotonic()
    with pytest.raises(KritaFailed, match="hung 2 times"):
        runner.export(source, tmp_path / "fine.png")
    assert time.monotonic() - start < 10.0  # refused up front; a margin a loaded CI cannot break


def test_past_the_time_budget_krita_is_not_started_again(krita: Krita, tmp_path: Path) -> None:
    runner = Krita(home=krita.home, spent=BUDGET_S)
    source = tmp_path / "fine.ora"
    source.write_bytes(b"never opened")
    start = time.monotonic()
    with pytest.raises(KritaFailed, match="over the 420 s budget"):
        runner.export(source, tmp_path / "fine.png")
    assert time.monotonic() - start < 10.0  # refused up front; a margin a loaded CI cannot break


def test_a_krita_that_found_no_display_is_called_once_more_and_no_other_failure_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The harness's own retry rule, with the call itself stood in for: a real
    # display that fails to come up cannot be made on purpose.
    runner = Krita(home=tmp_path)
    calls: list[str] = []

    def no_display_first(source: Path, target: Path, timeout: float) -> KritaCall:
        calls.append(source.name)
        if len(calls) == 1:
            raise KritaFailed(f"Krita wrote no a.png from a.ora (exit 134, 0.2 s): {NO_DISPLAY}.")
        return KritaCall(source, target, 0.1, "")

    monkeypatch.setattr(runner, "_export_once", no_display_first)
    call = runner.export(tmp_path / "a.ora", tmp_path / "a.png")
    assert calls == ["a.ora", "a.ora"] and runner.restarts == 1 and call.target.name == "a.png"

    def unreadable(source: Path, target: Path, timeout: float) -> KritaCall:
        calls.append(source.name)
        raise KritaFailed("Krita wrote no b.png from b.ora (exit 1, 3.0 s): unsupported file")

    calls.clear()
    monkeypatch.setattr(runner, "_export_once", unreadable)
    with pytest.raises(KritaFailed, match="unsupported file"):
        runner.export(tmp_path / "b.ora", tmp_path / "b.png")
    assert calls == ["b.ora"] and runner.restarts == 1
