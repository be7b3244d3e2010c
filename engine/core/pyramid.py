"""Gaussian and Laplacian pyramids and multiresolution splining (Burt & Adelson 1983).

Functional core on float32 torch tensors of shape (N, C, H, W), on any device,
any size (odd sizes included). The generating kernel is

    w(a) = [1/4 - a/2, 1/4, a, 1/4, 1/4 - a/2]      (separable, 5 taps)

a = 0.375 is the binomial [1 4 6 4 1] / 16; a = 0.4 is closer to a Gaussian.

Definitions (per axis; the 2-D operators apply them to rows and columns):

- REDUCE(x)[k] = sum_m w(m) x[2k + m]: blur, keep the even samples.
  n samples give ceil(n / 2).
- EXPAND(g)[i] = 2 sum_m w(m) u[i - m] with u the zero-stuffed g (u[2k] = g[k],
  odd samples 0) at the finer level's exact length N (ceil(N / 2) = len(g)).
- Borders: both operators blur with the signal reflected about its first and
  last sample at the level they write/read at full rate (x[-1] = x[1],
  x[-2] = x[2]; for EXPAND the reflection is of u, so an even N repeats the
  last coarse sample). A constant stays exactly constant through both.
- Laplacian level L_l = G_l - EXPAND(G_{l+1}); the top is the coarsest
  Gaussian. `collapse` adds the levels back: reconstruction is exact up to
  float rounding.

`levels` everywhere counts REDUCE steps (OpenCV's "bands"): a pyramid has
levels + 1 entries. Each reduced level must keep both sides >= 3 samples for
the reflection, so levels are capped by `max_levels`.

How it is fast: REDUCE is a depthwise 5x5 convolution with stride 2 (only the
kept samples are computed) and EXPAND a depthwise stride-2 transposed
convolution (polyphase: no zero-stuffed image is ever made); tensors are kept
channels-last, where oneDNN's and cuDNN's depthwise kernels are several times
faster than on planar tensors. Borders are fixed up on thin strips, so no
padded copy of a full level is made. A spline needs one Laplacian pyramid,
not two: with D = A - B, LS_l = GR_l LA_l + (1 - GR_l) LB_l = LB_l + GR_l LD_l,
so the result is B + collapse(GR_l LD_l). The mask rides along as an extra
channel of D, so one REDUCE per level builds both pyramids.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from warpaint.engine.core.task_pool import TaskPool

DEFAULT_A = 0.375
MIN_SIDE = 3  # the reflection at a border needs two samples beyond the edge one
MAX_AUTO_LEVELS = 10

Progress = Callable[[float], None]


# -- kernels and sizes --------------------------------------------------


def kernel_1d(a: float = DEFAULT_A) -> tuple[float, float, float, float, float]:
    """The generating kernel w(a) = (1/4 - a/2, 1/4, a, 1/4, 1/4 - a/2)."""
    if not 0.0 <= a <= 0.5:
        raise ValueError(f"kernel parameter a={a} outside [0, 0.5]")
    c = 0.25 - a / 2.0
    return (c, 0.25, a, 0.25, c)


def level_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """(H, W) of each pyramid level: ceil(side / 2) per REDUCE, levels + 1 entries."""
    shapes = [(height, width)]
    for _ in range(levels):
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


def max_levels(height: int, width: int) -> int:
    """The most REDUCE steps an image allows (every reduced level has sides >= 3)."""
    levels = 0
    h, w = height, width
    while h >= MIN_SIDE and w >= MIN_SIDE:
        levels += 1
        h, w = (h + 1) // 2, (w + 1) // 2
    return max(0, levels - 1) if min(height, width) >= MIN_SIDE else 0


def auto_levels(height: int, width: int) -> int:
    """Levels for an image: as deep as its size allows (at most 10).

    The coarsest band then spans the whole image, so a seam's lowest
    frequencies (exposure, colour cast) fade over the whole picture, as in
    Burt & Adelson's full-depth pyramids.
    """
    return min(MAX_AUTO_LEVELS, max_levels(height, width))


def resolve_levels(height: int, width: int, levels: int | None) -> int:
    """`levels` capped to what the size allows; None means `auto_levels`."""
    if levels is None:
        return auto_levels(height, width)
    if levels < 0:
        raise ValueError(f"levels must be >= 0, got {levels}")
    return min(int(levels), max_levels(height, width))


# -- REDUCE and EXPAND -------------------------------------------------


def _weights(channels: int, a: float, gain: float, like: torch.Tensor) -> torch.Tensor:
    """(channels, 1, 5, 5) depthwise kernel gain * w(a) outer w(a)."""
    import torch

    k = torch.tensor(kernel_1d(a), dtype=torch.float64)
    w2 = (k[:, None] * k[None, :] * gain).to(dtype=like.dtype, device=like.device)
    return w2.expand(channels, 1, 5, 5).contiguous()


def _working(x: torch.Tensor) -> torch.Tensor:
    """x channels-last: the depthwise (transposed) convolutions are several
    times faster so on both oneDNN (CPU) and cuDNN (measured on an H200: 50 ms
    against 133 ms planar for an 8192^2 RGB spline)."""
    import torch

    return x.contiguous(memory_format=torch.channels_last)


def _reflect(indices: range, n: int) -> list[int]:
    """Indices reflected about the first and last sample (needs n >= 3 for +-2)."""
    out = []
    for i in indices:
        if i < 0:
            i = -i
        if i > n - 1:
            i = 2 * (n - 1) - i
        out.append(i)
    return out


def _check(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point tensor, got {x.dtype}")


def reduce(x: torch.Tensor, a: float = DEFAULT_A) -> torch.Tensor:
    """REDUCE: (N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2)), reflect borders.

    H and W must be >= 3.
    """
    import torch
    import torch.nn.functional as F

    _check(x)
    n, c, h, w = x.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"REDUCE needs sides >= {MIN_SIDE}, got {h}x{w}")
    x = _working(x)
    k = _weights(c, a, 1.0, x)
    # Zero padding is wrong only in the first and last output rows/columns;
    # those are recomputed from thin reflected strips.
    out = F.conv2d(x, k, stride=2, padding=2, groups=c)
    mh, mw = out.shape[2:]
    dev = x.device
    cols = torch.tensor(_reflect(range(-2, w + 2), w), device=dev)
    rows = torch.tensor(_reflect(range(-2, h + 2), h), device=dev)
    for k_out in {0, mh - 1}:
        strip = x.index_select(2, rows[2 * k_out : 2 * k_out + 5]).index_select(3, cols)
        out[:, :, k_out : k_out + 1] = F.conv2d(strip, k, stride=2, groups=c)
    for k_out in {0, mw - 1}:
        strip = x.index_select(3, cols[2 * k_out : 2 * k_out + 5]).index_select(2, rows)
        out[:, :, :, k_out : k_out + 1] = F.conv2d(strip, k, stride=2, groups=c)
    return out


def _reduce_banded(x: torch.Tensor, a: float, compute: torch.device) -> torch.Tensor:
    """REDUCE of `x` (left where it is, e.g. host memory) computed on `compute`
    in bands of output rows: each band reads its rows plus two reflected ones
    each side, so the result equals `reduce(x)`."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    out = _empty((n, c, (h + 1) // 2, (w + 1) // 2), x)
    k = _weights(c, a, 1.0, torch.empty(0, device=compute))
    index = _reflect(range(-2, h + 2), h)  # index[i] = the row i - 2 reads
    rows = _band_rows(w, 3 * c, torch.empty(0, device=compute)) // 2
    for r0 in range(0, out.shape[2], rows):
        r1 = min(out.shape[2], r0 + rows)
        src = torch.tensor(index[2 * r0 : 2 * r1 + 3], device=x.device)
        band = F.pad(x.index_select(2, src).to(compute), (2, 2, 0, 0), mode="reflect")
        out[:, :, r0:r1] = F.conv2d(band, k, stride=2, groups=c)
    return out


def _empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised float32 (channels-last) tensor on `like`'s device."""
    import torch

    return torch.empty(
        shape, dtype=torch.float32, device=like.device, memory_format=torch.channels_last
    )


def _padded_coarse(
    parts: Sequence[torch.Tensor], shape: tuple[int, int], pool: TaskPool | None = None
) -> torch.Tensor:
    """The channels of `parts` (each (N, c_i, h, w)) stacked and padded by one
    coarse sample per side as the finer level's (H, W) = `shape` reflection needs.

    Front: g[-1] = g[1]. Back: g[h] = g[h-2] for an odd finer size, g[h-1] for
    an even one (the reflected zero-stuffed signal repeats the last sample).
    Coarse sides are >= 2 because finer ones are >= 3.
    """
    n, _, h, w = parts[0].shape
    channels = sum(p.shape[1] for p in parts)
    gp = _empty((n, channels, h + 2, w + 2), parts[0])

    def copy(r0: int, r1: int) -> None:
        c0 = 0
        for p in parts:
            gp[:, c0 : c0 + p.shape[1], 1 + r0 : 1 + r1, 1:-1] = p[:, :, r0:r1]
            c0 += p.shape[1]

    if pool is None or h * w < _POOL_MIN_SAMPLES:
        copy(0, h)
    else:
        bands = _task_rows(h, 2 * n * channels * w * gp.element_size())
        pool.run([partial(copy, r0, r1) for r0, r1 in bands])
    big, wide = shape
    gp[:, :, 0, 1:-1] = gp[:, :, 2, 1:-1]
    gp[:, :, -1, 1:-1] = gp[:, :, -2 if big % 2 == 0 else -3, 1:-1]
    gp[:, :, :, 0] = gp[:, :, :, 2]
    gp[:, :, :, -1] = gp[:, :, :, -2 if wide % 2 == 0 else -3]
    return gp


def _expand_padded(
    gp: torch.Tensor, shape: tuple[int, int], k: torch.Tensor, r0: int, r1: int
) -> torch.Tensor:
    """Rows [r0, r1) (r0 even) of EXPAND from a `_padded_coarse` level: (N, C, r1 - r0, W)."""
    import torch.nn.functional as F

    wide = shape[1]
    w_coarse = gp.shape[3] - 2
    p0, p1 = r0 // 2, (r1 - 1) // 2 + 2  # padded coarse rows that reach the band
    # A no-op unless gp lives in host memory while bands run on a GPU.
    piece = gp[:, :, p0 : p1 + 1].to(k.device)
    rows_out = 2 * piece.shape[2] - 5
    op_h = 1 if rows_out < r1 - r0 else 0
    op_w = wide - (2 * w_coarse - 1)
    out = F.conv_transpose2d(
        piece, k, stride=2, padding=4, output_padding=(op_h, op_w), groups=gp.shape[1]
    )
    return out[:, :, : r1 - r0]


def expand(g: torch.Tensor, shape: tuple[int, int], a: float = DEFAULT_A) -> torch.Tensor:
    """EXPAND: (N, C, h, w) -> (N, C, H, W) with h = ceil(H/2), w = ceil(W/2)."""
    _check(g)
    big, wide = shape
    if g.shape[2] != (big + 1) // 2 or g.shape[3] != (wide + 1) // 2:
        raise ValueError(f"cannot EXPAND {tuple(g.shape[2:])} to {shape}")
    k = _weights(g.shape[1], a, 4.0, g)
    return _expand_padded(_padded_coarse([g], shape), shape, k, 0, big)


# -- pyramids -----------------------------------------------------------


def gaussian_pyramid(
    x: torch.Tensor, levels: int | None, a: float = DEFAULT_A
) -> list[torch.Tensor]:
    """[G_0 = x, G_1, ..., G_levels], each (N, C, ceil(H/2^l), ceil(W/2^l))."""
    _check(x)
    levels = resolve_levels(x.shape[2], x.shape[3], levels)
    pyramid = [x]
    for _ in range(levels):
        pyramid.append(reduce(pyramid[-1], a))
    return pyramid


def laplacian_pyramid(
    x: torch.Tensor, levels: int | None, a: float = DEFAULT_A
) -> list[torch.Tensor]:
    """[L_0, ..., L_{levels-1}, G_levels] with L_l = G_l - EXPAND(G_{l+1})."""
    g = gaussian_pyramid(x, levels, a)
    lap = [g[i] - expand(g[i + 1], (g[i].shape[2], g[i].shape[3]), a) for i in range(len(g) - 1)]
    return lap + [g[-1]]


def collapse(pyramid: Sequence[torch.Tensor], a: float = DEFAULT_A) -> torch.Tensor:
    """Inverse of `laplacian_pyramid`: S = EXPAND(S_{l+1}) + L_l from the top down."""
    out = pyramid[-1]
    for level in reversed(pyramid[:-1]):
        out = expand(out, (level.shape[2], level.shape[3]), a) + level
    return out


# -- splining -------------------------------------------------------------


def spline(
    a_img: torch.Tensor,
    b_img: torch.Tensor,
    mask: torch.Tensor,
    levels: int | None = None,
    a: float = DEFAULT_A,
    progress: Progress | None = None,
    compute: torch.device | str | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Multiresolution spline of A and B: A where mask = 1, B where mask = 0.

    a_img, b_img: (N, C, H, W) float; mask: (N, 1, H, W) in [0, 1]. Returns
    (N, C, H, W) float32 = B + collapse(GR_l * L(A - B)_l). `levels` None
    is automatic (`auto_levels`). `progress(fraction)` is called between chunks (it may
    raise to cancel). For alpha images pass premultiplied colours. With
    `compute` (e.g. "cuda" for inputs in host memory) the work runs there in
    row bands while the pyramids stay with the inputs: images larger than
    the GPU's memory (see `stream_device`).

    `backend`: "torch" (convolutions, every device), "triton" (fused kernels,
    `warpaint.engine.core.pyramid_triton`; on a CPU only under TRITON_INTERPRET=1)
    or "auto": Triton for CUDA inputs when it compiles there (checked once per
    device and channel count), else torch.
    """
    import torch

    _check(a_img)
    if b_img.shape != a_img.shape:
        raise ValueError(f"A {tuple(a_img.shape)} and B {tuple(b_img.shape)} differ in shape")
    n, c, h, w = a_img.shape
    if mask.shape != (n, 1, h, w):
        raise ValueError(f"mask must be {(n, 1, h, w)}, got {tuple(mask.shape)}")
    if backend not in ("auto", "torch", "triton"):
        raise ValueError(f"unknown spline backend {backend!r}")
    if backend == "triton" and compute is not None:
        raise ValueError("the Triton backend runs where the inputs are: no `compute`")
    fused = backend == "triton" or (
        backend == "auto" and compute is None and triton_ready(a_img.device, c)
    )
    resolved = resolve_levels(h, w, levels)
    if fused and resolved > 0:
        from warpaint.engine.core import pyramid_triton
        from warpaint.engine.runtime.errors import JobCancelled

        x, y, m = (t.to(torch.float32) for t in (a_img, b_img, mask))
        try:
            return pyramid_triton.spline(x, y, m, resolved, a, progress)
        except (JobCancelled, torch.OutOfMemoryError):
            raise
        except Exception as exc:
            # A size the check did not cover may compile differently; a failure
            # there must not cost the user the spline.
            if backend == "triton":
                raise
            _triton_checked[(str(a_img.device), c)] = False
            warnings.warn(f"Triton spline kernels failed ({exc}); using convolutions", stacklevel=2)
    stack = _empty((n, c + 1, h, w), a_img)
    workers = _pool_workers(a_img, compute)
    if workers > 1:
        from warpaint.engine.core.task_pool import TaskPool

        with TaskPool(workers) as pool:
            _fill_stack_pooled(stack, a_img, b_img, mask, pool)
            return _blend_stack_pooled(stack, b_img, c, resolved, a, progress, False, pool)
    torch.sub(a_img, b_img, out=stack[:, :c])
    stack[:, c:] = mask
    return _blend_stack(stack, b_img, c, resolved, a, progress, False, _device(compute))


def _pool_workers(x: torch.Tensor, compute: torch.device | str | None) -> int:
    """Task-pool workers for a spline of `x` (1: torch's own threads): CPU
    tensors computed where they are, large enough to split, as many as
    `cpu_threads.pool_workers` allows the calling thread."""
    from warpaint.engine.runtime.cpu_threads import pool_workers

    if x.device.type != "cpu" or compute is not None:
        return 1
    if x.shape[2] * x.shape[3] < _POOL_MIN_SAMPLES:
        return 1
    return pool_workers()


def blend(
    images: Sequence[torch.Tensor],
    weights: Sequence[torch.Tensor],
    levels: int | None = None,
    a: float = DEFAULT_A,
    progress: Progress | None = None,
) -> torch.Tensor:
    """N-way multiresolution blend with normalised weight pyramids (enblend style).

    images: K tensors (N, C, H, W); weights: K tensors (N, 1, H, W) >= 0.
    Each level mixes the K Laplacian levels by GW_k / sum_j GW_j (where all
    weights are 0 the first image shows). Returns (N, C, H, W) float32.
    """
    import torch

    if len(images) != len(weights) or not images:
        raise ValueError("blend needs as many weights as images, and at least one")
    base = images[0]
    _check(base)
    n, c, h, w = base.shape
    for im, wt in zip(images, weights, strict=True):
        if im.shape != base.shape or wt.shape != (n, 1, h, w):
            raise ValueError("every image must be (N, C, H, W) and every weight (N, 1, H, W)")
    k = len(images)
    if k == 1:
        return base.to(torch.float32, copy=True)
    stack = _empty((n, (k - 1) * c + k, h, w), base)
    for i, im in enumerate(images[1:]):
        torch.sub(im, base, out=stack[:, i * c : (i + 1) * c])
    for i, wt in enumerate(weights):
        stack[:, (k - 1) * c + i : (k - 1) * c + i + 1] = wt
    return _blend_stack(stack, base, (k - 1) * c, levels, a, progress, normalise=True)


_triton_checked: dict[tuple[str, int], bool] = {}


def triton_ready(device: torch.device, channels: int) -> bool:
    """Whether the fused kernels run on CUDA `device` for `channels` channels.

    The first call per (device, channels) compiles them on a small spline
    and compares it with the convolution path; a machine without what
    Triton needs at run time (a C compiler for its launcher, a supported
    GPU) or a wrong result keeps the convolution path, with a warning.
    """
    import torch

    if device.type != "cuda":
        return False
    key = (str(device), channels)
    if key not in _triton_checked:
        from warpaint.engine.core import pyramid_triton

        ok = False
        if pyramid_triton.available():
            gen = torch.Generator(device=device).manual_seed(0)
            x, y = (torch.rand(1, channels, 21, 34, device=device, generator=gen) for _ in "ab")
            m = torch.rand(1, 1, 21, 34, device=device, generator=gen)
            try:
                fused = pyramid_triton.spline(x, y, m, 3, DEFAULT_A)
                ok = bool((fused - spline(x, y, m, 3, backend="torch")).abs().max() < 1e-4)
            except Exception as exc:  # noqa: BLE001 - any failure means: use torch
                warnings.warn(
                    f"Triton spline kernels unavailable ({exc}); using convolutions", stacklevel=3
                )
        _triton_checked[key] = ok
    return _triton_checked[key]


def _device(compute: torch.device | str | None) -> torch.device | None:
    import torch

    return None if compute is None else torch.device(compute)


# Bytes per pixel and channel a spline needs on its device when not streamed:
# the difference/mask stack and its pyramid, the collapse's levels, the base,
# band temporaries (measured layout: about 3x the stack).
_BYTES_PER_PIXEL_CHANNEL = 4 * 3.2


def stream_device(shape: tuple[int, ...], device: torch.device) -> bool:
    """True when a spline of (N, C, H, W) `shape` would not fit in half of the
    free memory of the GPU `device`: run it with the inputs in host memory and
    `compute=device` instead."""
    import torch

    if device.type != "cuda":
        return False
    n, c, h, w = shape
    need = _BYTES_PER_PIXEL_CHANNEL * n * (2 * c + 1) * h * w
    return need > torch.cuda.mem_get_info(device)[0] / 2


def _level_weights(g: torch.Tensor, dc: int, c: int, normalise: bool) -> torch.Tensor:
    """Per-difference weights at one level: (N, dc // c, h, w)."""
    wts = g[:, dc:]
    if not normalise:
        return wts
    total = wts.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return wts[:, 1:] / total


def _mix_into(out: torch.Tensor, start: torch.Tensor, d: torch.Tensor, wts: torch.Tensor) -> None:
    """out = start + sum_k wts_k * D_k, D_k the c-channel groups of d (c = out's channels)."""
    import torch

    c = out.shape[1]
    torch.addcmul(start, d[:, :c], wts[:, :1], out=out)
    for i in range(1, wts.shape[1]):
        out.addcmul_(d[:, i * c : (i + 1) * c], wts[:, i : i + 1])


def _band_rows(width: int, channels: int, like: torch.Tensor) -> int:
    """Rows per band of the collapse.

    CPU: temporaries near 8 MiB, so the allocator recycles them instead of
    mapping (and page-faulting) fresh memory each time. GPU: as many rows as a
    quarter of the free device memory holds, because each band costs several
    kernel launches (8 MiB bands made an 8192^2 spline launch-bound) and a
    band never needs more memory than that.
    """
    import torch

    row_bytes = max(1, width * channels * 4)
    if like.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(like.device)
        rows = free // 4 // row_bytes
    else:
        rows = (8 << 20) // row_bytes
    return max(16, rows - rows % 2)


def _collapse_band(
    out: torch.Tensor,
    gp: torch.Tensor,
    g_fine: torch.Tensor,
    base: torch.Tensor | None,
    k_s: torch.Tensor,
    dc: int,
    normalise: bool,
    r0: int,
    r1: int,
    where: torch.Tensor,
) -> None:
    """Rows [r0, r1) of one collapse level into `out`: EXPAND of S_{l+1} plus the
    level's weighted Laplacians (computed from `gp`, the `_padded_coarse` of
    [S_{l+1}, the coarse differences], and the fine Gaussian level), plus
    `base` at level 0. Runs on `where`'s device; `out` may live elsewhere."""
    import torch

    c = out.shape[1]
    shape = (out.shape[2], out.shape[3])
    e = _expand_padded(gp, shape, k_s, r0, r1)
    fine = g_fine[:, :, r0:r1].to(where.device)
    lap = torch.sub(fine[:, :dc], e[:, c:], out=e[:, c:])
    streamed = where.device != out.device
    band = _empty((out.shape[0], c, r1 - r0, shape[1]), where) if streamed else out[:, :, r0:r1]
    _mix_into(band, e[:, :c], lap, _level_weights(fine, dc, c, normalise))
    if base is not None:
        band += base[:, :, r0:r1].to(where.device)
    if streamed:
        out[:, :, r0:r1] = band


def _collapse_top(
    gauss: Sequence[torch.Tensor], c: int, dc: int, normalise: bool
) -> tuple[torch.Tensor, int]:
    """Where the collapse starts: the coarsest level's weighted sum (N, c, h, w)
    of the stack's Gaussian pyramid `gauss`, and the rows of the finer levels
    (what the collapse's progress counts)."""
    import torch

    top = gauss[-1]
    s = _empty((top.shape[0], c, *top.shape[2:]), top)
    _mix_into(s, torch.zeros_like(s), top, _level_weights(top, dc, c, normalise))
    return s, sum(g.shape[2] for g in gauss[:-1])


def _blend_stack(
    stack: torch.Tensor,
    base: torch.Tensor,
    dc: int,
    levels: int | None,
    a: float,
    progress: Progress | None,
    normalise: bool,
    compute: torch.device | None = None,
) -> torch.Tensor:
    """base + collapse(sum_k w_k,l L(D_k)_l) for a stack [D_1..D_m, weights...].

    stack: (N, dc + weights, H, W) with the differences in its first dc channels.
    With `compute`, every level is stored where the stack is and only row
    bands visit `compute`: a GPU then needs
    memory for a band, not for the image's pyramids.
    """
    import torch

    # Streaming to the stack's own device is allowed (and what the tests use).
    streamed = compute is not None
    where = torch.empty(0, device=compute if streamed else stack.device)
    c = base.shape[1]
    h, w = stack.shape[2:]
    levels = resolve_levels(h, w, levels)
    gauss = [stack]
    for _ in range(levels):
        if progress is not None:
            progress(0.3 * len(gauss) / (levels + 1))
        g = gauss[-1]
        gauss.append(_reduce_banded(g, a, where.device) if streamed else reduce(g, a))
    s, total_rows = _collapse_top(gauss, c, dc, normalise)
    k_s = _weights(c + dc, a, 4.0, where)
    done = 0
    for level in range(levels - 1, -1, -1):
        g_fine, g_coarse = gauss[level], gauss[level + 1]
        shape = (g_fine.shape[2], g_fine.shape[3])
        # One transposed convolution expands S_{l+1} and the difference
        # channels of G_{l+1} together.
        gp = _padded_coarse([s, g_coarse[:, :dc]], shape)
        out = _empty((stack.shape[0], c, *shape), stack)
        rows = _band_rows(shape[1], 2 * c + dc, where)
        for r0 in range(0, shape[0], rows):
            r1 = min(shape[0], r0 + rows)
            _collapse_band(
                out, gp, g_fine, base if level == 0 else None, k_s, dc, normalise, r0, r1, where
            )
            done += r1 - r0
            if progress is not None:
                progress(0.3 + 0.7 * done / total_rows)
        s = out
    if levels == 0:
        s = s + base
    return s


# -- splining on a task pool (CPU) ------------------------------------------
# Every level's REDUCE, every collapse level and the filling of the stack are
# cut into row bands, each an independent task for `TaskPool`'s single-threaded
# workers; only the levels in turn wait for each other. A level this small runs
# on the calling thread: its bands would cost more to hand out than to compute.
_POOL_MIN_SAMPLES = 256 * 256
# Bytes of input a task reads: large enough that a task's Python and dispatch
# cost vanishes, small enough that a level has tens of tasks to balance.
_TASK_BYTES = 4 << 20


def _task_rows(rows: int, row_bytes: int) -> list[tuple[int, int]]:
    """[r0, r1) bands of `rows` rows of about `_TASK_BYTES` each (even starts)."""
    step = max(2, _TASK_BYTES // max(1, row_bytes))
    step -= step % 2
    return [(r0, min(rows, r0 + step)) for r0 in range(0, rows, step)]


def _reduce_rows(
    x: torch.Tensor, out: torch.Tensor, k: torch.Tensor, r0: int, r1: int, rows: list[int]
) -> None:
    """out[:, :, r0:r1] = those rows of REDUCE(x) but for the first and last
    columns; `rows[i]` is the row that padded row i (row i - 2, reflected) reads."""
    import torch
    import torch.nn.functional as F

    picked = rows[2 * r0 : 2 * r1 + 3]
    if picked == list(range(picked[0], picked[0] + len(picked))):
        band = x[:, :, picked[0] : picked[0] + len(picked)]
    else:
        band = x.index_select(2, torch.tensor(picked, device=x.device))
    out[:, :, r0:r1] = F.conv2d(band, k, stride=2, padding=(0, 2), groups=x.shape[1])


def _reduce_pooled(x: torch.Tensor, a: float, pool: TaskPool, done: Progress) -> torch.Tensor:
    """REDUCE(x) in row bands on `pool`, equal to `reduce(x)`."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    if h * w < _POOL_MIN_SAMPLES:
        return reduce(x, a)
    out = _empty((n, c, (h + 1) // 2, (w + 1) // 2), x)
    k = _weights(c, a, 1.0, x)
    rows = _reflect(range(-2, h + 2), h)
    bands = _task_rows(out.shape[2], 2 * n * c * w * x.element_size())
    pool.run(
        [partial(_reduce_rows, x, out, k, r0, r1, rows) for r0, r1 in bands],
        lambda count: done(count / len(bands)),
    )
    # The bands' zero padding is wrong only in the first and last columns.
    cols = torch.tensor(_reflect(range(-2, w + 2), w))
    every_row = torch.tensor(rows)
    for k_out in {0, out.shape[3] - 1}:
        strip = x.index_select(3, cols[2 * k_out : 2 * k_out + 5]).index_select(2, every_row)
        out[:, :, :, k_out : k_out + 1] = F.conv2d(strip, k, stride=2, groups=c)
    return out


def _fill_stack_pooled(
    stack: torch.Tensor,
    a_img: torch.Tensor,
    b_img: torch.Tensor,
    mask: torch.Tensor,
    pool: TaskPool,
) -> None:
    """stack = [A - B, mask] in row bands on `pool`."""
    import torch

    c = a_img.shape[1]

    def fill(r0: int, r1: int) -> None:
        torch.sub(a_img[:, :, r0:r1], b_img[:, :, r0:r1], out=stack[:, :c, r0:r1])
        stack[:, c:, r0:r1] = mask[:, :, r0:r1]

    bands = _task_rows(stack.shape[2], 3 * stack[0, :, 0].numel() * stack.element_size())
    pool.run([partial(fill, r0, r1) for r0, r1 in bands])


def _report_reduce(report: Progress, level: int, levels: int, fraction: float) -> None:
    """The pyramid's progress with `fraction` of REDUCE number `level` done."""
    report(0.3 * (level + 1 + fraction) / (levels + 1))


def _report_collapse(
    report: Progress, before: int, rows: int, tasks: int, total: int, count: int
) -> None:
    """The collapse's progress after `count` of a level's `tasks` (`rows` rows)."""
    report(0.3 + 0.7 * (before + rows * count / tasks) / total)


def _blend_stack_pooled(
    stack: torch.Tensor,
    base: torch.Tensor,
    dc: int,
    levels: int,
    a: float,
    progress: Progress | None,
    normalise: bool,
    pool: TaskPool,
) -> torch.Tensor:
    """`_blend_stack` in row-band tasks on `pool` (CPU tensors)."""

    def report(fraction: float) -> None:
        if progress is not None:
            progress(fraction)

    c = base.shape[1]
    gauss = [stack]
    for level in range(levels):
        report(0.3 * (level + 1) / (levels + 1))
        gauss.append(
            _reduce_pooled(gauss[-1], a, pool, partial(_report_reduce, report, level, levels))
        )
    s, total_rows = _collapse_top(gauss, c, dc, normalise)
    k_s = _weights(c + dc, a, 4.0, stack)
    done = 0
    for level in range(levels - 1, -1, -1):
        g_fine, g_coarse = gauss[level], gauss[level + 1]
        shape = (g_fine.shape[2], g_fine.shape[3])
        gp = _padded_coarse([s, g_coarse[:, :dc]], shape, pool)
        out = _empty((stack.shape[0], c, *shape), stack)
        band = partial(
            _collapse_band,
            out,
            gp,
            g_fine,
            base if level == 0 else None,
            k_s,
            dc,
            normalise,
            where=stack,
        )
        if shape[0] * shape[1] < _POOL_MIN_SAMPLES:
            band(0, shape[0])
        else:
            bands = _task_rows(shape[0], shape[1] * (2 * c + dc) * 4 * stack.shape[0])
            pool.run(
                [partial(band, r0, r1) for r0, r1 in bands],
                partial(_report_collapse, report, done, shape[0], len(bands), total_rows),
            )
        done += shape[0]
        report(0.3 + 0.7 * done / total_rows)
        s = out
    if levels == 0:
        s = s + base
    return s


def fill_transparent(rgb: torch.Tensor, alpha: torch.Tensor, a: float = DEFAULT_A) -> torch.Tensor:
    """Colours extended smoothly into transparent areas (push-pull).

    rgb: (N, C, H, W) straight colours; alpha: (N, 1, H, W) in [0, 1]. Where
    alpha is 1 the colours are kept exactly; elsewhere each level is composited
    over the expanded fill of the level below it, so holes take the colours of
    their surroundings. A multiresolution blend of images that are only
    partly defined (mosaics) needs this: pyramids of a hard edge to black
    would print a dark halo into the neighbouring image.
    """
    import torch

    _check(rgb)
    premultiplied = [rgb * alpha]
    coverage = [alpha]
    while min(premultiplied[-1].shape[2:]) >= 2 * MIN_SIDE:
        premultiplied.append(reduce(premultiplied[-1], a))
        coverage.append(reduce(coverage[-1], a))
    fill = premultiplied[-1] / coverage[-1].clamp_min(1e-6)
    # An image with nothing visible at all stays as it was.
    fill = torch.where(coverage[-1] > 1e-6, fill, rgb.mean(dim=(2, 3), keepdim=True))
    for p, c in zip(reversed(premultiplied[:-1]), reversed(coverage[:-1]), strict=True):
        fill = p + (1.0 - c) * expand(fill, (p.shape[2], p.shape[3]), a)
    return fill


class PreparedSpline:
    """A spline of fixed A and B whose mask changes often (mask painting).

    Holds B and the Laplacian pyramid of D = A - B, so `blend(mask)` costs
    only the mask's Gaussian pyramid and one collapse, not the images'
    pyramids. Memory: about 7/3 of one image.
    """

    def __init__(
        self,
        a_img: torch.Tensor,
        b_img: torch.Tensor,
        levels: int | None = None,
        a: float = DEFAULT_A,
    ) -> None:
        """a_img, b_img: (N, C, H, W) float (premultiplied for alpha images)."""
        import torch

        _check(a_img)
        if b_img.shape != a_img.shape:
            raise ValueError(f"A {tuple(a_img.shape)} and B {tuple(b_img.shape)} differ in shape")
        self.a = a
        self.levels = resolve_levels(a_img.shape[2], a_img.shape[3], levels)
        self.base = b_img.to(torch.float32)
        self.lap = laplacian_pyramid(_working(a_img.float() - self.base), self.levels, a)

    def blend(self, mask: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) mask in [0, 1] -> (N, C, H, W): A where 1, B where 0."""
        n, c, h, w = self.base.shape
        if mask.shape != (n, 1, h, w):
            raise ValueError(f"mask must be {(n, 1, h, w)}, got {tuple(mask.shape)}")
        weights = gaussian_pyramid(_working(mask.float()), self.levels, self.a)
        return self.base + collapse([g * lap for g, lap in zip(weights, self.lap, strict=True)])


# -- incremental re-blend (mask painting) ---------------------------------

Box = tuple[int, int, int, int]  # rows [y0, y1), columns [x0, x1)
# Levels up to this many samples are collapsed whole once per mask state and cropped.
_WHOLE_LEVEL_SAMPLES = 128 * 128


def _coarse_box(box: Box, shape: tuple[int, int]) -> Box:
    """Samples of REDUCE's output (of size `shape`) that read a changed fine `box`.

    Output k reads fine samples 2k - 2 .. 2k + 2 (and their reflections,
    which stay within the clipped range); one sample of slack per side.
    """
    y0, y1, x0, x1 = box
    return (
        max(0, (y0 - 3) // 2),
        min(shape[0], (y1 + 3) // 2 + 1),
        max(0, (x0 - 3) // 2),
        min(shape[1], (x1 + 3) // 2 + 1),
    )


def _one_thread() -> AbstractContextManager[None]:
    """Run the calling thread's torch ops on one thread: the incremental ops
    are small crops, where OpenMP's fork and barrier cost more than they save,
    and on a loaded 2-core machine far more (measured: 16 canvas tiles 1.3 s
    with 2 threads at load 4.4, 32 ms with one)."""
    from warpaint.engine.runtime.cpu_threads import torch_threads

    return torch_threads(1)


def _crop(x: torch.Tensor, box: Box) -> torch.Tensor:
    return x[:, :, box[0] : box[1], box[2] : box[3]]


def _reduce_box(x: torch.Tensor, box: Box, a: float) -> torch.Tensor:
    """REDUCE(x) over the coarse `box` only, equal to the crop of the full REDUCE.

    Reduces a crop of x starting at an even sample with two coarse samples of
    margin, so the crop's own (wrong) border handling never reaches `box`.
    """
    h, w = x.shape[2:]
    r0, c0 = max(0, 2 * box[0] - 4), max(0, 2 * box[2] - 4)
    r1, c1 = min(h, 2 * box[1] + 3), min(w, 2 * box[3] + 3)
    part = reduce(x[:, :, r0:r1, c0:c1], a)
    return part[:, :, box[0] - r0 // 2 : box[1] - r0 // 2, box[2] - c0 // 2 : box[3] - c0 // 2]


class LiveSpline:
    """A `PreparedSpline` blended with a mask that changes in small regions.

    The blend B + sum_l EXPAND^l(GR_l L_l) changes everywhere when the mask
    changes anywhere (the coarsest band spans the canvas), but the mask's
    Gaussian pyramid GR_l changes only within the changed box REDUCEd level by
    level (plus the kernel's support). So `update` patches GR_l over those
    boxes, and `region(box)` collapses only what a box of the result needs:
    S_l = EXPAND(S_{l+1}) + GR_l L_l over the box shrunk per level (plus the
    support), whole levels only where they are small. A 256 px canvas tile then
    costs about 4/3 of its own area, whatever the canvas size, and a preview
    computes only the tiles in view. Results equal `PreparedSpline.blend` of
    the whole mask up to float rounding.
    """

    def __init__(self, prepared: PreparedSpline, mask: torch.Tensor) -> None:
        """mask: (N, 1, H, W) in [0, 1] (copied)."""
        import torch

        n, c, h, w = prepared.base.shape
        if mask.shape != (n, 1, h, w):
            raise ValueError(f"mask must be {(n, 1, h, w)}, got {tuple(mask.shape)}")
        self.prepared = prepared
        first = _working(mask.to(torch.float32, copy=True))
        self.gauss = gaussian_pyramid(first, prepared.levels, prepared.a)
        self._whole: dict[int, torch.Tensor] = {}

    def update(self, patch: torch.Tensor, top: int, left: int) -> None:
        """Write `patch` (N, 1, h, w) into the mask at (top, left)."""
        h, w = patch.shape[2:]
        g0 = self.gauss[0]
        if top < 0 or left < 0 or top + h > g0.shape[2] or left + w > g0.shape[3]:
            raise ValueError("the patch must lie inside the mask")
        box: Box = (top, top + h, left, left + w)
        with _one_thread():
            _crop(g0, box).copy_(patch)
            for level in range(1, len(self.gauss)):
                g = self.gauss[level]
                box = _coarse_box(box, (g.shape[2], g.shape[3]))
                _crop(g, box).copy_(_reduce_box(self.gauss[level - 1], box, self.prepared.a))
        self._whole.clear()

    def region(self, box: Box) -> torch.Tensor:
        """The blend over `box` (y0, y1, x0, x1): (N, C, y1 - y0, x1 - x0)."""
        import torch

        with _one_thread():
            s = self._sum(0, box)
            # Channels-last, so the caller's (H, W, C) view of it needs no copy.
            out = _empty(tuple(s.shape), s)
            return torch.add(s, _crop(self.prepared.base, box), out=out)

    def _sum(self, level: int, box: Box) -> torch.Tensor:
        """S_level over `box`."""
        lap = self.prepared.lap[level]
        h, w = lap.shape[2:]
        if (box[1] - box[0]) * (box[3] - box[2]) * 4 >= h * w * 3 or h * w <= _WHOLE_LEVEL_SAMPLES:
            whole = self._whole.get(level)
            if whole is None:
                whole = self._sum_box(level, (0, h, 0, w))
                self._whole[level] = whole
            return _crop(whole, box)
        return self._sum_box(level, box)

    def _sum_box(self, level: int, box: Box) -> torch.Tensor:
        lap = self.prepared.lap[level]
        own = _crop(self.gauss[level], box) * _crop(lap, box)
        if level == self.prepared.levels:
            return own
        # EXPAND over the box reads coarse samples (y0 - 2) / 2 .. (y1 + 1) / 2;
        # one more on each side keeps the crop's own borders away from the box.
        n, m = self.prepared.lap[level + 1].shape[2:]
        p0, q0 = max(0, (box[0] - 2) // 2 - 1), max(0, (box[2] - 2) // 2 - 1)
        p1, q1 = min(n, (box[1] + 1) // 2 + 2), min(m, (box[3] + 1) // 2 + 2)
        coarse = self._sum(level + 1, (p0, p1, q0, q1))
        # Inside the level the crop's finer size is even; at its real end, the real size.
        fh = lap.shape[2] - 2 * p0 if p1 == n else 2 * (p1 - p0)
        fw = lap.shape[3] - 2 * q0 if q1 == m else 2 * (q1 - q0)
        part = expand(coarse, (fh, fw), self.prepared.a)
        own += part[:, :, box[0] - 2 * p0 : box[1] - 2 * p0, box[2] - 2 * q0 : box[3] - 2 * q0]
        return own
