"""Texture synthesis (Gatys, Ecker, Bethge 2015): a new image of any size
whose loss-network Gram matrices match the sample's, grown from noise.

With `tileable`, the network pads circularly, so the texture's left edge
continues its right edge and its top its bottom: it tiles without seams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warpaint.engine.features.stylize.network_params import network_params
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.runtime.jobs import JobContext

SPEC = EffectSpec(
    id="texture",
    title="Texture synthesis",
    category="Neural",
    description="Synthesise a texture like the layer (or a sample image) at any size.",
    params=(
        Param(
            "width", "Width (px)", ParamType.INTEGER, default=512, min=16, max=8192, spatial=True
        ),
        Param(
            "height", "Height (px)", ParamType.INTEGER, default=512, min=16, max=8192, spatial=True
        ),
        Param(
            "sample",
            "Sample",
            ParamType.IMAGE,
            default=None,
            help="The texture sample; default the layer itself.",
        ),
        Param("tileable", "Tileable", ParamType.BOOL, default=False),
        Param(
            "iterations",
            "Iterations",
            ParamType.INTEGER,
            default=30,
            min=1,
            max=2000,
            help="Loss evaluations at full size (coarser scales add cheap ones).",
        ),
        Param(
            "sample_size",
            "Sample size (px)",
            ParamType.INTEGER,
            default=256,
            min=16,
            max=4096,
            help="Long side the sample is read at: smaller makes bigger patterns.",
        ),
        Param("scales", "Scales (coarse to fine)", ParamType.INTEGER, default=3, min=1, max=5),
        *network_params(),
    ),
    long=True,
)

DEMO_PARAMS: dict[str, Any] = {"width": 384, "height": 384, "sample_size": 192}
DEMO_PARAMS_QUICK: dict[str, Any] = {
    "width": 192,
    "height": 192,
    "iterations": 3,
    "scales": 1,
    "sample_size": 64,
}


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    import torch

    from warpaint.engine.features.stylize.optim import synthesize_texture
    from warpaint.engine.neural.effect_helpers import progress_reporter, rgb, with_alpha
    from warpaint.engine.neural.loss_networks import feature_network

    sample = params.get("sample")
    with torch.inference_mode(False), torch.enable_grad():
        net = feature_network(params["network"], ctx.device, params.get("network_file"))
        source = rgb(sample if sample is not None else image)
        size = (max(8, round(params["height"])), max(8, round(params["width"])))
        sample_side = max(16, round(int(params["sample_size"]) * ctx.scale))
        result = synthesize_texture(
            net,
            source,
            size,
            evaluations=int(params["iterations"]),
            tileable=bool(params["tileable"]),
            scales=int(params["scales"]),
            seed=int(params["seed"]),
            sample_side=sample_side,
            progress=progress_reporter(ctx),
            check=ctx.check,
        )
        return with_alpha(result, None).detach()
