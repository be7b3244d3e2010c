"""The two-image spline of `warpaint.engine.core.pyramid` as two fused Triton kernels.

Same definitions as `pyramid` (read its docstring): REDUCE and EXPAND with the
generating kernel w(a), reflected borders, any size. Why a second
implementation: on a GPU the convolution path is bound by kernel launches and
by cuDNN's depthwise (transposed) convolutions, not by memory (measured on an
H200: 22.4 ms for an 8192^2 RGB spline whose data, read and written once per
level, would move in about 2 ms). Here each level is one kernel that reads its
input once and writes its output once:

- `pyramid_kernels.reduce_kernel`: G_{l+1} of the stack [D = A - B, mask] from G_l. At level
  0 the stack is never made: the kernel reads A, B and the mask and
  subtracts on the fly (REDUCE is linear).
- `pyramid_kernels.collapse_kernel`: S_l = EXPAND(S_{l+1}) + GR_l (D_l - EXPAND(D_{l+1}))
  in one pass (polyphase EXPAND: an even fine sample reads coarse samples
  p - 1, p, p + 1 with weights 2 (c, a, c), an odd one p, p + 1 with
  2 (1/4, 1/4), per axis). At level 0 it reads A, B and the mask and adds B,
  so the result B + collapse(GR L(A - B)) is written once.

Memory on the device: the inputs, the output, and the reduced levels of the
4-channel stack and of S (about 0.45 of one input image). Images with more
than 2^31 elements per tensor are fine (offsets are 64-bit).

Triton compiles these for CUDA; with TRITON_INTERPRET=1 (set before triton is
imported) the same code runs on CPU tensors, which is how CI tests it against
the convolution path, and compiles them for sm_90 without a GPU.
`available()` says whether triton can be imported.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Output tile of one program: rows x columns (columns are the contiguous axis
# of planar tensors, so they get the long side). Swept on an H200 (8192^2 RGB,
# 7 levels): 8x128 13.9 ms, 4x128 9.2, 2x128 6.4, 1x256 5.8, 1x512 8.2.
_BLOCK_H = 1
_BLOCK_W = 256
# Warps per program (Triton's default).
_NUM_WARPS = 4


def available() -> bool:
    """True when the Triton compiler (or its interpreter) can be imported."""
    return importlib.util.find_spec("triton") is not None


def _kernels() -> ModuleType:
    # Triton 3.9 warns on every compile unless this is set; fusing multiply-adds
    # is what every Triton before it did.
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    from warpaint.engine.core import pyramid_kernels

    return pyramid_kernels


def _grid(n: int, height: int, width: int) -> tuple[int, int, int]:
    return (-(-width // _BLOCK_W), -(-height // _BLOCK_H), n)


def spline(
    a_img: torch.Tensor,
    b_img: torch.Tensor,
    mask: torch.Tensor,
    levels: int,
    a: float,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """B + collapse(GR_l L(A - B)_l), as `pyramid.spline` (checked shapes, float32).

    a_img, b_img: (N, C, H, W), mask: (N, 1, H, W), float32, any strides, on
    one device; `levels` already resolved (>= 1). Returns (N, C, H, W)
    float32, channels-last like the convolution path's result.
    """
    import torch

    from warpaint.engine.core.pyramid import kernel_1d, level_shapes

    k = _kernels()
    w0, w1, w2 = kernel_1d(a)[:3]
    n, c, h, w = a_img.shape
    shapes = level_shapes(h, w, levels)
    dev = a_img.device
    f32 = torch.float32
    stack = [torch.empty((n, c + 1, hh, ww), dtype=f32, device=dev) for hh, ww in shapes[1:]]
    src_strides = [a_img.stride(), b_img.stride(), (mask.stride(0), mask.stride(2), mask.stride(3))]
    for level, out in enumerate(stack):
        if progress is not None:
            progress(0.3 * level / levels)
        (hh, ww), (oh, ow) = shapes[level], shapes[level + 1]
        if level == 0:
            src, sub, sa, sb, sm = a_img, b_img, *src_strides
        else:
            src = sub = stack[level - 1]
            sa = sb = src.stride()
            sm = (0, 0, 0)
        k.reduce_kernel[_grid(n, oh, ow)](
            src, sub, mask, out, hh, ww, oh, ow, *sa, *sb, *sm, *out.stride(), w0, w1, w2,
            C=c, FIRST=level == 0, BH=_BLOCK_H, BW=_BLOCK_W, num_warps=_NUM_WARPS,
        )  # fmt: skip  # arguments grouped as the kernel's signature
    top = stack[-1]
    s = top[:, :c] * top[:, c:]
    for level in range(levels - 1, -1, -1):
        if progress is not None:
            progress(0.3 + 0.7 * (levels - 1 - level) / levels)
        hh, ww = shapes[level]
        g = stack[level]
        first = level == 0
        out = torch.empty(
            (n, c, hh, ww),
            dtype=torch.float32,
            device=dev,
            memory_format=torch.channels_last if first else torch.contiguous_format,
        )
        fine = a_img if first else stack[level - 1]
        sb = src_strides[1] if first else (0, 0, 0, 0)
        sm = src_strides[2] if first else (0, 0, 0)
        k.collapse_kernel[_grid(n, hh, ww)](
            s, g, fine, b_img, mask, out, g.shape[2], g.shape[3], hh, ww,
            *s.stride(), *g.stride(), *fine.stride(), *sb, *sm, *out.stride(), w0, w1, w2,
            C=c, FIRST=first, BH=_BLOCK_H, BW=_BLOCK_W, num_warps=_NUM_WARPS,
        )  # fmt: skip  # arguments grouped as the kernel's signature
        s = out
    return s
