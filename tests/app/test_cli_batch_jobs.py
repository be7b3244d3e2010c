"""`warpaint batch --jobs 2` stopped by Ctrl+C: the journal names exactly the
outputs on disk, no temporary file is left, and --resume does only the rest."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from warpaint.engine.runtime.batch import JOURNAL_NAME

COUNT = 8


def journaled(out):
    path = out / JOURNAL_NAME
    if not path.is_file():
        return []
    return [json.loads(line)["output"] for line in path.read_text().splitlines()]


def test_ctrl_c_with_workers_journals_exactly_the_outputs_written(tmp_path):
    recipe = tmp_path / "soft.json"
    steps = [{"effect": "gaussian-blur", "params": {"sigma": 12.0}}] * 3
    recipe.write_text(json.dumps({"warpaint_recipe": 1, "steps": steps}))
    rng = np.random.default_rng(5)
    (tmp_path / "in").mkdir()
    for i in range(COUNT):
        pixels = rng.integers(0, 256, (320, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "in" / f"p{i}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "warpaint.app.cli", "batch", recipe, tmp_path / "in"]
    command = [str(c) for c in [*command, "-o", out, "--jobs", "2"]]

    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    # Ctrl+C once the first output is journaled: at the first moment another
    # output is seen on disk before its journal line (where a stop must not
    # leave it), else at the second line.
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        done = journaled(out)
        if len(done) >= 2 or (done and {p.name for p in out.glob("*.png")} - set(done)):
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].endswith("(cancelled)")

    done = journaled(out)
    assert 1 <= len(done) < COUNT
    # Every file in the folder is a journaled output or the journal: no output
    # without its line, no line without its output, no temporary file.
    assert sorted(p.name for p in out.iterdir()) == sorted([*done, JOURNAL_NAME])
    assert len(set(done)) == len(done)
    written = {name: (out / name).stat().st_mtime_ns for name in done}

    again = subprocess.run([*command, "--resume"], stderr=subprocess.PIPE, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == (
        f"done {COUNT - len(done)}, failed 0, skipped {len(done)}"
    )
    assert sorted(p.name for p in out.glob("*.png")) == [f"p{i}.png" for i in range(COUNT)]
    assert sorted(journaled(out)) == [f"p{i}.png" for i in range(COUNT)]
    for name, mtime in written.items():
        assert (out / name).stat().st_mtime_ns == mtime
