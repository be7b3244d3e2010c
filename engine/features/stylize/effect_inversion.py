"""Feature inversion, "what the network sees" (Mahendran & Vedaldi 2015).

Reconstructs an image from one layer's features of the loss network,
starting from noise, with the TV-beta regulariser: shallow layers give the
image back almost exactly, deep ones keep only what the network encodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warpaint.engine.features.stylize.network_params import network_params
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.runtime.jobs import JobContext

# The VGG-19 networks' layers, then EfficientNet-Lite0's (stem and block outputs).
LAYER_CHOICES = (
    "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
    "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1",
    "stem", *(f"block{i}" for i in range(16)),
)  # fmt: skip  # rows: VGG-19's layers, then EfficientNet-Lite0's

SPEC = EffectSpec(
    id="inversion",
    title="Feature inversion",
    category="Neural",
    description="Show what a loss network layer keeps: an image rebuilt from its features.",
    params=(
        Param("layer", "Network layer", ParamType.CHOICE, default="relu3_1", choices=LAYER_CHOICES),
        Param("iterations", "Iterations", ParamType.INTEGER, default=100, min=1, max=5000),
        Param(
            "tv_weight",
            "Smoothness (TV weight)",
            ParamType.NUMBER,
            default=0.05,
            min=0.0,
            max=10.0,
            step=0.01,
        ),
        Param("beta", "TV beta", ParamType.NUMBER, default=2.0, min=1.0, max=3.0, step=0.1),
        Param("size", "Processing size (px)", ParamType.INTEGER, default=256, min=32, max=2048),
        *network_params(),
    ),
    long=True,
)

DEMO_PARAMS: dict[str, Any] = {"iterations": 60, "size": 256}
DEMO_PARAMS_QUICK: dict[str, Any] = {"iterations": 4, "size": 64}


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    import torch

    from warpaint.engine.features.stylize.optim import invert_features
    from warpaint.engine.neural.effect_helpers import progress_reporter, resize_to, rgb
    from warpaint.engine.neural.loss_networks import feature_network
    from warpaint.engine.neural.style_losses import resize_to_side
    from warpaint.engine.runtime.errors import BadInputError

    with torch.inference_mode(False), torch.enable_grad():
        net = feature_network(params["network"], ctx.device, params.get("network_file"))
        if params["layer"] not in net.layer_names:
            raise BadInputError(
                f"layer {params['layer']!r} is not in the {net.name} network "
                f"(its layers run {net.layer_names[0]} .. {net.layer_names[-1]})"
            )
        source = rgb(image)
        side = min(int(params["size"]), max(source.shape[-2:]))
        result = invert_features(
            net,
            resize_to_side(source, side),
            params["layer"],
            evaluations=int(params["iterations"]),
            tv_weight=float(params["tv_weight"]),
            beta=float(params["beta"]),
            seed=int(params["seed"]),
            progress=progress_reporter(ctx, image),
            check=ctx.check,
        )
        result = resize_to(result, tuple(image.shape[-2:]))  # type: ignore[arg-type]
        return torch.cat([result, image[:, 3:4].float()], dim=1).detach()
