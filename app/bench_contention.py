"""`warpaint bench contention`: speed on a busy machine.

Three workloads, each timed in fresh processes while the benchmark keeps 0, 1
or 2 other cores busy with busy-loop processes it starts and ends itself (by
their process ids):

- splining: two side^2 RGB uint8 images and a half mask, 7 levels (start: the
  uint8 arrays; stop: the float blend), against OpenCV's
  `detail_MultiBandBlender` (its own thread pool) interleaved in the same
  process;
- fast style: the shipped generator at 1920x1080 (quick: 960x540), start and
  stop around the tiled forward pass, against the Johnson reference network;
- AdaIN: the shipped decoder at 512 px (quick: 256), content and style
  tensors ready, a remembered style, against the Johnson reference at the
  same size;
- the two phases of a preset job (`warpaint train preset`), the training
  paths: a generator step (batch 8 at 192 px, quick: 96) and one Gatys
  evaluation of its targets (8 crops at 256 px, quick: 128), each sample's
  forward and backward pass a task (`engine.neural.sample_split`), against a
  training step of the Johnson reference (batch 4 at 256 px, quick: 128).

Each workload runs under five settings, one process each:

- `warpaint`: as the editor runs it, libgomp's spin count bounded
  (`cpu_threads.configure_openmp`), the job's thread count and its task
  pools' width chosen by `cpu_threads.threads_for_job` from the live CPU
  measurement;
- `no_pool`: the same without task pools (torch's threads only);
- `all_threads`: the bounded spin count, torch's default thread count;
- `one_thread`: one torch thread;
- `torch_defaults`: libgomp's own spin count and torch's thread count, what
  a plain torch program does (and Warpaint's command line did before).

Per setting: the median of `runs` timings after a warm-up, with the peer
interleaved run by run so both see the same machine. Reported: seconds, each
setting's time under load over its quiet time, the peer's, and the cores
other processes used meanwhile (the busy loops and whatever else runs).

`warpaint bench contention-pool` times the same workloads (splining on its
task pool, fast style in row bands, `engine.neural.banded`, AdaIN as a
wavefront of row bands, `engine.neural.wavefront`, the training paths sample
by sample) against torch's threads, one thread and the peer in one process
per busy setting, the variants in turn, which separates them better than
processes timed minutes apart on a machine that others use too. For the
training paths `pool` is a samples' pool as wide as torch's default and
`no_pool` / `torch_threads` the whole batch on torch's threads; for AdaIN
`layer_by_layer` is its bands layer by layer, each layer waiting for the last.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from warpaint.engine.runtime.bench import benchmark

# The preset job's two phases: training steps, and the Gatys targets' evaluations.
TRAINING = ("preset-training", "gatys-batch")
WORKLOADS = ("splining", "fast-style", "adain", *TRAINING)
SETTINGS = ("warpaint", "no_pool", "all_threads", "one_thread", "torch_defaults")
BUSY = (0, 1, 2)
# One process that keeps one core busy; the benchmark ends it by its pid.
BUSY_LOOP = "while True:\n    pass\n"


@contextmanager
def busy_cores(count: int) -> Iterator[list[int]]:
    """`count` busy-loop processes, ended (killed and reaped) on leaving."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _child_env(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if setting == "torch_defaults":
        env["GOMP_SPINCOUNT"] = "300000"  # libgomp's own default, stated so warpaint keeps it
    return env


def run_child(workload: str, setting: str, quick: bool) -> dict[str, Any]:
    """Time `workload` under `setting` in a fresh process; its JSON result."""
    command = [sys.executable, "-m", "warpaint.app.bench_contention", workload, setting]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, env=_child_env(setting), capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["no output"]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _machine() -> dict[str, Any]:
    """The cores and the load averages a benchmark starts with."""
    return {
        "cores": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


@benchmark("contention", "speed with 0, 1 and 2 other busy cores, against OpenCV / Johnson")
def bench_contention(quick: bool, device: str | None) -> dict[str, Any]:
    del device  # CPU contention: the workloads run on the CPU
    result: dict[str, Any] = _machine() | {"settings": list(SETTINGS)}
    times: dict[tuple[str, str, int], dict[str, Any]] = {}
    for busy in BUSY:
        with busy_cores(busy) as pids:
            time.sleep(1.5)  # a second of the monitor's window sees them
            for workload in WORKLOADS:
                for setting in SETTINGS:
                    times[workload, setting, busy] = run_child(workload, setting, quick)
            result[f"busy{busy}_pids"] = pids
    for workload in WORKLOADS:
        rows: dict[str, Any] = {}
        for setting in SETTINGS:
            for busy in BUSY:
                rows[f"{setting}_busy{busy}"] = times[workload, setting, busy]
        for busy in BUSY[1:]:
            rows[f"busy{busy}"] = _ratios(times, workload, busy)
        result[workload] = rows
    return result


def _ratios(
    times: dict[tuple[str, str, int], dict[str, Any]], workload: str, busy: int
) -> dict[str, Any]:
    """Each setting's time with `busy` busy cores over its quiet time, the
    peer's the same way (from the `warpaint` processes), and warpaint over
    one thread in the same state."""

    def seconds(setting: str, b: int, key: str = "s") -> float | None:
        value = times[workload, setting, b].get(key)
        return float(value) if isinstance(value, (int, float)) else None

    out: dict[str, Any] = {}
    for setting in SETTINGS:
        loaded, quiet = seconds(setting, busy), seconds(setting, 0)
        if loaded and quiet:
            out[f"{setting}_vs_quiet"] = round(loaded / quiet, 2)
    peer_loaded, peer_quiet = seconds("warpaint", busy, "peer_s"), seconds("warpaint", 0, "peer_s")
    if peer_loaded and peer_quiet:
        out["peer_vs_quiet"] = round(peer_loaded / peer_quiet, 2)
    mine, one = seconds("warpaint", busy), seconds("one_thread", busy)
    if mine and one:
        out["warpaint_vs_one_thread"] = round(mine / one, 2)
    return out


# -- the child process ---------------------------------------------------------------


def _workload(name: str, quick: bool) -> tuple[Callable[..., Any], Callable[[], Any], str, str]:
    """(warpaint's callable, the peer's callable, what runs, the peer's name).
    Warpaint's callable takes `workers`: for the training paths the samples'
    task pool (`sample_split`), else the task pools' and row bands' width
    (`cpu_threads.pool_width`); None: as a job chooses, 1: torch's threads."""
    if name in TRAINING:
        return _training_workload(name, quick)
    ours, peer, what, peer_name = _inference_workload(name, quick)

    def with_width(workers: int | None = None) -> Any:
        if workers is None:
            return ours()
        from warpaint.engine.runtime.cpu_threads import pool_width

        with pool_width(workers):
            return ours()

    return with_width, peer, what, peer_name


def _inference_workload(
    name: str, quick: bool
) -> tuple[Callable[[], Any], Callable[[], Any], str, str]:
    import torch

    if name == "splining":
        from warpaint.engine.features.splining.bench import spline_workload

        side, levels = (1024 if quick else 4096), 7
        ours, peer = spline_workload(side, levels)
        if peer is None:
            raise RuntimeError("the splining peer needs OpenCV (opencv-python-headless)")
        return ours, peer, f"{side}x{side} RGB, {levels} levels", "opencv-multiband"
    from warpaint.engine.features.fast_style.bench import johnson_net

    johnson = johnson_net().eval()
    if name == "fast-style":
        from warpaint.engine.features.fast_style.effect import halo, load_generator
        from warpaint.engine.neural.feedforward import tiled_forward

        h, w = (540, 960) if quick else (1080, 1920)
        gen, styles = load_generator(None, "cpu")
        gen.set_style(torch.ones(len(styles)) / len(styles))
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
        context = halo(gen)
        ref = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
        return (
            lambda: tiled_forward(gen, gen, x, halo=context, align=4),
            lambda: johnson(ref),
            f"{w}x{h}, shipped generator",
            "johnson-512",
        )
    if name == "adain":
        from warpaint.engine.features.arbitrary_style.effect import load_decoder, stylize

        side = 256 if quick else 512
        decoder = load_decoder(None, "cpu")
        g = torch.Generator().manual_seed(2)
        content, style = (
            torch.rand(1, 3, side, side, generator=g),
            torch.rand(1, 3, side, side, generator=g),
        )
        ref = torch.rand(1, 3, side, side, generator=g)
        return (
            lambda: stylize(decoder, content, [(style, 1.0)]),
            lambda: johnson(ref),
            f"{side}x{side}, shipped decoder, remembered style",
            f"johnson-{side}",
        )
    raise ValueError(f"unknown workload {name!r}")


def _training_workload(
    name: str, quick: bool
) -> tuple[Callable[..., Any], Callable[[], Any], str, str]:
    """A preset job's work (`preset_job`): a generator step, or one Gatys
    evaluation of a batch of crops. Warpaint's callable takes `workers`, the
    samples' task pool (`sample_split`; None: as a job chooses, 1: the whole
    batch on torch's threads). The peer: a training step of the Johnson
    reference (forward and backward, batch 4), a plain torch program."""
    import torch

    from warpaint.engine.features.fast_style.bench import johnson_net
    from warpaint.engine.features.fast_style.distill import (
        GATYS_STYLE_WEIGHT,
        DistillLoss,
        by_sample,
        distill_step,
        style_grams,
    )
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.features.fast_style.preset_job import PresetBudget
    from warpaint.engine.features.stylize.optim import gatys_loss, style_targets
    from warpaint.engine.neural.loss_networks import feature_network

    johnson = johnson_net().eval()  # as the inference workloads have it
    b = PresetBudget()
    g = torch.Generator().manual_seed(3)
    net = feature_network(b.loss_network, "cpu")
    style = torch.rand(1, 3, b.size, b.size, generator=g)
    ref_side = 128 if quick else 256
    ref = torch.rand(4, 3, ref_side, ref_side, generator=g)

    def peer() -> None:
        with torch.enable_grad():
            johnson.zero_grad(set_to_none=True)
            (johnson(ref) - ref).square().mean().backward()

    if name == "preset-training":
        side = 96 if quick else b.crop
        torch.manual_seed(b.seed)
        config = GeneratorConfig(
            styles=1, half=b.half, quarter=b.quarter, blocks=b.blocks, noise=b.noise,
            noise_head=True,
        )  # fmt: skip
        gen = StyleGenerator(config)
        optimizer = torch.optim.SGD(gen.parameters(), lr=0.0)  # the same step every run
        contents = torch.rand(b.batch, 3, side, side, generator=g)
        targets = torch.rand(b.batch, 3, side, side, generator=g)
        index = torch.zeros(b.batch, dtype=torch.long)
        grams = style_grams(net, style, b.size)
        weights = DistillLoss(feature=1.0, style=0.0, pixel_scale=4, target_style=4.0)
        origins = [(97 * i, 31 * i) for i in range(b.batch)]

        def step(workers: int | None = None) -> None:
            with torch.enable_grad():
                distill_step(
                    gen,
                    net,
                    optimizer,
                    contents,
                    targets,
                    index,
                    grams,
                    weights,
                    1,
                    origins,
                    workers,
                )

        what = f"generator step, batch {b.batch} at {side} px, {b.loss_network}"
        return step, peer, what, f"johnson-train-4x{ref_side}"
    side = 128 if quick else b.size
    contents = torch.rand(b.gatys_batch, 3, side, side, generator=g)
    loss_fn = gatys_loss(
        net, contents, style_targets(net, [(style, 1.0)], side), GATYS_STYLE_WEIGHT
    )
    x = contents.clone().requires_grad_(True)

    def evaluate(workers: int | None = None) -> None:
        x.grad = None
        with torch.enable_grad():
            if workers == 1:
                loss_fn(x)[0].backward()
            else:
                by_sample(loss_fn, workers)(x)

    what = f"Gatys evaluation, {b.gatys_batch} crops at {side} px, {b.gatys_network}"
    return evaluate, peer, what, f"johnson-train-4x{ref_side}"


# `warpaint bench contention-pool`: the workloads' variants timed in turn in one
# process per busy setting.
POOL_WORKLOADS = WORKLOADS
VARIANTS = ("warpaint", "pool", "torch_threads", "one_thread", "peer")
# AdaIN's encoder and decoder run as a wavefront of row bands on a job's pool
# (`engine.neural.wavefront`); this variant runs them layer by layer instead.
WAVEFRONT_VARIANTS = ("layer_by_layer",)
WAVEFRONT_WORKLOADS = ("adain",)


def _variants(workload: str) -> tuple[str, ...]:
    return VARIANTS + (WAVEFRONT_VARIANTS if workload in WAVEFRONT_WORKLOADS else ())


@benchmark(
    "contention-pool",
    "task pool vs torch's threads vs one thread vs the peer, interleaved, 0/1/2 busy cores",
)
def bench_contention_pool(quick: bool, device: str | None) -> dict[str, Any]:
    del device  # CPU contention: the workloads run on the CPU
    result: dict[str, Any] = _machine() | {"variants": list(VARIANTS)}
    for workload in POOL_WORKLOADS:
        rows: dict[str, Any] = {}
        for busy in BUSY:
            with busy_cores(busy):
                time.sleep(1.5)  # a second of the monitor's window sees them
                rows[f"busy{busy}"] = run_child(workload, "interleaved", quick)
        for busy in BUSY[1:]:
            loaded, quiet = rows[f"busy{busy}"], rows["busy0"]
            rows[f"busy{busy}_vs_quiet"] = {
                v: round(loaded[v] / quiet[v], 2)
                for v in _variants(workload)
                if isinstance(loaded.get(v), float) and isinstance(quiet.get(v), float)
            }
        result[workload] = rows
    return result


def child_interleaved(workload: str, quick: bool) -> dict[str, Any]:
    """Each variant of `workload` timed in turn, `runs` rounds, one process:
    `warpaint` as a job runs it (`threads_for_job`: torch's threads on a quiet
    machine, else a task pool a worker wider per core the others want),
    `pool` with task pools only as wide as torch's default (the previous
    policy), `torch_threads` without task pools (`threads_for_job`'s thread
    count), `one_thread`, the peer, and for AdaIN `layer_by_layer` (as
    `warpaint`, its network's layers one after another on the pool instead of
    as a wavefront). Medians, every timing, the pool widths `warpaint` used
    and the cores others used meanwhile."""
    import warpaint  # noqa: F401  (configures libgomp before torch loads)
    from warpaint.engine.runtime import cpu_threads

    cpu_threads.start_monitor()
    import torch

    ours, peer, what, peer_name = _workload(workload, quick)
    training = workload in TRAINING
    runs = 5 if quick else 9
    pools: list[int] = []  # the task-pool width `warpaint` ran each time (1: none)
    default = torch.get_num_threads()

    def run(variant: str) -> None:
        if variant == "peer":
            peer()
        elif variant == "one_thread":
            with cpu_threads.torch_threads(1):
                ours(workers=1)
        elif variant == "warpaint":
            with cpu_threads.threads_for_job():
                pools.append(_chosen_workers(training))
                ours()
        elif variant == "layer_by_layer":
            from warpaint.engine.neural.wavefront import layer_by_layer

            with cpu_threads.threads_for_job(), layer_by_layer():
                ours()
        else:  # a pool as wide as torch's default, or none
            with cpu_threads.threads_for_job():
                ours(workers=default if variant == "pool" else 1)

    variants = _variants(workload)
    times: dict[str, list[float]] = {v: [] for v in variants}
    with torch.inference_mode(not training):
        for variant in variants:
            run(variant)
        first = cpu_threads.CpuMonitor().sample()
        for i in range(runs):
            # A different order each round, so no variant always follows the same one.
            for variant in variants[i % len(variants) :] + variants[: i % len(variants)]:
                t0 = time.perf_counter()
                run(variant)
                times[variant].append(time.perf_counter() - t0)
        last = cpu_threads.CpuMonitor().sample()
    others = None
    if first is not None and last is not None:
        others = cpu_threads.others_between(first, last, os.cpu_count() or 1)
    out: dict[str, Any] = {"what": what, "peer_name": peer_name}
    for variant, values in times.items():
        out[variant] = round(statistics.median(values), 3)
        out[f"{variant}_all"] = [round(v, 3) for v in values]
    out["others_cores"] = None if others is None else round(others, 2)
    out["warpaint_pool_workers"] = sorted(set(pools))
    return out


def _chosen_workers(training: bool) -> int:
    """The workers a job's training steps (`sample_split`) or task pools and
    row bands (`cpu_threads.pool_workers`) get on the calling thread now."""
    from warpaint.engine.neural import sample_split
    from warpaint.engine.runtime import cpu_threads

    return sample_split.training_workers() if training else cpu_threads.pool_workers()


def child(workload: str, setting: str, quick: bool) -> dict[str, Any]:
    import warpaint  # noqa: F401  (configures libgomp before torch loads)
    from warpaint.engine.runtime import cpu_threads

    cpu_threads.start_monitor()
    import torch

    if setting == "one_thread":
        torch.set_num_threads(1)
    ours, peer, what, peer_name = _workload(workload, quick)
    training = workload in TRAINING
    runs = 3 if quick else 5
    mine: list[float] = []
    theirs: list[float] = []
    threads_used: list[int] = []
    pools_used: list[int] = []
    with torch.inference_mode(not training):
        ours()
        peer()
        first = cpu_threads.CpuMonitor().sample()
        for _ in range(runs):
            t0 = time.perf_counter()
            if setting in ("warpaint", "no_pool"):
                with cpu_threads.threads_for_job() as chosen:
                    threads_used.append(chosen or torch.get_num_threads())
                    pools_used.append(_chosen_workers(training) if setting == "warpaint" else 1)
                    ours(workers=pools_used[-1])
            else:
                ours(workers=1)
            mine.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            peer()
            theirs.append(time.perf_counter() - t0)
        last = cpu_threads.CpuMonitor().sample()
    others = None
    if first is not None and last is not None:
        others = cpu_threads.others_between(first, last, os.cpu_count() or 1)
    return {
        "what": what,
        "peer": peer_name,
        "s": round(statistics.median(mine), 3),
        "s_all": [round(v, 3) for v in mine],
        "peer_s": round(statistics.median(theirs), 3),
        "threads": threads_used or [torch.get_num_threads()],
        "pool_workers": pools_used or [1],
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
        # Cores other processes (busy loops included) used over the timed runs.
        "others_cores": None if others is None else round(others, 2),
    }


if __name__ == "__main__":
    quick_run = "--quick" in sys.argv[3:]
    if sys.argv[2] == "interleaved":
        print(json.dumps(child_interleaved(sys.argv[1], quick_run)))
    else:
        print(json.dumps(child(sys.argv[1], sys.argv[2], quick_run)))
