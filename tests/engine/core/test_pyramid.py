"""Laplacian-pyramid core: REDUCE/EXPAND against hand-computed kernels,
pyramid shapes, exact reconstruction, splining and its seam quality."""

import numpy as np
import pytest
import torch

from warpaint.engine.core import pyramid as P

A_VALUES = (0.375, 0.4)


def c_of(a):
    return 0.25 - a / 2


def impulse(h, w, y, x):
    t = torch.zeros(1, 1, h, w)
    t[0, 0, y, x] = 1.0
    return t


# 1-D responses worked by hand from the definitions in pyramid.py (reflect
# about the edge sample: x[-1] = x[1], x[-2] = x[2]; c = 1/4 - a/2).
def reduce_response(n, p, a):
    c = c_of(a)
    table = {
        (7, 0): [a, c, 0, 0],  # edge: itself (a) and, from k=1, w(-2)
        (7, 1): [0.5, 0.25, 0, 0],  # k=0 sees it at m=+1 and (reflected) m=-1
        (7, 3): [0, 0.25, 0.25, 0],
        (7, 6): [0, 0, c, a],  # odd length: last sample is kept
        (6, 5): [0, 0, 0.25],  # even length: last sample is dropped
        (6, 4): [0, c, a + c],  # k=2 sees x[4] at m=0 and reflected x[6] = x[4]
    }
    return np.array(table[(n, p)])


def expand_response(n_fine, k, a):
    c = c_of(a)
    table = {
        (7, 0): [2 * a, 0.5, 2 * c, 0, 0, 0, 0],
        (7, 3): [0, 0, 0, 0, 2 * c, 0.5, 2 * a],
        (6, 2): [0, 0, 2 * c, 0.5, 2 * a + 2 * c, 1.0],  # even: u[6] reflects to u[4]
        (5, 1): [4 * c, 0.5, 2 * a, 0.5, 4 * c],  # u[-2] and u[6] reflect to u[2]
    }
    return np.array(table[(n_fine, k)])


@pytest.mark.parametrize("a", A_VALUES)
@pytest.mark.parametrize(("h", "py", "w", "px"), [(7, 0, 6, 5), (7, 6, 7, 1), (6, 4, 7, 3)])
def test_reduce_impulse_response_is_the_generating_kernel(a, h, py, w, px):
    out = P.reduce(impulse(h, w, py, px), a)[0, 0].numpy()
    expected = np.outer(reduce_response(h, py, a), reduce_response(w, px, a))
    np.testing.assert_allclose(out, expected, atol=1e-7)


@pytest.mark.parametrize("a", A_VALUES)
@pytest.mark.parametrize(("h", "ky", "w", "kx"), [(7, 0, 6, 2), (6, 2, 7, 3), (5, 1, 7, 0)])
def test_expand_impulse_response_is_the_generating_kernel(a, h, ky, w, kx):
    coarse = impulse((h + 1) // 2, (w + 1) // 2, ky, kx)
    out = P.expand(coarse, (h, w), a)[0, 0].numpy()
    expected = np.outer(expand_response(h, ky, a), expand_response(w, kx, a))
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_binomial_kernel_at_a_0375():
    assert np.allclose(P.kernel_1d(0.375), np.array([1, 4, 6, 4, 1]) / 16)


@pytest.mark.parametrize("a", A_VALUES)
def test_gaussian_pyramid_of_a_constant_stays_constant(a):
    levels = P.gaussian_pyramid(torch.full((1, 4, 45, 38), 0.3), 4, a)
    for g in levels:
        assert torch.allclose(g, torch.full_like(g, 0.3), atol=1e-6)
    e = P.expand(levels[-1], tuple(levels[-2].shape[2:]), a)
    assert torch.allclose(e, torch.full_like(e, 0.3), atol=1e-6)


def test_level_shapes_of_odd_sizes_round_up():
    shapes = [tuple(g.shape[2:]) for g in P.laplacian_pyramid(torch.rand(1, 1, 37, 45), 4)]
    assert shapes == [(37, 45), (19, 23), (10, 12), (5, 6), (3, 3)]
    assert P.level_shapes(37, 45, 4) == shapes


def test_levels_are_capped_by_size_and_auto_grows_with_it():
    assert P.max_levels(37, 45) == 4  # 3x3 is the smallest level that can exist
    assert len(P.gaussian_pyramid(torch.rand(1, 1, 37, 45), 9)) == 5
    assert P.auto_levels(4096, 4096) > P.auto_levels(512, 512) >= 6


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (2, 4, 37, 50), (1, 1, 3, 5)])
def test_laplacian_pyramid_reconstructs_exactly(shape):
    x = torch.rand(shape)
    assert (P.collapse(P.laplacian_pyramid(x, 6)) - x).abs().max() < 1e-6


def images(shape=(1, 4, 41, 56), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g), torch.rand(shape, generator=g)


def test_mask_of_ones_gives_a_and_zeros_gives_b():
    a, b = images()
    ones = torch.ones(1, 1, 41, 56)
    assert (P.spline(a, b, ones, 4) - a).abs().max() < 1e-5
    assert (P.spline(a, b, ones * 0, 4) - b).abs().max() < 1e-5


def test_spline_equals_the_definition_with_two_laplacian_pyramids():
    a, b = images()
    m = (torch.rand(1, 1, 41, 56) > 0.5).float()
    la, lb, gm = P.laplacian_pyramid(a, 4), P.laplacian_pyramid(b, 4), P.gaussian_pyramid(m, 4)
    expected = P.collapse([g * p + (1 - g) * q for g, p, q in zip(gm, la, lb, strict=True)])
    assert (P.spline(a, b, m, 4, progress=lambda f: None) - expected).abs().max() < 1e-5


def test_n_way_blend_normalises_weights_and_reduces_to_the_spline():
    a, b = images()
    c = torch.rand_like(a)
    m = torch.rand(1, 1, 41, 56)
    assert (P.blend([b, a], [3 * (1 - m), 3 * m], 4) - P.spline(a, b, m, 4)).abs().max() < 1e-5
    # Three images with equal weights: the plain mean, level by level.
    w = torch.ones(1, 1, 41, 56)
    assert (P.blend([a, b, c], [w, w, w], 4) - (a + b + c) / 3).abs().max() < 1e-5


def test_prepared_spline_reblends_a_new_mask_like_a_fresh_spline():
    a, b = images()
    prepared = P.PreparedSpline(a, b, 4)
    for seed in (1, 2):
        m = torch.rand(1, 1, 41, 56, generator=torch.Generator().manual_seed(seed))
        assert (prepared.blend(m) - P.spline(a, b, m, 4)).abs().max() < 1e-5


def test_bad_shapes_are_refused():
    a, b = images()
    with pytest.raises(ValueError, match="mask"):
        P.spline(a, b, torch.ones(1, 1, 40, 56))
    with pytest.raises(ValueError, match="EXPAND"):
        P.expand(torch.rand(1, 1, 5, 5), (12, 9))


# -- seam quality -------------------------------------------------------------


def _blur(x, sigma):
    from warpaint.engine.features.blur.effect import gaussian_blur

    return gaussian_blur(x, sigma)


def _textures(h=192, w=384):
    g = torch.Generator().manual_seed(7)
    fine = [_blur(torch.rand(1, 1, h, w, generator=g), 0.8) for _ in range(2)]
    a = 0.70 + 1.5 * (fine[0] - fine[0].mean())
    b = 0.30 + 1.5 * (fine[1] - fine[1].mean())
    return a.expand(1, 3, h, w).contiguous(), b.expand(1, 3, h, w).contiguous()


def _seam_scores(result, a, b):
    """(a) largest step of the heavily blurred luminance across the seam;
    (b) mean correlation of the fine detail within 4..24 px of the seam with
    the image that should show there (1 = no ghost)."""
    w = result.shape[3]
    luma = result.mean(dim=1, keepdim=True)
    low = _blur(luma, 12.0)[0, 0, 40:-40]
    step = (low[:, 1:] - low[:, :-1]).abs().max().item()

    def detail(x):
        y = x.mean(dim=1, keepdim=True)
        return (y - _blur(y, 2.0))[0, 0, 8:-8]

    dr, da, db = detail(result), detail(a), detail(b)
    left, right = slice(w // 2 - 24, w // 2 - 4), slice(w // 2 + 4, w // 2 + 24)

    def corr(p, q):
        p, q = p.flatten() - p.mean(), q.flatten() - q.mean()
        return float((p @ q) / (p.norm() * q.norm()))

    ghost = (corr(dr[:, left], da[:, left]) + corr(dr[:, right], db[:, right])) / 2
    return step, ghost


def _feathered(a, b, width):
    w = a.shape[3]
    x = torch.arange(w, dtype=torch.float32) + 0.5
    m = ((w / 2 - x) / width + 0.5).clamp(0, 1).view(1, 1, 1, w)
    return m * a + (1 - m) * b


def test_spline_beats_every_feather_on_seam_step_or_ghosting():
    a, b = _textures()
    h, w = a.shape[2:]
    mask = (torch.arange(w) < w // 2).float().expand(1, 1, h, w).contiguous()
    step, ghost = _seam_scores(P.spline(a, b, mask), a, b)
    feathers = {
        width: _seam_scores(_feathered(a, b, width), a, b)
        for width in (4, 8, 16, 32, 64, 96, 128, 160)
    }
    assert step < 0.4 * feathers[4][0]  # narrow feathering leaves a visible step
    assert ghost > feathers[160][1] + 0.15  # wide feathering ghosts the other image
    for width, (f_step, f_ghost) in feathers.items():
        assert f_step > step or f_ghost < ghost, f"{width} px feather beats the spline"


def test_banded_reduce_equals_reduce_for_odd_and_even_sizes(monkeypatch):
    from warpaint.engine.core import pyramid

    monkeypatch.setattr(pyramid, "_band_rows", lambda *_: 6)  # 3 output rows a band
    for h, w in ((17, 12), (16, 9), (5, 5)):
        x = torch.rand(1, 3, h, w)
        banded = pyramid._reduce_banded(x, 0.4, torch.device("cpu"))
        assert torch.allclose(banded, pyramid.reduce(x, 0.4), atol=1e-6)


def test_streamed_spline_equals_the_in_memory_one(monkeypatch):
    from warpaint.engine.core import pyramid

    monkeypatch.setattr(pyramid, "_band_rows", lambda *_: 16)
    a, b = torch.rand(1, 4, 75, 66), torch.rand(1, 4, 75, 66)
    mask = (torch.arange(66) < 30).float().expand(1, 1, 75, 66).contiguous()
    whole = pyramid.spline(a, b, mask, levels=4)
    streamed = pyramid.spline(a, b, mask, levels=4, compute="cpu")
    assert torch.allclose(streamed, whole, atol=1e-5)


def _pooled_everywhere(monkeypatch, task_bytes=4096):
    """Every level on the pool, in bands of a few rows."""
    monkeypatch.setattr(P, "_POOL_MIN_SAMPLES", 0)
    monkeypatch.setattr(P, "_TASK_BYTES", task_bytes)


@pytest.mark.parametrize(
    ("shape", "levels"),
    [
        ((1, 3, 64, 64), 4),
        ((1, 3, 75, 66), None),
        ((2, 4, 41, 97), 3),
        ((1, 3, 33, 9), 2),
        ((1, 1, 130, 131), 0),
        ((1, 3, 257, 190), None),
    ],
)
def test_a_spline_on_the_task_pool_equals_the_plain_one(monkeypatch, shape, levels):
    from warpaint.engine.core.task_pool import TaskPool
    from warpaint.engine.runtime.cpu_threads import pool_width

    _pooled_everywhere(monkeypatch)
    tasks = []
    run = TaskPool.run
    monkeypatch.setattr(
        TaskPool, "run", lambda pool, batch, *a: (tasks.append(len(batch)), run(pool, batch, *a))[1]
    )
    gen = torch.Generator().manual_seed(sum(shape))
    a, b = torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)
    mask = torch.rand((shape[0], 1, *shape[2:]), generator=gen)
    with pool_width(1):
        plain = P.spline(a, b, mask, levels)
    assert tasks == []
    with pool_width(3):
        pooled = P.spline(a, b, mask, levels)
    assert max(tasks) > 3, "levels cut into several bands"
    assert pooled.shape == plain.shape
    assert (pooled - plain).abs().max() <= 1e-5


def test_a_spline_on_the_task_pool_is_cancelled_by_its_progress(monkeypatch):
    import threading

    from warpaint.engine.runtime.cpu_threads import pool_width

    _pooled_everywhere(monkeypatch)
    a, b = torch.rand(1, 3, 200, 180), torch.rand(1, 3, 200, 180)
    mask = torch.rand(1, 1, 200, 180)
    seen = []

    def progress(fraction):
        seen.append(fraction)
        if fraction > 0.5:
            raise InterruptedError("cancelled")

    with pool_width(2), pytest.raises(InterruptedError):
        P.spline(a, b, mask, 5, progress=progress)
    assert all(0 <= f <= 1 for f in seen) and seen == sorted(seen)
    assert not [t for t in threading.enumerate() if t.name.startswith("task-pool-")]


def test_small_images_and_one_thread_callers_stay_off_the_task_pool(monkeypatch):
    from warpaint.engine.core.task_pool import TaskPool
    from warpaint.engine.runtime.cpu_threads import torch_threads

    entered = []
    monkeypatch.setattr(TaskPool, "__enter__", lambda pool: entered.append(pool))
    a, b, mask = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    P.spline(a, b, mask, 3)
    big = torch.rand(1, 3, 300, 300)
    with torch_threads(1):
        P.spline(big, big, torch.rand(1, 1, 300, 300), 3)
    assert entered == []
