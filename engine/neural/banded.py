"""Inference cut into row bands on a task pool, for a CPU that others use.

torch splits each operation statically between its threads, and every thread
waits for the others at its end; beside one busy program on a 2-core machine
the thread that shares a core holds the other up at every layer, so two
threads finish no sooner than one (`warpaint bench contention`: fast style at
1080p and AdaIN at 512 px took 1.4-1.8x their quiet time there). A conv's
output rows depend only on the input rows under its kernel, so its rows cut
into bands are independent tasks: single-threaded workers of an
`engine.core.task_pool.TaskPool` pull them, and the worker with a core to
itself takes more of them. Each task pads its band's slice of the input as the
whole map would be padded (zeros, reflection or replication), convolves it and
writes its rows of the output, so the padding and the output's copy are split
too. The result equals the one-piece convolution to float rounding.

The layers between the convolutions split the same way where they work row
by row: `map_rows` (an elementwise or per-channel operation such as an
instance norm's scale and shift), `apply_rows_` (in place: ReLU),
`cat_channels`, `upsample2x_bilinear` (each band reads one row more on each
side) and `sums` (an instance norm's statistics, added up over the bands).

`pooled()` runs a block with such a pool while a job's pool width
(`cpu_threads.pool_width`, set by `threads_for_job` while other programs use
the CPU) is above one; `pooled_inference(x)` does so only for a network's
inference on the CPU. Every function here uses the calling thread's pool
when one runs and computes in one piece otherwise; `Conv2d` is an
`nn.Conv2d` (same parameters and state dict) whose forward is `conv2d`.
Training (a gradient through the input or the weights), other devices and
compiled graphs always take the one-piece path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from warpaint.engine.core.task_pool import TaskPool
from warpaint.engine.runtime.cpu_threads import pool_workers

# Tasks per worker: enough that a worker on a shared core holds no one up at
# the end of a layer, few enough that a task's dispatch (tens of microseconds)
# stays small against its work.
BANDS_PER_WORKER = 3
MIN_BAND_ROWS = 4
# Outputs (channels x rows x columns) below this run in one piece.
MIN_OUTPUT = 1 << 17

_state = threading.local()

_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}


def _pool() -> TaskPool | None:
    """The calling thread's running pool (never while a graph is compiled)."""
    if torch.compiler.is_compiling():
        return None
    pool: TaskPool | None = getattr(_state, "pool", None)
    return pool


@contextmanager
def pooled(workers: int | None = None) -> Iterator[int]:
    """Within the block, this module's functions on the calling thread run in
    row bands on a task pool of `workers` workers (None: the width that
    `cpu_threads.pool_width` set, as `threads_for_job` does while other
    programs use the CPU) when that is more than one. Nested blocks share
    the outer pool. Yields the workers (1: no pool)."""
    running = _pool()
    if running is not None:
        yield running.workers
        return
    if workers is None:
        # Only a width a job chose (`threads_for_job`, from the live CPU
        # measurement): on a quiet machine torch's threads are faster (AdaIN
        # at 512 px 0.20 s against 0.23 s for two workers).
        workers = pool_workers(default=1)
    if workers <= 1:
        yield 1
        return
    with TaskPool(workers) as pool:
        _state.pool = pool
        try:
            yield workers
        finally:
            _state.pool = None


@contextmanager
def pooled_inference(x: torch.Tensor, quiet_from: int | None = None) -> Iterator[int]:
    """`pooled()` for a network's inference on the CPU tensor (N, C, H, W) `x`
    (no gradient recorded), else a block without a pool: training steps,
    other devices and compiled graphs keep the one-piece graph and start no
    threads. With `quiet_from`, an input of at least that many pixels runs
    in bands on a quiet machine too, on as many workers as the calling
    thread has torch threads (for a network measured faster that way)."""
    if torch.is_grad_enabled() or x.device.type != "cpu" or torch.compiler.is_compiling():
        yield 1
        return
    workers = None
    if quiet_from is not None and x.shape[-2] * x.shape[-1] >= quiet_from:
        workers = max(pool_workers(default=1), torch.get_num_threads())
    with pooled(workers) as count:
        yield count


def current_pool() -> TaskPool | None:
    """The pool a `pooled` block runs on the calling thread, or None."""
    return _pool()


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def is_channels_last(t: torch.Tensor) -> bool:
    """Whether (N, C, H, W) `t` is stored channels-last (and not also contiguous)."""
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _layout(*tensors: torch.Tensor) -> torch.memory_format:
    """The layout torch gives an operation's output: channels-last when any
    input is (`cpu_layout`'s weights), so the next layer reorders nothing."""
    return torch.channels_last if any(map(is_channels_last, tensors)) else torch.contiguous_format


def _padded(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    if not any(pad):
        return x
    return F.pad(x, pad, mode=_PAD_MODES[mode])


def _one_piece(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    mode: str,
) -> torch.Tensor:
    if mode == "zeros":
        return F.conv2d(x, weight, bias, stride, padding, dilation)
    ph, pw = padding
    return F.conv2d(_padded(x, (pw, pw, ph, ph), mode), weight, bias, stride, 0, dilation)


def conv_rows(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    out: torch.Tensor,
    rows: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    mode: str,
) -> None:
    """Output rows [o0, o1) of the convolution, written into `out`."""
    o0, o1 = rows
    (sh, _), (ph, pw), (dh, _) = stride, padding, dilation
    height = x.shape[2]
    # The padded map's rows the band reads, in the unpadded map's coordinates.
    lo = sh * o0 - ph
    hi = sh * (o1 - 1) - ph + dh * (weight.shape[2] - 1) + 1
    top, bottom = max(0, -lo), max(0, hi - height)
    piece = x[:, :, max(0, lo) : min(height, hi)]
    if mode == "zeros" and top == bottom == 0:
        y = F.conv2d(piece, weight, bias, stride, (0, pw), dilation)
    else:
        y = F.conv2d(_padded(piece, (pw, pw, top, bottom), mode), weight, bias, stride, 0, dilation)
    out[:, :, o0:o1] = y


def bands(rows: int, size: int) -> list[tuple[int, int]] | None:
    """Row bands [start, end) covering `rows` output rows of a `size`-element
    output for the calling thread's pool, or None to work in one piece (no
    pool runs, or the output is too small to split)."""
    pool = _pool()
    if pool is None or size < MIN_OUTPUT:
        return None
    count = min(pool.workers * BANDS_PER_WORKER, rows // MIN_BAND_ROWS)
    if count < 2:
        return None
    cuts = [round(i * rows / count) for i in range(count + 1)]
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def run_bands(spans: list[tuple[int, int]], work: Callable[[int, int], object]) -> None:
    """`work(start, end)` for every band of `spans` (from `bands`) on the pool."""
    pool = _pool()
    if pool is None:
        raise RuntimeError("no banded-convolution pool runs on this thread (see pooled)")
    pool.run([partial(work, a, b) for a, b in spans])


def _rows_split(x: torch.Tensor) -> list[tuple[int, int]] | None:
    """Row bands of a (N, C, H, W) CPU tensor `x` for the calling thread's pool, or None."""
    if x.ndim != 4 or x.device.type != "cpu" or x.requires_grad:
        return None
    return bands(x.shape[2], x.numel())


def map_rows(fn: Callable[..., torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """`fn(x)` for an `fn` that works row by row (elementwise, or with
    per-channel constants) and takes an `out=` argument: band by band on the
    pool when one runs, each band's result written by `fn(rows, out=...)`
    into a new tensor like `x`; else `fn(x)` in one piece (gradients flow)."""
    spans = _rows_split(x)
    if spans is None:
        return fn(x)
    out = torch.empty_like(x)
    run_bands(spans, lambda a, b: fn(x[:, :, a:b], out=out[:, :, a:b]))
    return out


def cat_channels(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """`torch.cat(parts, dim=1)` of (N, C_i, H, W) tensors, copied band by band
    on the pool when one runs, in the first part's layout."""
    first = parts[0]
    spans = _rows_split(first)
    if spans is None:
        return torch.cat(list(parts), dim=1)
    n, _, h, w = first.shape
    layout = _layout(first)
    out = torch.empty(
        (n, sum(p.shape[1] for p in parts), h, w),
        dtype=first.dtype,
        device=first.device,
        memory_format=layout,
    )
    starts = [0]
    for p in parts:
        starts.append(starts[-1] + p.shape[1])

    def rows(a: int, b: int) -> None:
        for p, c0, c1 in zip(parts, starts, starts[1:], strict=False):
            out[:, c0:c1, a:b] = p[:, :, a:b]

    run_bands(spans, rows)
    return out


def apply_rows_(fn_: Callable[[torch.Tensor], object], x: torch.Tensor) -> torch.Tensor:
    """`fn_` (an in-place, row-by-row operation such as `torch.relu_`) on
    every band of `x`, on the pool when one runs; returns `x`."""
    spans = _rows_split(x)
    if spans is None:
        fn_(x)
        return x
    run_bands(spans, lambda a, b: fn_(x[:, :, a:b]))
    return x


def sums(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-(N, C) sums of `x` and of its square over the rows and columns,
    each (N, C, 1, 1) float64, added up band by band on the pool; None when
    no pool runs (compute them in one piece)."""
    spans = _rows_split(x)
    if spans is None:
        return None
    parts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def rows(a: int, b: int) -> None:
        band = x[:, :, a:b]
        # Each band's sums in the tensor's own precision (a band is short);
        # the bands' totals in float64, in row order whichever worker
        # finished first, so a result never depends on the scheduling.
        parts[a] = (
            band.sum(dim=(2, 3), keepdim=True).double(),
            band.square().sum(dim=(2, 3), keepdim=True).double(),
        )

    run_bands(spans, rows)
    ordered = [parts[a] for a in sorted(parts)]
    total, squares = ordered[0]
    for s1, s2 in ordered[1:]:
        total, squares = total + s1, squares + s2
    return total, squares


def upsample2x_bilinear(x: torch.Tensor) -> torch.Tensor:
    """`F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)`
    of (N, C, H, W) `x`, band by band on the pool when one runs.

    Output row i samples the input at i / 2 - 1/4, between rows floor(i / 2
    - 1/4) and the next, so output rows [2a, 2b) read input rows [a - 1, b]:
    each band upsamples that slice and keeps its rows, whose samples never
    reach the slice's clamped edge, except at the map's own edges, where the
    whole map clamps the same way."""
    spans = _rows_split(x)
    if spans is None:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    n, c, h, w = x.shape
    layout = _layout(x)
    out = torch.empty((n, c, 2 * h, 2 * w), dtype=x.dtype, device=x.device, memory_format=layout)

    def rows(a: int, b: int) -> None:
        lo, hi = max(0, a - 1), min(h, b + 1)
        up = F.interpolate(x[:, :, lo:hi], scale_factor=2.0, mode="bilinear", align_corners=False)
        out[:, :, 2 * a : 2 * b] = up[:, :, 2 * (a - lo) : 2 * (b - lo)]

    run_bands(spans, rows)
    return out


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """`F.conv2d` of (N, C, H, W) `x` padded by `padding` px on every side in
    `padding_mode` ('zeros', 'reflect', 'replicate'): (N, out, H', W'). In
    row bands on the calling thread's pool (`pooled`) when one runs and the
    output is big enough to split."""
    sp, pp, dp = _pair(stride), _pair(padding), _pair(dilation)
    if padding_mode not in _PAD_MODES:
        raise ValueError(f"banded convolutions pad with {sorted(_PAD_MODES)}, not {padding_mode!r}")
    if (
        _pool() is None
        or x.device.type != "cpu"
        or x.ndim != 4
        or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
    ):
        return _one_piece(x, weight, bias, sp, pp, dp, padding_mode)
    n, _, h, w = x.shape
    kh, kw = weight.shape[2:]
    out_h = (h + 2 * pp[0] - dp[0] * (kh - 1) - 1) // sp[0] + 1
    out_w = (w + 2 * pp[1] - dp[1] * (kw - 1) - 1) // sp[1] + 1
    spans = bands(out_h, n * weight.shape[0] * out_h * out_w)
    if spans is None:
        return _one_piece(x, weight, bias, sp, pp, dp, padding_mode)
    if is_channels_last(weight) and not is_channels_last(x):
        # oneDNN would reorder every band's slice; one reorder of the whole
        # input is cheaper (an image's 3 channels: 7.8 against 18 ms at 544 px).
        x = x.contiguous(memory_format=torch.channels_last)
    out = torch.empty(
        (n, weight.shape[0], out_h, out_w),
        dtype=x.dtype,
        device=x.device,
        memory_format=_layout(x, weight),
    )
    run_bands(
        spans,
        lambda a, b: conv_rows(x, weight, bias, out, (a, b), sp, pp, dp, padding_mode),
    )
    return out


class Conv2d(nn.Conv2d):
    """An `nn.Conv2d` (same parameters, same state dict) whose inference runs
    in row bands while a `pooled` block's pool runs on the calling thread."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups != 1 or isinstance(self.padding, str) or self.padding_mode == "circular":
            return super().forward(x)
        return conv2d(
            x,
            self.weight,
            self.bias,
            _pair(self.stride),
            _pair(self.padding),  # type: ignore[arg-type]
            _pair(self.dilation),
            self.padding_mode,
        )
