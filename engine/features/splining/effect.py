"""Multiresolution spline (Burt & Adelson 1983): join two images without a seam.

The layer shows where the mask is white, the other image where it is black;
each frequency band is blended over a transition as wide as its wavelength, so
coarse differences (exposure, colour) fade out slowly while fine detail meets
without ghosting. Colours are blended premultiplied by alpha. An `other` image
or mask of another size is resized (bilinear) to the layer's size.

The core lives in `warpaint.engine.core.pyramid` (`spline`, `blend`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.runtime.jobs import JobContext

KERNELS = ("0.375", "0.4")

SPEC = EffectSpec(
    id="splining",
    title="Multiresolution spline",
    category="Blend",
    description=(
        "Seamless blend of the layer with another image along a mask "
        "(Laplacian pyramids): the layer shows where the mask is white."
    ),
    params=(
        Param("other", "Other image", ParamType.IMAGE, help="shows where the mask is black"),
        Param("mask", "Mask", ParamType.MASK, help="white where the layer shows", image_bound=True),
        Param(
            "levels",
            "Pyramid levels",
            ParamType.INTEGER,
            default=0,
            min=0,
            max=12,
            step=1,
            auto=True,
            help="0 = automatic, from the image size",
        ),
        Param(
            "kernel_a",
            "Kernel parameter a",
            ParamType.CHOICE,
            default="0.375",
            choices=KERNELS,
            help="0.375: binomial [1 4 6 4 1]/16; 0.4: closer to a Gaussian",
        ),
    ),
    # The coarsest band spans the whole image: no exact tiling.
    tile_halo=None,
)

# The demo splines the sample's coffee photo into the astronaut along the
# coffee layer's feathered elliptical mask ("layer:NAME" names a layer of the
# demo document; see `warpaint.app.demo`).
DEMO_PARAMS = {"other": "layer:Coffee (masked)", "mask": "layer:Coffee (masked)"}


def _fit(t: torch.Tensor, height: int, width: int) -> torch.Tensor:
    import torch.nn.functional as F

    if tuple(t.shape[2:]) == (height, width):
        return t
    return F.interpolate(t, size=(height, width), mode="bilinear", antialias=True)


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    from warpaint.engine.core.pyramid import spline, stream_device
    from warpaint.engine.core.tensors import premultiply, unpremultiply

    other, mask = params.get("other"), params.get("mask")
    if other is None:
        raise BadInputError("Multiresolution spline: choose the other image")
    if mask is None:
        raise BadInputError("Multiresolution spline: choose a mask")
    h, w = image.shape[2:]
    other = premultiply(_fit(other.to(image.device), h, w))
    mask = _fit(mask.to(image.device), h, w).clamp(0.0, 1.0)
    levels = int(params.get("levels") or 0) or None
    layer = premultiply(image)
    compute = None
    if stream_device(tuple(layer.shape), layer.device):
        # Too big for the GPU's free memory: pyramids in host memory, row bands on the GPU.
        ctx.message("Multiresolution spline: GPU memory is short; streaming the image in bands")
        compute = layer.device
        layer, other, mask = layer.cpu(), other.cpu(), mask.cpu()
    out = spline(
        layer,
        other,
        mask,
        levels=levels,
        a=float(params.get("kernel_a", "0.375")),
        progress=ctx.report,
        compute=compute,
    )
    return unpremultiply(out.clamp(0.0, 1.0))
