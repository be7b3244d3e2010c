"""The feed-forward style generator of the fast style effect.

`StyleGenerator` is one network for N styles (conditional instance norm,
Dumoulin et al. 2017): every norm layer holds one scale/shift row per style,
and a style-mix vector w (N,) picks gamma = w @ scales, beta = w @ shifts, so
mixing styles is a slider. Most work happens at reduced resolution: the
image is folded into channels (pixel unshuffle) to 1/2, a strided conv takes
it to 1/4, where the residual blocks run with few channels; bilinear
upsampling and 3x3 convs bring it back, and a small full-resolution head sees
the input again (a skip) so edges stay sharp.

It takes (N, 3, H, W) RGB in [0, 1] and return (N, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from warpaint.engine.neural import banded
from warpaint.engine.neural.feedforward import instance_stats, relu

EPS = 1e-5
# Noise inputs a generator keeps (see `StyleGenerator.forward`).
NOISE_MEMO = 4
_NOISE_LOCK = threading.Lock()
# From this many pixels inference runs in row bands on torch's thread count of
# single-threaded workers even on a quiet machine: on the 2-core CPU, quiet,
# alternating in one process, 1920x1080 took 0.555 s against 0.669 s on
# torch's two threads and 3840x2160 2.99 s against 3.32 s; 960x540 was
# alike (0.109 s) and 512x512 slower (0.079 s against 0.061 s).
QUIET_BANDS = 1_500_000


# Not compiled (Inductor writes the hash's 32-bit constants as int32 literals,
# which Triton rejects): a compiled generator calls these eagerly.
@torch.compiler.disable
def coordinate_noise(
    height: int, width: int, top: int, left: int, channels: int, device: torch.device | str
) -> torch.Tensor:
    """(1, channels, height, width) uniform noise in [0, 1) that depends only on
    the absolute pixel coordinates (top + i, left + j): an integer hash, so it
    is identical on every device and for every tiling of the same image."""
    ys = torch.arange(top, top + height, device=device, dtype=torch.int64)[:, None]
    xs = torch.arange(left, left + width, device=device, dtype=torch.int64)[None, :]
    mask = 0xFFFFFFFF
    planes = []
    for c in range(channels):
        # Products wrap in int64; only their low 32 bits are kept, which is exact.
        v = (ys * 0x9E3779B1 + xs * 0x85EBCA77 + c * 0xC2B2AE3D) & mask
        v = ((v ^ (v >> 15)) * 0x2C1B3C6D) & mask
        v = ((v ^ (v >> 12)) * 0x297A2D39) & mask
        v = v ^ (v >> 15)
        planes.append((v & 0xFFFFFF).float() / float(1 << 24))
    return torch.stack(planes)[None]


@torch.compiler.disable
def lattice_noise(
    height: int,
    width: int,
    top: int,
    left: int,
    channels: int,
    cell: int,
    stride: int,
    device: torch.device | str,
) -> torch.Tensor:
    """(1, channels, height, width) smooth noise in [0, 1) sampled every `stride`
    px from the pixel (top, left): values hashed at the corners of a `cell`-px
    lattice in absolute coordinates (`coordinate_noise` on the lattice),
    blended with smoothstep weights. Blobs about a cell wide, identical for
    every tiling whose origins sit on the stride grid."""
    axes = []
    for n, start in ((height, top), (width, left)):
        # The centre of each sampled stride x stride block, in integer pixels;
        # the lattice range from Python ints (no device sync, so CUDA graphs can
        # record it).
        centre = start + stride // 2
        first, last = centre // cell, (centre + stride * (n - 1)) // cell
        p = centre + stride * torch.arange(n, device=device, dtype=torch.int64)
        k = torch.div(p, cell, rounding_mode="floor")
        t = (p - k * cell).float() / cell
        axes.append((k - first, t * t * (3 - 2 * t), first, last - first + 2))
    (iy, wy, ky0, ny), (ix, wx, kx0, nx) = axes
    # Lattice values, salted so they are not the pixel noise at those coordinates.
    lat = coordinate_noise(ny, nx, ky0 + (1 << 30), kx0, channels, device)[0]
    iy, ix, wy, wx = iy[:, None], ix[None, :], wy[:, None], wx[None, :]
    top_row = lat[:, iy, ix] * (1 - wx) + lat[:, iy, ix + 1] * wx
    bottom_row = lat[:, iy + 1, ix] * (1 - wx) + lat[:, iy + 1, ix + 1] * wx
    return (top_row * (1 - wy) + bottom_row * wy)[None]


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose affine scale/shift is a mix of per-style rows.

    `style` is a (N_styles,) or (B, N_styles) weight vector set by the owner
    before the forward pass (see `StyleGenerator.forward`). `normalise` is
    split out so `warpaint.engine.neural.feedforward` can run it with statistics
    frozen for a whole image.
    """

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.eps = EPS
        self.scale = nn.Parameter(torch.ones(styles, channels))
        self.shift = nn.Parameter(torch.zeros(styles, channels))
        self.style: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = instance_stats(x)
        return self.normalise(x, mean, var)

    def normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) with per-(B, C) `mean`/`var` (B|1, C, 1, 1) -> normalised, styled."""
        if self.style is None:
            raise RuntimeError("set the style mix before running the generator")
        w = self.style if self.style.ndim == 2 else self.style[None]
        gamma = (w @ self.scale)[:, :, None, None]
        beta = (w @ self.shift)[:, :, None, None]
        # One fused multiply-add over the big tensor: fold the statistics into it.
        a = gamma * torch.rsqrt(var + self.eps)
        b = beta - a * mean
        return banded.map_rows(lambda rows, out=None: torch.addcmul(b, rows, a, out=out), x)


class NoiseInputs(NamedTuple):
    """A `StyleGenerator`'s noise inputs for one input size and origin(s).

    They depend only on the size and where the image sits, so a caller running
    one size many times (the CUDA runner) computes them once and passes them in:
    the hashes then leave the replayed graph, and a compiled network has no
    graph break at them.
    """

    pixel: torch.Tensor | None  # (B, config.noise, H', W'), H', W' the padded size
    coarse: torch.Tensor | None  # (B, config.coarse_noise, H' / 4, W' / 4)


@dataclass(frozen=True)
class GeneratorConfig:
    """Channel widths of `StyleGenerator` (stored in model files)."""

    styles: int
    half: int = 16  # channels at 1/2 resolution
    quarter: int = 32  # channels of the residual blocks at 1/4 resolution
    blocks: int = 5
    head: int = 8  # channels at full resolution before the last conv
    # Extra input channels of deterministic noise tied to absolute pixel
    # coordinates (Texture Networks feed noise so flat areas can get texture;
    # tying it to coordinates keeps tiles and whole-image runs identical).
    noise: int = 0
    # The noise channels also reach the full-resolution head, so texture finer
    # than the 1/2-size features (single dots, speckle) can be drawn there.
    noise_head: bool = False
    # Dilate the residual blocks' convolutions 1, 2, 4, 2, 1, ... (same cost,
    # about twice the receptive field: room for marks as big as mosaic cells).
    dilated: bool = False
    # Channels of smooth noise (blobs about `coarse_cell` px wide, tied to
    # absolute coordinates like `noise`) added to the 1/4-size features: seeds
    # for marks bigger than the first layers see (mosaic cells, facets).
    coarse_noise: int = 0
    coarse_cell: int = 32

    def dilations(self) -> list[int]:
        pattern = (1, 2, 4, 2) if self.dilated else (1,)
        return [pattern[i % len(pattern)] for i in range(self.blocks)]

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class _Residual(nn.Module):
    def __init__(self, channels: int, styles: int, dilation: int = 1) -> None:
        super().__init__()
        d = dilation
        self.conv1 = banded.Conv2d(
            channels, channels, 3, padding=d, dilation=d, padding_mode="reflect"
        )
        self.norm1 = ConditionalInstanceNorm(channels, styles)
        self.conv2 = banded.Conv2d(
            channels, channels, 3, padding=d, dilation=d, padding_mode="reflect"
        )
        self.norm2 = ConditionalInstanceNorm(channels, styles)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = relu(self.norm1(self.conv1(x)))
        return x + self.norm2(self.conv2(y))


class StyleGenerator(nn.Module):
    """The light conditional-instance-norm generator (see the module docstring).

    forward(x (B, 3, H, W), style (N_styles,) or (B, N_styles)) -> (B, 3, H, W).
    H and W need not be multiples of 4: the input is padded by reflection and
    the result cropped.
    """

    STRIDE = 4

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        # 1/2: the 2x2 pixels folded into 12 channels, then a 3x3 conv.
        self.down1 = banded.Conv2d(4 * (3 + c.noise), c.half, 3, padding=1, padding_mode="reflect")
        self.norm_d1 = ConditionalInstanceNorm(c.half, c.styles)
        self.down2 = banded.Conv2d(
            c.half, c.quarter, 3, stride=2, padding=1, padding_mode="reflect"
        )
        self.norm_d2 = ConditionalInstanceNorm(c.quarter, c.styles)
        self.coarse = banded.Conv2d(c.coarse_noise, c.quarter, 1) if c.coarse_noise else None
        self.blocks = nn.ModuleList(_Residual(c.quarter, c.styles, d) for d in c.dilations())
        # Reflection padding needs the 1/4-size map wider than the largest dilation.
        self.min_side = self.STRIDE * (max(c.dilations(), default=1) + 1)
        # The last few noise inputs `forward` computed, by size, origin, device
        # and type: a slider re-running one image reuses them (at 1080p the
        # hashes cost 40 ms of one thread). A few, because a tiled run also
        # probes its memory use on a small image first.
        self._noise_memo: dict[tuple[object, ...], NoiseInputs] = {}
        # Back up: a 1x1 conv narrows the channels at the coarse size, bilinear
        # x2, then a 3x3 conv; unlike pixel shuffle or transposed convs this
        # leaves no periodic (stride-sized) pattern in the result.
        self.narrow1 = banded.Conv2d(c.quarter, c.half, 1)
        self.up1 = banded.Conv2d(c.half, c.half, 3, padding=1, padding_mode="reflect")
        self.norm_u1 = ConditionalInstanceNorm(c.half, c.styles)
        self.narrow2 = banded.Conv2d(c.half, c.head, 1)
        self.up2 = banded.Conv2d(c.head, c.head, 3, padding=1, padding_mode="reflect")
        self.norm_u2 = ConditionalInstanceNorm(c.head, c.styles)
        # Full resolution: the upsampled features plus the input itself.
        extra = c.noise if c.noise_head else 0
        self.out = banded.Conv2d(c.head + 3 + extra, 3, 3, padding=1, padding_mode="reflect")

    def receptive_radius(self) -> int:
        """An upper bound (px) on how far an output pixel sees: 3 (the folded
        2x2 pixels and the first conv) + 2 (the strided conv) + 4 * dilation per
        residual-block conv + 4 + 2 + 2 + 1 + 1 (the way back up). 55 for the
        undilated net, 95 dilated (a gradient reaches 52 and 92 px, with the
        norm statistics frozen as in tiles)."""
        return 3 + 2 + sum(2 * 4 * d for d in self.config.dilations()) + 4 + 2 + 2 + 1 + 1

    @property
    def reads_origin(self) -> bool:
        """Whether the result depends on where the image sits (its noise inputs)."""
        return bool(self.config.noise or self.config.coarse_noise)

    def norms(self) -> list[ConditionalInstanceNorm]:
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm)]

    def set_style(self, style: torch.Tensor) -> None:
        """Set the style mix (N_styles,) or (B, N_styles) on every norm layer."""
        if style.shape[-1] != self.config.styles or style.ndim not in (1, 2):
            raise ValueError(
                f"style mix must be ({self.config.styles},) or (B, {self.config.styles}),"
                f" got {tuple(style.shape)}"
            )
        for norm in self.norms():
            norm.style = style

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The size an input of `height` x `width` is padded to: up to a
        multiple of the stride, and at least `min_side`."""
        h, w = (-(-max(n, self.min_side) // self.STRIDE) * self.STRIDE for n in (height, width))
        return h, w

    def noise_inputs(
        self,
        height: int,
        width: int,
        origins: list[tuple[int, int]],
        device: torch.device | str,
        dtype: torch.dtype = torch.float32,
    ) -> NoiseInputs:
        """The noise planes `forward` reads for a batch of `height` x `width`
        inputs sitting at `origins` ((top, left) per image), as `dtype`."""
        h, w = self.padded_size(height, width)
        c = self.config
        pixel = coarse = None
        if c.noise:
            pixel = torch.cat(
                [coordinate_noise(h, w, top, left, c.noise, device) for top, left in origins]
            ).to(dtype)
        if c.coarse_noise:
            coarse = torch.cat(
                [
                    lattice_noise(
                        h // self.STRIDE,
                        w // self.STRIDE,
                        top,
                        left,
                        c.coarse_noise,
                        c.coarse_cell,
                        self.STRIDE,
                        device,
                    )
                    for top, left in origins
                ]
            ).to(dtype)
        return NoiseInputs(pixel, coarse)

    def forward(
        self,
        x: torch.Tensor,
        style: torch.Tensor | None = None,
        origin: tuple[int, int] | list[tuple[int, int]] = (0, 0),
        noise: NoiseInputs | None = None,
    ) -> torch.Tensor:
        """origin: where `x` (or each image of the batch) sits in the whole image,
        (top, left) in pixels; only the noise inputs read it. noise: those inputs
        precomputed by `noise_inputs` for x's size and origin (then `origin` is
        not read)."""
        if style is not None:
            self.set_style(style)
        h, w = x.shape[-2:]
        hp, wp = self.padded_size(h, w)
        if (hp, wp) != (h, w):
            x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
        if noise is None:
            origins = [origin] * x.shape[0] if isinstance(origin, tuple) else origin
            # Inference only: a training step's graph must not save tensors
            # made under inference mode, and its crops move anyway.
            remember = self.reads_origin and not torch.is_grad_enabled()
            key = (h, w, tuple(origins), x.device, x.dtype)
            found = self._noise_memo.get(key) if remember else None
            if found is None:
                found = self.noise_inputs(h, w, origins, x.device, x.dtype)
                if remember:
                    with _NOISE_LOCK:  # the preview and a long job may share a generator
                        while len(self._noise_memo) >= NOISE_MEMO:
                            del self._noise_memo[next(iter(self._noise_memo))]
                        self._noise_memo[key] = found
            noise = found
        elif (noise.pixel is not None, noise.coarse is not None) != (
            bool(self.config.noise),
            self.coarse is not None,
        ):
            raise ValueError("noise inputs do not match the generator (see noise_inputs)")
        # Inference runs its layers in row bands while others use the CPU, and
        # on a quiet one from QUIET_BANDS pixels.
        with banded.pooled_inference(x, quiet_from=QUIET_BANDS):
            y = x if noise.pixel is None else banded.cat_channels([x, noise.pixel])
            y = F.pixel_unshuffle(y, 2)
            y = relu(self.norm_d1(self.down1(y)))
            y = relu(self.norm_d2(self.down2(y)))
            if self.coarse is not None and noise.coarse is not None:  # both or neither (checked)
                y = y + self.coarse(noise.coarse)
            for block in self.blocks:
                y = block(y)
            y = banded.upsample2x_bilinear(self.narrow1(y))
            y = relu(self.norm_u1(self.up1(y)))
            y = banded.upsample2x_bilinear(self.narrow2(y))
            y = relu(self.norm_u2(self.up2(y)))
            head = [y, x]
            if self.config.noise_head and noise.pixel is not None:
                head.append(noise.pixel)
            y = self.out(banded.cat_channels(head))
        # The head predicts a change of the input; a sigmoid keeps [0, 1].
        out = torch.sigmoid(y + torch.logit(x.clamp(0.02, 0.98)))
        return out[..., :h, :w]
