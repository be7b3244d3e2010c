"""Replay a fixed-shape forward pass as a CUDA graph.

A light network on a big GPU is bound by kernel launches, not by arithmetic:
the fast-style generator launches a few hundred small kernels per frame (each
convolution, reflection pad, norm statistic and element-wise step is one), and
in eager mode the Python and driver cost of launching them exceeds the GPU's
time running them. A CUDA graph records the launches once per input shape
and replays them with one call. No compilation is involved: recording costs a
few warm-up passes on the first call at a new size.

`GraphedForward(fn)` calls `fn` eagerly for tensors that are not on a CUDA
device, and after any failure to record (then once, with a warning). Every
tensor `fn` reads besides its input (weights, a style-mix buffer) must keep
its storage between calls: the graph reads those addresses, so change such
inputs in place (`copy_`).
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

Forward = Callable[[torch.Tensor], torch.Tensor]


class GraphedForward:
    """`fn(x)` replayed from a CUDA graph recorded per (shape, strides, dtype, device).

    Keeps the `max_shapes` most recently used graphs (each holds the memory of
    its activations). The result is a fresh tensor (a copy of the graph's
    output buffer), so callers may keep it.
    """

    def __init__(self, fn: Forward, max_shapes: int = 4, warmups: int = 2) -> None:
        self.fn = fn
        self.max_shapes = max_shapes
        self.warmups = warmups
        self.failed = False
        self._graphs: OrderedDict[tuple[Any, ...], tuple[Any, torch.Tensor, torch.Tensor]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cuda" or self.failed:
            return self.fn(x)
        key = (tuple(x.shape), x.stride(), x.dtype, x.device)
        with self._lock:
            entry = self._graphs.get(key)
            if entry is None:
                try:
                    entry = self._record(x)
                except torch.OutOfMemoryError:
                    raise
                except RuntimeError as exc:
                    self.failed = True
                    warnings.warn(f"CUDA graph recording failed ({exc}); running eagerly",
                                  stacklevel=2)  # fmt: skip
                    return self.fn(x)
                self._graphs[key] = entry
                while len(self._graphs) > self.max_shapes:
                    self._graphs.popitem(last=False)
            else:
                self._graphs.move_to_end(key)
            graph, static_in, static_out = entry
            static_in.copy_(x)
            graph.replay()
            return static_out.clone()

    @property
    def recorded(self) -> int:
        """How many graphs are held."""
        return len(self._graphs)

    def _record(self, x: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor]:
        static_in = x.clone()
        # Warm-up on a side stream, as recording requires: cuDNN picks its
        # algorithms and the allocator its blocks before the capture.
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmups):
                self.fn(static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: other threads (the GUI's, other job lanes) may use
        # CUDA while this one records.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = self.fn(static_in)
        return graph, static_in, static_out
