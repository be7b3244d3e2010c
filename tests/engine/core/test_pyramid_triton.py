"""The fused Triton spline kernels: the same result as the convolution path
(run by Triton's interpreter on this CPU), and they compile for a CUDA GPU."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from warpaint.engine.core import pyramid as P
from warpaint.engine.core import pyramid_triton

pytestmark = pytest.mark.skipif(not pyramid_triton.available(), reason="needs triton")


def _run(code: str) -> str:
    env = dict(os.environ, TRITON_INTERPRET="1")
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_fused_spline_equals_the_convolution_spline():
    # Odd and even sides, both kernels, a batch, RGB and RGBA, channels-last
    # and planar inputs, a broadcast (stride 0) mask, levels from 1 to auto.
    out = _run(
        """
        import torch
        from warpaint.engine.core import pyramid as P
        g = torch.Generator().manual_seed(3)
        cases = [(1, 3, 37, 50, None, 0.375, "planar"), (2, 4, 24, 33, 3, 0.4, "last"),
                 (1, 3, 9, 70, 1, 0.375, "last"), (1, 3, 31, 31, 2, 0.4, "broadcast")]
        for n, c, h, w, levels, a, layout in cases:
            x, y = (torch.rand(n, c, h, w, generator=g) for _ in "ab")
            m = torch.rand(n, 1, h, w, generator=g)
            if layout == "last":
                x, y, m = (t.contiguous(memory_format=torch.channels_last) for t in (x, y, m))
            if layout == "broadcast":
                m = torch.rand(1, 1, 1, w, generator=g).expand(n, 1, h, w)
            seen = []
            fused = P.spline(x, y, m, levels, a, progress=seen.append, backend="triton")
            convs = P.spline(x, y, m, levels, a, backend="torch")
            assert fused.shape == convs.shape == (n, c, h, w)
            assert fused.is_contiguous(memory_format=torch.channels_last)
            assert seen == sorted(seen) and 0 <= seen[0] and seen[-1] < 1
            print((fused - convs).abs().max().item())
        """
    )
    errors = [float(v) for v in out.split()]
    assert len(errors) == 4
    assert max(errors) < 1e-5


@pytest.mark.slow
def test_fused_spline_keeps_the_mask_ends_exact():
    # All ones gives A, all zeros gives B, as the convolution path does.
    out = _run(
        """
        import torch
        from warpaint.engine.core import pyramid as P
        g = torch.Generator().manual_seed(4)
        x, y = (torch.rand(1, 3, 29, 40, generator=g) for _ in "ab")
        ones = torch.ones(1, 1, 29, 40)
        print((P.spline(x, y, ones, backend="triton") - x).abs().max().item())
        print((P.spline(x, y, ones * 0, backend="triton") - y).abs().max().item())
        """
    )
    assert max(float(v) for v in out.split()) < 1e-5


@pytest.mark.slow
def test_kernels_compile_for_a_cuda_gpu():
    # Triton's interpreter runs plain Python; this compiles the real kernels
    # to sm_90 machine code (H100/H200), which needs no GPU, so constructs
    # the GPU compiler rejects fail here too.
    sizes = _compile_for_sm90(channels=3)
    assert len(sizes) == 4
    assert all(size > 1000 for size in sizes.values())


def _compile_for_sm90(channels: int) -> dict[str, int]:
    """{kernel and level kind: bytes of sm_90 machine code} for every variant."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    k = pyramid_triton._kernels()
    pointers = {"src", "sub", "msk", "out", "s", "g", "fine"}
    sizes = {}
    for fn in (k.reduce_kernel, k.collapse_kernel):
        for first in (True, False):
            constants = {
                "C": channels,
                "FIRST": first,
                "BH": pyramid_triton._BLOCK_H,
                "BW": pyramid_triton._BLOCK_W,
            }
            signature = {
                name: "constexpr"
                if name in constants
                else "*fp32"
                if name in pointers
                else "fp32"
                if name in ("w0", "w1", "w2")
                else "i32"
                for name in fn.arg_names
            }
            compiled = triton.compile(
                ASTSource(fn=fn, signature=signature, constexprs=constants),
                target=GPUTarget("cuda", 90, 32),
            )
            sizes[f"{fn.__name__}{'_first' if first else ''}"] = len(compiled.asm["cubin"])
    return sizes


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        P.spline(
            torch.zeros(1, 3, 8, 8),
            torch.zeros(1, 3, 8, 8),
            torch.zeros(1, 1, 8, 8),
            backend="opencl",
        )


def test_a_failing_fused_path_falls_back_to_convolutions_once(monkeypatch):
    # Stand-ins for what only a GPU shows: the device passes the check, then the
    # kernels fail on a size the check did not cover.
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("simulated compile failure")

    # The device's check passed (its cached verdict), as on a GPU.
    monkeypatch.setitem(P._triton_checked, ("cpu", 3), True)
    monkeypatch.setattr(P, "triton_ready", lambda d, c: P._triton_checked[(str(d), c)])
    monkeypatch.setattr(pyramid_triton, "spline", failing)
    g = torch.Generator().manual_seed(5)
    x, y = (torch.rand(1, 3, 24, 30, generator=g) for _ in "ab")
    m = torch.rand(1, 1, 24, 30, generator=g)
    with pytest.warns(UserWarning, match="using convolutions"):
        out = P.spline(x, y, m, backend="auto")
    assert torch.equal(out, P.spline(x, y, m, backend="torch"))
    P.spline(x, y, m, backend="auto")  # the verdict is now "no": no second try
    assert calls == [1]
    with pytest.raises(RuntimeError, match="simulated"):
        P.spline(x, y, m, backend="triton")
