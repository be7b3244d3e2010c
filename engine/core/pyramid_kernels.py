"""Triton kernels of the two-image spline; `warpaint.engine.core.pyramid_triton`
documents them and is the only caller. Importing this module imports triton,
and triton resolves the helpers a kernel calls from this module's globals, so
they live here at the top level.
"""

# ruff: noqa: ANN001, ANN202
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def tap(w0, w1, w2, k: tl.constexpr):
    """Weight k (0..4) of w(a) = (w0, w1, w2, w1, w0)."""
    if k == 0 or k == 4:
        return w0
    elif k == 1 or k == 3:
        return w1
    else:
        return w2


@triton.jit
def reflect(i, n):
    """Index i in [-2, n + 1] reflected about samples 0 and n - 1."""
    i = tl.where(i < 0, -i, i)
    return tl.where(i > n - 1, 2 * (n - 1) - i, i)


@triton.jit
def reduce_kernel(
    src, sub, msk, out,
    H, W, OH, OW,
    s_n, s_c, s_h, s_w,
    b_n, b_c, b_h, b_w,
    m_n, m_h, m_w,
    o_n, o_c, o_h, o_w,
    w0, w1, w2,
    C: tl.constexpr, FIRST: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip  # parameters grouped: tensors, sizes, strides, taps
    # out[n, ch, i, j] = sum_{dy,dx} w[dy] w[dx] x[n, ch, 2i + dy - 2, 2j + dx - 2]
    # with x = [src - sub, msk] at the first level, x = src (C + 1 channels) after.
    n = tl.program_id(2).to(tl.int64)
    oi = tl.program_id(1) * BH + tl.arange(0, BH)[:, None]
    oj = tl.program_id(0) * BW + tl.arange(0, BW)[None, :]
    inside = (oi < OH) & (oj < OW)
    for ch in range(C + 1):
        acc = tl.zeros((BH, BW), dtype=tl.float32)
        for dy in tl.static_range(5):
            r = reflect(2 * oi + (dy - 2), H).to(tl.int64)
            r = tl.where(inside, r, 0)
            wy = tap(w0, w1, w2, dy)
            for dx in tl.static_range(5):
                q = reflect(2 * oj + (dx - 2), W).to(tl.int64)
                q = tl.where(inside, q, 0)
                if FIRST:
                    if ch < C:
                        v = tl.load(src + n * s_n + ch * s_c + r * s_h + q * s_w, mask=inside)
                        v -= tl.load(sub + n * b_n + ch * b_c + r * b_h + q * b_w, mask=inside)
                    else:
                        v = tl.load(msk + n * m_n + r * m_h + q * m_w, mask=inside)
                else:
                    v = tl.load(src + n * s_n + ch * s_c + r * s_h + q * s_w, mask=inside)
                acc += (wy * tap(w0, w1, w2, dx)) * v
        oo = n * o_n + ch * o_c + oi.to(tl.int64) * o_h + oj.to(tl.int64) * o_w
        tl.store(out + oo, acc, mask=inside)


@triton.jit
def coarse_index(p, k: tl.constexpr, h, fine):
    """Coarse sample p + k - 1 with EXPAND's reflection: -1 reads 1, h reads
    h - 2 for an odd finer size and h - 1 for an even one."""
    i = p + (k - 1)
    i = tl.where(i < 0, -i, i)
    return tl.where(i > h - 1, h - 2 + (fine % 2 == 0).to(tl.int32), i)


@triton.jit
def expand_weight(odd, k: tl.constexpr, w0, w1, w2):
    """2 x the weight of coarse sample p + k - 1 for fine 2p (odd false) or 2p + 1."""
    if k == 0:
        return tl.where(odd, 0.0, 2.0 * w0)
    elif k == 1:
        return tl.where(odd, 2.0 * w1, 2.0 * w2)
    else:
        return tl.where(odd, 2.0 * w1, 2.0 * w0)


@triton.jit
def collapse_kernel(
    s, g, fine, sub, msk, out,
    h, w, H, W,
    s_n, s_c, s_h, s_w,
    g_n, g_c, g_h, g_w,
    f_n, f_c, f_h, f_w,
    b_n, b_c, b_h, b_w,
    m_n, m_h, m_w,
    o_n, o_c, o_h, o_w,
    w0, w1, w2,
    C: tl.constexpr, FIRST: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip  # parameters grouped: tensors, sizes, strides, taps
    # out = EXPAND(s) + mask * (D_fine - EXPAND(g[:, :C])) (+ sub at the first level),
    # with s (C channels) and g (the stack, C + 1) at the coarse (h, w); D_fine and the
    # mask from `fine` (the stack) or, at the first level, fine - sub and msk.
    n = tl.program_id(2).to(tl.int64)
    i = tl.program_id(1) * BH + tl.arange(0, BH)[:, None]
    j = tl.program_id(0) * BW + tl.arange(0, BW)[None, :]
    inside = (i < H) & (j < W)
    i64 = tl.where(inside, i, 0).to(tl.int64)
    j64 = tl.where(inside, j, 0).to(tl.int64)
    if FIRST:
        m = tl.load(msk + n * m_n + i64 * m_h + j64 * m_w, mask=inside)
    else:
        m = tl.load(fine + n * f_n + C * f_c + i64 * f_h + j64 * f_w, mask=inside)
    odd_i, odd_j = (i % 2) == 1, (j % 2) == 1
    for ch in range(C):
        e_s = tl.zeros((BH, BW), dtype=tl.float32)
        e_d = tl.zeros((BH, BW), dtype=tl.float32)
        for ky in tl.static_range(3):
            r = tl.where(inside, coarse_index(i // 2, ky, h, H), 0).to(tl.int64)
            wy = expand_weight(odd_i, ky, w0, w1, w2)
            for kx in tl.static_range(3):
                q = tl.where(inside, coarse_index(j // 2, kx, w, W), 0).to(tl.int64)
                wk = wy * expand_weight(odd_j, kx, w0, w1, w2)
                e_s += wk * tl.load(s + n * s_n + ch * s_c + r * s_h + q * s_w, mask=inside)
                e_d += wk * tl.load(g + n * g_n + ch * g_c + r * g_h + q * g_w, mask=inside)
        d = tl.load(fine + n * f_n + ch * f_c + i64 * f_h + j64 * f_w, mask=inside)
        if FIRST:
            base = tl.load(sub + n * b_n + ch * b_c + i64 * b_h + j64 * b_w, mask=inside)
            v = base + e_s + m * (d - base - e_d)
        else:
            v = e_s + m * (d - e_d)
        tl.store(out + n * o_n + ch * o_c + i64 * o_h + j64 * o_w, v, mask=inside)
