"""Seamless mosaic: N layers blended with normalised weight pyramids (enblend style).

Each chosen layer counts where it is visible: its alpha times its layer mask
(and its weight in the list). Where layers overlap, either the first in the
list shows ("stack", weights composited like layers) or all share by weight
("average"). Every frequency band is mixed by the Gaussian
pyramids of those weights normalised to sum to one, so exposure or focus
stacks and panorama pieces meet without seams. Transparent parts of a layer
are first filled from their surroundings (`pyramid.fill_transparent`) so no
layer's edge prints into its neighbour. Layers of another size are resized
to the current layer's size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warpaint.engine.features.splining.effect import KERNELS
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.runtime.jobs import JobContext

SPEC = EffectSpec(
    id="mosaic",
    title="Seamless mosaic",
    category="Blend",
    description=(
        "Blend several layers without seams, each where it is visible (alpha and mask): "
        "exposure or focus stacks, panorama pieces."
    ),
    params=(
        Param(
            "layers",
            "Layers",
            ParamType.IMAGES,
            default=None,
            placed=True,
            help="Two or more layers (or image files); the weight scales each one's share.",
        ),
        Param(
            "overlap",
            "Where layers overlap",
            ParamType.CHOICE,
            default="stack",
            choices=("stack", "average"),
            help="stack: the first visible layer in the list shows (seams still blend); "
            "average: all share by weight (exposure or focus stacks)",
        ),
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
        Param("kernel_a", "Kernel parameter a", ParamType.CHOICE, default="0.375", choices=KERNELS),
    ),
    tile_halo=None,
)

# The sample's coffee layer (its feathered mask makes it visible in an
# ellipse) over the astronaut.
DEMO_PARAMS = {"layers": (("layer:Coffee (masked)", 1.0), ("layer:Astronaut", 1.0))}


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    from warpaint.engine.core.pyramid import blend, fill_transparent

    chosen = params.get("layers") or []
    if len(chosen) < 2:
        raise BadInputError("Seamless mosaic: choose at least two layers")
    h, w = image.shape[2:]
    colours, weights, coverage = [], [], []
    a = float(params.get("kernel_a", "0.375"))
    for rgba, share in chosen:
        rgba = rgba.to(image.device, torch.float32)
        if tuple(rgba.shape[2:]) != (h, w):
            rgba = F.interpolate(rgba, size=(h, w), mode="bilinear", antialias=True)
        alpha = rgba[:, 3:4].clamp(0.0, 1.0)
        colours.append(fill_transparent(rgba[:, :3], alpha, a))
        weights.append(alpha * max(0.0, float(share)))
        coverage.append(alpha)
        ctx.check()
    if params.get("overlap", "stack") == "stack":
        # Weights composited like layers: each takes what the ones before it leave.
        left = torch.ones_like(weights[0])
        for i, wt in enumerate(weights):
            wt = wt.clamp(0.0, 1.0)
            weights[i] = wt * left
            left = left * (1.0 - wt)
    levels = int(params.get("levels") or 0) or None
    out = blend(colours, weights, levels=levels, a=a, progress=ctx.report)
    alpha = torch.stack(coverage).amax(dim=0)
    return torch.cat([out.clamp(0.0, 1.0), alpha], dim=1)
