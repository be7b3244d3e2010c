"""A chain of row-local layers run as a wavefront on a task pool.

`banded` splits each layer into row bands and waits for all of them before
the next layer starts. Beside a busy program that wait costs twice: the
workers that finished early sleep, and the busy program takes their core, so
a three-worker pool got 1.26 of the 1.5 cores the scheduler shares out (AdaIN
at 512 px on the 2-core CPU; `docs/benchmarks.md`, "A wavefront of row
bands"). Here a band of one layer starts as soon as the rows it reads from
the layer before are written, whichever band of whichever layer that is, so
the workers wait only when nothing at all is ready: at the chain's start and
end.

A `RowChain` is built from its input (N, C, H, W) and the layers appended one
by one (`conv`, `upsampled_conv`, `avg_pool2`, `map`); `run()` computes every
layer's output band by band on the calling thread's pool (`banded.pooled`)
and returns the last one. Each layer declares which rows of its source a band
of its output reads; a band becomes ready when every source band it overlaps
is done. Ready bands are taken deepest layer first, so a band's rows go on
through the layers while they are still in the cache, and a layer's output is
let go as soon as the layer after it is complete. Every band computes exactly
what the one-piece layer computes for those rows (the same padding at the
map's edges), so the result equals the one-piece chain to float rounding.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from warpaint.engine.neural import banded

# Rows a band covers at least, and bands per worker in each layer: more bands
# than workers keep a worker that shares its core from holding the others up
# when a layer's turn comes, and each band's dispatch (tens of microseconds of
# Python) stays small against its work.
MIN_BAND_ROWS = 8
BANDS_PER_WORKER = 3

Rows = tuple[int, int]

_state = threading.local()


def runs() -> bool:
    """Whether networks that can run as a wavefront do so now: a `banded`
    pool runs on the calling thread and no `layer_by_layer` block is open."""
    return banded.current_pool() is not None and not getattr(_state, "layer_by_layer", False)


@contextmanager
def layer_by_layer() -> Iterator[None]:
    """Within the block, networks run on the pool layer by layer (`banded`)
    instead of as a wavefront: the comparison `warpaint bench
    contention-pool` makes."""
    before = getattr(_state, "layer_by_layer", False)
    _state.layer_by_layer = True
    try:
        yield
    finally:
        _state.layer_by_layer = before


@dataclass
class _Layer:
    """One layer: `compute(src, out, a, b)` writes rows [a, b) of `out` from
    `src`; `reads(a, b)` is the source rows [lo, hi) those read."""

    shape: tuple[int, int, int, int]
    memory_format: torch.memory_format
    compute: Callable[[torch.Tensor, torch.Tensor, int, int], None]
    reads: Callable[[int, int], Rows]
    even: bool = False  # bands start and end on even rows
    spans: list[Rows] = field(default_factory=list)


def _clip(lo: int, hi: int, rows: int) -> Rows:
    return max(0, lo), min(rows, hi)


class RowChain:
    """Layers appended to `x` (N, C, H, W) on the CPU, for inference only;
    `run()` computes them as a wavefront of row bands and returns the last
    output (`x` itself when nothing was appended)."""

    def __init__(self, x: torch.Tensor) -> None:
        if x.ndim != 4:
            raise ValueError(f"a row chain takes (N, C, H, W), not {tuple(x.shape)}")
        self.input = x
        self.layers: list[_Layer] = []

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The current last output's (N, C, H, W)."""
        if self.layers:
            return self.layers[-1].shape
        n, c, h, w = self.input.shape
        return n, c, h, w

    def _format(self) -> torch.memory_format:
        if self.layers:
            return self.layers[-1].memory_format
        last = banded.is_channels_last(self.input)
        return torch.channels_last if last else torch.contiguous_format

    def map(
        self,
        fn: Callable[..., torch.Tensor],
        memory_format: torch.memory_format | None = None,
    ) -> RowChain:
        """A row-by-row layer that keeps the shape: `fn(rows, out=...)` writes
        its result for a band (elementwise, or per-channel constants), in
        `memory_format` (default: the source's)."""
        fmt = self._format() if memory_format is None else memory_format

        def compute(src: torch.Tensor, out: torch.Tensor, a: int, b: int) -> None:
            fn(src[:, :, a:b], out=out[:, :, a:b])

        self.layers.append(_Layer(self.shape, fmt, compute, lambda a, b: (a, b)))
        return self

    def conv(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        padding: int,
        padding_mode: str = "zeros",
        relu: bool = False,
    ) -> RowChain:
        """A stride-1 convolution padded by `padding` px on every side in
        `padding_mode` ('zeros', 'reflect', 'replicate'), then an in-place
        ReLU when `relu`."""
        n, _, h, w = self.shape
        kh, kw = weight.shape[2:]
        out_h, out_w = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
        fmt = torch.channels_last if banded.is_channels_last(weight) else self._format()
        pads, one = (padding, padding), (1, 1)

        def compute(src: torch.Tensor, out: torch.Tensor, a: int, b: int) -> None:
            banded.conv_rows(src, weight, bias, out, (a, b), one, pads, one, padding_mode)
            if relu:
                torch.relu_(out[:, :, a:b])

        def reads(a: int, b: int) -> Rows:
            return _clip(a - padding, b - 1 - padding + kh, h)

        self.layers.append(_Layer((n, weight.shape[0], out_h, out_w), fmt, compute, reads))
        return self

    def upsampled_conv(
        self,
        kernels: dict[tuple[int, int], torch.Tensor],
        bias: torch.Tensor | None,
        relu: bool = False,
    ) -> RowChain:
        """A 3x3 convolution of the nearest-doubled map, reflection-padded,
        without building the doubled map, as `arbitrary_style.adain.
        upsampled_conv` computes it: `kernels` are its four 2x2 kernels, one
        per output phase (row parity, column parity), applied to the small
        map padded by replication; then an in-place ReLU when `relu`:
        (N, C, h, w) -> (N, out, 2h, 2w)."""
        n, _, h, w = self.shape
        out_channels = kernels[(0, 0)].shape[0]

        def compute(src: torch.Tensor, out: torch.Tensor, a: int, b: int) -> None:
            r0, r1 = a // 2, b // 2
            lo, hi = _clip(r0 - 1, r1 + 1, h)
            # The small map's band, replicated by one row where it meets the
            # map's own edge, as the whole map is padded.
            piece = F.pad(src[:, :, lo:hi], (1, 1, lo - (r0 - 1), (r1 + 1) - hi), "replicate")
            phases = out.view(n, out.shape[1], h, 2, w, 2)
            for (py, px), kernel in kernels.items():
                phases[:, :, r0:r1, py, :, px] = F.conv2d(
                    piece[:, :, py : py + r1 - r0 + 1, px : px + w + 1], kernel, bias
                )
            if relu:
                torch.relu_(out[:, :, a:b])

        def reads(a: int, b: int) -> Rows:
            return _clip(a // 2 - 1, b // 2 + 1, h)

        # The source's layout, as `upsampled_conv` gives its output.
        shape = (n, out_channels, 2 * h, 2 * w)
        self.layers.append(_Layer(shape, self._format(), compute, reads, even=True))
        return self

    def avg_pool2(self) -> RowChain:
        """`F.avg_pool2d(x, 2, ceil_mode=True)`: (N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))."""
        n, c, h, w = self.shape

        def compute(src: torch.Tensor, out: torch.Tensor, a: int, b: int) -> None:
            out[:, :, a:b] = F.avg_pool2d(src[:, :, 2 * a : min(h, 2 * b)], 2, ceil_mode=True)

        def reads(a: int, b: int) -> Rows:
            return _clip(2 * a, 2 * b, h)

        shape = (n, c, -(-h // 2), -(-w // 2))
        self.layers.append(_Layer(shape, self._format(), compute, reads))
        return self

    def run(self) -> torch.Tensor:
        """Every layer's output computed on the calling thread's pool (one
        piece after another, band by band, when no pool runs); the last."""
        if not self.layers:
            return self.input
        pool = banded.current_pool()
        workers = 1 if pool is None else pool.workers
        for layer in self.layers:
            layer.spans = _spans(layer.shape[2], workers, layer.even)
        run = _Run(self)
        if pool is None:
            run.worker()
        else:
            pool.run([run.worker] * workers)
        return run.output()


def _spans(rows: int, workers: int, even: bool) -> list[Rows]:
    """Row bands [a, b) covering `rows` rows (even-aligned when `even`)."""
    unit = 2 if even else 1
    units = -(-rows // unit)
    count = max(1, min(workers * BANDS_PER_WORKER, units * unit // MIN_BAND_ROWS))
    cuts = [min(rows, round(i * units / count) * unit) for i in range(count + 1)]
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


class _Run:
    """One `RowChain.run`: the layers' buffers, each band's count of source
    bands still missing, and the heap of ready bands (deepest layer first)."""

    def __init__(self, chain: RowChain) -> None:
        self.chain = chain
        layers = chain.layers
        self.buffers: list[torch.Tensor | None] = [chain.input]
        for layer in layers:
            self.buffers.append(
                torch.empty(
                    layer.shape,
                    dtype=chain.input.dtype,
                    device=chain.input.device,
                    memory_format=layer.memory_format,
                )
            )
        # waiting[i][k]: source bands band k of layer i still needs;
        # dependents[i][j]: the bands of layer i + 1 that read band j of layer i.
        self.waiting: list[list[int]] = []
        self.dependents: list[list[list[int]]] = [[] for _ in layers]
        for i, layer in enumerate(layers):
            if i == 0:
                self.waiting.append([0] * len(layer.spans))
                continue
            source = layers[i - 1].spans
            self.dependents[i - 1] = [[] for _ in source]
            counts = []
            for k, (a, b) in enumerate(layer.spans):
                lo, hi = layer.reads(a, b)
                needed = [j for j, (s0, s1) in enumerate(source) if s0 < hi and s1 > lo]
                for j in needed:
                    self.dependents[i - 1][j].append(k)
                counts.append(len(needed))
            self.waiting.append(counts)
        self.left = [len(layer.spans) for layer in layers]
        self.remaining = sum(self.left)
        self.ready: list[tuple[int, int]] = [(0, k) for k in range(len(layers[0].spans))]
        heapq.heapify(self.ready)
        self.cond = threading.Condition()
        self.failed = False

    def worker(self) -> None:
        """Take ready bands until every band is done (or one raised)."""
        layers = self.chain.layers
        while True:
            with self.cond:
                while not self.ready and self.remaining and not self.failed:
                    self.cond.wait()
                if not self.remaining or self.failed:
                    return
                depth, k = heapq.heappop(self.ready)
                i = -depth
                src, out = self.buffers[i], self.buffers[i + 1]
            assert src is not None and out is not None
            a, b = layers[i].spans[k]
            try:
                layers[i].compute(src, out, a, b)
            except BaseException:
                with self.cond:
                    self.failed = True
                    self.cond.notify_all()
                raise
            del src, out
            self._done(i, k)

    def _done(self, i: int, k: int) -> None:
        with self.cond:
            self.remaining -= 1
            self.left[i] -= 1
            woken = 0
            if i + 1 < len(self.chain.layers):
                waiting = self.waiting[i + 1]
                for d in self.dependents[i][k]:
                    waiting[d] -= 1
                    if waiting[d] == 0:
                        heapq.heappush(self.ready, (-(i + 1), d))
                        woken += 1
            if self.left[i] == 0 and i > 0:
                self.buffers[i] = None  # layer i's source is read by no one now
            if not self.remaining:
                self.cond.notify_all()
            elif woken > 1:
                self.cond.notify(woken - 1)  # this worker takes one itself

    def output(self) -> torch.Tensor:
        out = self.buffers[-1]
        assert out is not None
        return out
