"""Replay a fixed-shape forward pass as a CUDA graph.

A light network on a big GPU is bound by kernel launches, not by arithmetic:
the fast-style generator launches a few hundred small kernels per frame (each
convolution, reflection pad, norm statistic and element-wise step is one), and
in eager mode the Python and driver cost of launching them exceeds the GPU's
time running them. A CUDA graph records the launches once per input shape
and replays them with one call. No compilation is involved: recording costs a
few warm-up passes on the first call at a new size.

`GraphedForward(fn)` calls `fn` eagerly for tensors that are not on a CUDA
device, and after any failure to record (then once, with a warning). Its
inputs (tensors, or None where a network takes none) are copied into the
graph's own buffers at every call. Every other tensor `fn` reads (weights, a
style-mix buffer) must keep its storage between calls: the graph reads those
addresses, so change such tensors in place (`copy_`).
"""

from __future__ import annotations

import os
import queue
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import torch

# fn(*inputs): a forward pass of tensors (or None) to one tensor.
Forward = Callable[..., torch.Tensor]
T = TypeVar("T")


def _recorded(record: Callable[[], T]) -> T | None:
    """record(), or None after a warning where capturing a graph fails (the
    caller then runs eagerly); running out of memory is raised as it is."""
    try:
        return record()
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as exc:
        warnings.warn(f"CUDA graph recording failed ({exc}); running eagerly", stacklevel=3)
        return None


def _signature(inputs: tuple[torch.Tensor | None, ...]) -> tuple[Any, ...]:
    """What a recorded graph is specific to: each input's shape, strides, dtype, device."""
    return tuple(
        None if t is None else (tuple(t.shape), t.stride(), t.dtype, t.device) for t in inputs
    )


class GraphedForward:
    """`fn(*inputs)` replayed from a CUDA graph recorded per `_signature` of
    the inputs; the first input decides the device.

    Keeps the `max_shapes` most recently used graphs (each holds the memory of
    its activations). The result is a fresh tensor (a copy of the graph's
    output buffer), so callers may keep it.
    """

    def __init__(self, fn: Forward, max_shapes: int = 4, warmups: int = 2) -> None:
        self.fn = fn
        self.max_shapes = max_shapes
        self.warmups = warmups
        self.failed = False
        self._graphs: OrderedDict[
            tuple[Any, ...], tuple[Any, tuple[torch.Tensor | None, ...], torch.Tensor]
        ] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor, *more: torch.Tensor | None) -> torch.Tensor:
        inputs = (x, *more)
        if x.device.type != "cuda" or self.failed:
            return self.fn(*inputs)
        key = _signature(inputs)
        with self._lock:
            entry = self._graphs.get(key)
            if entry is None:
                entry = _recorded(lambda: self._record(inputs, x.device))
                if entry is None:
                    self.failed = True
                    return self.fn(*inputs)
                self._graphs[key] = entry
                while len(self._graphs) > self.max_shapes:
                    self._graphs.popitem(last=False)
            else:
                self._graphs.move_to_end(key)
            graph, static_in, static_out = entry
            for buffer, t in zip(static_in, inputs, strict=True):
                if buffer is not None and t is not None:
                    buffer.copy_(t)
            graph.replay()
            return static_out.clone()

    @property
    def recorded(self) -> int:
        """How many graphs are held."""
        return len(self._graphs)

    def _record(
        self, inputs: tuple[torch.Tensor | None, ...], device: torch.device
    ) -> tuple[Any, tuple[torch.Tensor | None, ...], torch.Tensor]:
        static_in = tuple(None if t is None else t.clone() for t in inputs)
        # Warm-up on a side stream, as recording requires: cuDNN picks its
        # algorithms and the allocator its blocks before the capture.
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(self.warmups):
                self.fn(*static_in)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: other threads (the GUI's, other job lanes) may use
        # CUDA while this one records.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = self.fn(*static_in)
        return graph, static_in, static_out


LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class GraphedLossGrad:
    """A loss of `x` and its gradient with respect to `x`, replayed from one CUDA graph.

    For image optimisation (`warpaint.engine.features.stylize.optim.optimise`): each evaluation
    is a forward and a backward pass through a loss network, a few hundred
    kernels, and at 512 px on a big GPU launching them from Python costs about
    twice what running them does. `x` is a leaf that requires grad and is
    changed only in place between calls (the optimisers do), so the graph reads
    its current pixels. `loss_fn` must read nothing else that changes.

    `__call__()` returns (total, parts, grad): the graph's own buffers,
    overwritten by the next call (copy what must be kept). On CPU tensors, or
    after a failed recording (warned once), the same values are computed eagerly.
    """

    def __init__(self, x: torch.Tensor, loss_fn: LossFn, warmups: int = 2) -> None:
        self.x = x
        self.loss_fn = loss_fn
        self.warmups = warmups
        self.failed = x.device.type != "cuda"
        self._graph: Any = None
        self._out: tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor] | None = None

    def _eager(self) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        total, parts = self.loss_fn(self.x)
        (grad,) = torch.autograd.grad(total, self.x)
        if grad.stride() != self.x.stride():
            # As `backward()` lays out .grad (optimisers view it flat): like x.
            grad = torch.empty_like(self.x).copy_(grad)
        return total.detach(), {k: v.detach() for k, v in parts.items()}, grad

    @property
    def graphed(self) -> bool:
        """Whether calls replay a recorded graph."""
        return self._graph is not None

    def __call__(self) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        if self.failed:
            return self._eager()
        if self._graph is None:
            recorded = _recorded(self._record)
            if recorded is None:
                self.failed = True
                return self._eager()
            self._graph, self._out = recorded
        self._graph.replay()
        assert self._out is not None
        return self._out

    def _record(self) -> tuple[Any, tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]]:
        stream = torch.cuda.current_stream(self.x.device)
        side = torch.cuda.Stream(device=self.x.device)
        side.wait_stream(stream)
        with torch.cuda.stream(side):
            for _ in range(self.warmups):
                self._eager()
        stream.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            out = self._eager()
        return graph, out


# Inductor's mode for `BackgroundCompiled`. Not "reduce-overhead": the CUDA
# graph replay is ours (`GraphedForward`), shared by the compiled and eager paths.
COMPILE_MODE = os.environ.get("WARPAINT_COMPILE_MODE", "default")


def compile_enabled() -> bool:
    """Whether background compilation may be used: off with WARPAINT_COMPILE=0,
    and only where Triton (Inductor's GPU code generator) is installed."""
    if os.environ.get("WARPAINT_COMPILE", "1") == "0":
        return False
    try:
        from torch.utils._triton import has_triton
    except ImportError:  # pragma: no cover - every supported torch has it
        return False
    return bool(has_triton())


def _inductor(fn: Forward) -> Forward:
    return torch.compile(fn, mode=COMPILE_MODE, dynamic=False)


class BackgroundCompiled:
    """`fn` compiled (torch.compile) per input shape in a background thread,
    then replayed from a CUDA graph (`GraphedForward`).

    Compiling a network takes tens of seconds, which must not land on a user's
    click: `get(*inputs)` returns the compiled replay for the inputs' shapes
    once it is ready and None until then (having queued them), so the caller runs its eager
    path meanwhile. At most `max_shapes` shapes are compiled; a failure (no
    working compiler, say) is warned once and turns the whole object off.
    Compilation holds Python's interpreter lock part of the time: a GUI stays
    responsive but slower while it runs. Inductor keeps its results in its
    on-disk cache, so a later session compiles the same shape in seconds.
    `compiler` replaces torch.compile (tests).
    """

    def __init__(
        self,
        fn: Forward,
        compiler: Callable[[Forward], Forward] | None = None,
        max_shapes: int = 4,
    ) -> None:
        self.fn = fn
        self.compiler = compiler or _inductor
        self.max_shapes = max_shapes
        self.failed: str | None = None
        self._ready: dict[tuple[Any, ...], GraphedForward] = {}
        self._queued: set[tuple[Any, ...]] = set()
        self._jobs: queue.SimpleQueue[
            tuple[tuple[Any, ...], torch.Tensor, tuple[torch.Tensor | None, ...]]
        ] = queue.SimpleQueue()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def get(self, x: torch.Tensor, *more: torch.Tensor | None) -> Forward | None:
        """The compiled replay for these inputs' shapes (as `GraphedForward`
        takes them), or None (queued for compiling)."""
        inputs = (x, *more)
        key = _signature(inputs)
        with self._lock:
            ready = self._ready.get(key)
            if ready is not None or self.failed or key in self._queued:
                return ready
            if len(self._queued) >= self.max_shapes:
                return None
            self._queued.add(key)
            self._idle.clear()
            copies = tuple(None if t is None else t.detach().clone() for t in more)
            self._jobs.put((key, x.detach().clone(), copies))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="warpaint-compile", daemon=True
                )
                self._thread.start()
        return None

    @property
    def ready_shapes(self) -> int:
        """How many shapes have a compiled replay."""
        return len(self._ready)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued shape is compiled (or failed); False on timeout."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            key, x, more = self._jobs.get()
            if self.failed is None:  # after a failure, queued shapes stay eager
                try:
                    replay = self._compiled_replay(x, more)
                except Exception as exc:  # noqa: BLE001 - any failure means: stay eager
                    with self._lock:
                        self.failed = f"{type(exc).__name__}: {exc}"
                    warnings.warn(
                        f"background compilation failed ({self.failed}); running eagerly",
                        stacklevel=1,
                    )
                else:
                    with self._lock:
                        self._ready[key] = replay
            with self._lock:
                if self._jobs.empty():
                    self._idle.set()

    def _compiled_replay(
        self, x: torch.Tensor, more: tuple[torch.Tensor | None, ...]
    ) -> GraphedForward:
        replay = GraphedForward(self.compiler(self.fn), max_shapes=1)
        with torch.inference_mode():
            replay(x, *more)  # compiles, then records the graph
        if x.device.type == "cuda" and replay.failed:
            raise RuntimeError("the compiled network could not be recorded")
        return replay
