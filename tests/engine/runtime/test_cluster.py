"""Batches on a Dask cluster on this machine's loopback: a scheduler in the
test's process and two worker processes it starts with Dask's own command,
as docs/cluster.md starts them on two machines."""

import contextlib
import io
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

distributed = pytest.importorskip(
    "distributed", reason="the 'cluster' extra (Dask) is not installed; .ci/run installs it"
)

from warpaint.engine.runtime import batch, bench_batch  # noqa: E402
from warpaint.engine.runtime.errors import BadInputError  # noqa: E402
from warpaint.engine.runtime.recipes import load_recipe  # noqa: E402

COUNT = 10
SIDE = 128
# A bound on each wait, never a pause: the waits are on the scheduler's states.
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Generated photos, the splining recipe and its files, and the outputs
    of the local batch (one process) to compare with."""
    root = tmp_path_factory.mktemp("cluster")
    inputs = root / "in"
    inputs.mkdir()
    bench_batch.photos(inputs, COUNT, SIDE)
    bench_batch.splining_files(root, SIDE)
    recipe = root / "splining.json"
    recipe.write_text(json.dumps(bench_batch.RECIPES["splining"]))
    reference = run(recipe, inputs, root / "local", cluster=None)
    assert reference.done == COUNT
    return root


def run(recipe, inputs, outdir, cluster, progress=None):
    outdir.mkdir()
    loaded = load_recipe(recipe)
    settings = batch.OutputSettings(name="{stem}.png")
    files, _ = batch.collect_inputs([str(inputs)])
    journal = batch.Journal(outdir)
    key = batch.recipe_hash(recipe, loaded)
    plan = batch.plan_batch(files, outdir, settings, key, journal)
    progress = progress or batch.Progress(io.StringIO(), len(plan.tasks), tty=False)
    device = "auto" if cluster else "cpu"
    return batch.run_batch(loaded, plan, journal, progress, device, cluster=cluster)


@contextlib.contextmanager
def loopback_cluster():
    """A scheduler here and two `dask worker` processes (one thread each, no
    nanny: a killed worker stays dead), named w1 and w2."""
    local = distributed.LocalCluster(
        n_workers=0, host="127.0.0.1", dashboard_address=":0", silence_logs=40
    )
    address = local.scheduler_address
    workers = {
        name: subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--name", name]
            + ["--nthreads", "1", "--no-nanny", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("w1", "w2")
    }
    client = distributed.Client(address)
    try:
        client.wait_for_workers(2, timeout=TIMEOUT_S)
        yield address, client, workers
    finally:
        client.close()
        for process in workers.values():
            process.kill()
            process.wait()
        local.close()


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster() as running:
        yield running


@pytest.fixture
def own_cluster():
    """A cluster of this test's own, for a test that kills a worker."""
    with loopback_cluster() as running:
        yield running


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image)


def assert_same_outputs(outdir, reference):
    names = sorted(p.name for p in reference.glob("*.png"))
    assert len(names) == COUNT
    assert sorted(p.name for p in outdir.glob("*.png")) == names
    for name in names:
        assert np.array_equal(pixels(outdir / name), pixels(reference / name)), name
    # The journal has every output under the local batch's key, and nothing else is left.
    assert batch.Journal(outdir)._keys == batch.Journal(reference)._keys
    assert sorted(p.name for p in outdir.iterdir()) == sorted([*names, batch.JOURNAL_NAME])


def test_a_batch_on_two_workers_writes_what_the_local_batch_writes(photos, cluster):
    address, client, _ = cluster
    out = photos / "cluster"
    summary = run(photos / "splining.json", photos / "in", out, cluster=address)
    assert (summary.done, summary.failed, summary.retried) == (COUNT, 0, [])
    assert_same_outputs(out, photos / "local")
    # Each file ran once, and on both workers.
    executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and min(executed.values()) >= 1
    assert sum(executed.values()) == COUNT


def test_a_worker_killed_mid_batch_loses_no_output(photos, own_cluster):
    address, client, workers = own_cluster
    out = photos / "killed"
    command = [sys.executable, "-m", "warpaint.app.cli", "batch", str(photos / "splining.json")]
    command += [str(photos / "in"), "-o", str(out), "--name", "{stem}.png", "--cluster", address]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        w1 = next(a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "w1")
        # Wait on the scheduler until w1 holds one of the batch's files, then kill it.
        deadline = time.monotonic() + TIMEOUT_S
        taken = []
        while not taken and time.monotonic() < deadline and proc.poll() is None:
            taken = client.processing(workers=[w1]).get(w1, [])
        assert taken, "w1 never took a file"
        workers["w1"].kill()
        workers["w1"].wait()
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith(f"done {COUNT}, failed 0, skipped 0, retried ")
    assert "(a worker was lost)" in summary
    retried = [line for line in err.splitlines() if "run again, a worker was lost" in line]
    assert retried and len(retried) == int(summary.split("retried ")[1].split()[0])
    assert_same_outputs(out, photos / "local")
    assert w1 not in client.scheduler_info()["workers"]


@pytest.mark.parametrize(
    ("source", "device", "message"),
    [
        ("/nonexistent-warpaint/in.png", "auto", "does not see /nonexistent-warpaint/in.png"),
        ("in/photo000.jpg", "cuda", "no worker of the cluster has a GPU"),
    ],
)
def test_a_cluster_that_cannot_run_the_batch_is_refused_before_any_file_runs(
    photos, cluster, tmp_path, source, device, message
):
    address, client, _ = cluster
    recipe = load_recipe(photos / "splining.json")
    task = batch.Task(1, photos / source, tmp_path / "out.png", "k")
    plan = batch.Plan(tasks=[task])
    progress = batch.Progress(io.StringIO(), 1, tty=False)
    with pytest.raises(BadInputError, match=message):
        batch.run_batch(recipe, plan, batch.Journal(tmp_path), progress, device, cluster=address)
    assert sorted(p.name for p in tmp_path.iterdir()) == [batch.JOURNAL_NAME]


def test_ctrl_c_keeps_what_was_committed_and_resume_finishes_the_batch(photos, cluster):
    address, client, _ = cluster
    out = photos / "interrupted"
    command = [sys.executable, "-m", "warpaint.app.cli", "batch", str(photos / "splining.json")]
    command += [str(photos / "in"), "-o", str(out), "--name", "{stem}.png", "--cluster", address]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait on the scheduler until the workers hold the batch's files, then Ctrl+C.
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if any(client.processing().values()):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].endswith("(cancelled)")
    # The journal names exactly the outputs on disk, and not all of them were made.
    made = {p.name for p in out.glob("*.png")}
    assert set(batch.Journal(out)._keys) == made
    assert len(made) < COUNT
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    summary = resumed.stderr.strip().splitlines()[-1]
    assert summary == f"done {COUNT - len(made)}, failed 0, skipped {len(made)}"
    assert_same_outputs(out, photos / "local")


def test_a_local_cluster_of_two_workers_from_the_command_line(photos):
    out = photos / "local-cluster"
    command = [sys.executable, "-m", "warpaint.app.cli", "batch", str(photos / "splining.json")]
    command += [str(photos / "in"), "-o", str(out), "--name", "{stem}.png"]
    proc = subprocess.run([*command, "--cluster", "local", "--jobs", "2"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert_same_outputs(out, photos / "local")
