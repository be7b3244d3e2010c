"""The cluster is optional: the core install never imports Dask, and a
batch asked to run on a cluster without the `cluster` extra says what to
install in one line. Runs with or without the extra (Dask hidden here)."""

import json
import subprocess
import sys

from PIL import Image

LOADED = """
import sys
import warpaint.app.cli, warpaint.engine.runtime.batch
from warpaint.app.cli import main
code = main(sys.argv[1:])
print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))
sys.exit(code)
"""
# Dask hidden as if the extra were not installed.
HIDDEN = "import sys; sys.modules['distributed'] = None\n" + LOADED


def batch_args(tmp_path, *extra):
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "a.png")
    recipe = tmp_path / "r.json"
    step = {"effect": "gaussian-blur", "params": {"sigma": 1.0}}
    recipe.write_text(json.dumps({"warpaint_recipe": 1, "steps": [step]}))
    return ["batch", str(recipe), str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), *extra]


def test_a_local_batch_never_imports_dask(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", LOADED, *batch_args(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "a.png").is_file()


def test_cluster_without_the_extra_is_one_line_and_runs_nothing(tmp_path):
    args = batch_args(tmp_path, "--cluster", "tcp://127.0.0.1:1")
    proc = subprocess.run([sys.executable, "-c", HIDDEN, *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--cluster needs the 'cluster' extra" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "a.png").exists()


def test_the_summary_counts_files_run_again_only_when_there_are_some():
    from warpaint.engine.runtime.batch import Summary

    assert Summary(done=3).line() == "done 3, failed 0, skipped 0"
    summary = Summary(done=3, retried=["in/a.jpg", "in/b.jpg"])
    assert summary.line() == "done 3, failed 0, skipped 0, retried 2 (a worker was lost)"


def test_the_steady_rate_counts_outputs_between_the_first_and_the_last_written(tmp_path):
    import os

    from warpaint.engine.runtime.bench_batch import steady_rate

    outputs = []
    for i, seconds in enumerate([100.0, 101.0, 102.0, 104.0]):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(b"x")
        os.utime(path, (seconds, seconds))
        outputs.append(path)
    assert steady_rate(outputs) == 3 / 4.0
    assert steady_rate(outputs[:1]) is None


def test_a_video_batch_on_a_cluster_is_refused(tmp_path, capsys):
    from warpaint.app.cli import main

    args = batch_args(tmp_path)
    args[2] = str(tmp_path / "clip.mp4")
    code = main([*args[:4], str(tmp_path / "out.mp4"), "--cluster", "local"])
    assert code == 2
    assert "--cluster runs image batches" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()
