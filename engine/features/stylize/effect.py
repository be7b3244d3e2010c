"""Neural style transfer by optimisation (Gatys, Ecker, Bethge 2016).

The layer's pixels are optimised so that a loss network's Gram matrices
match the style image(s) while a deeper layer's features keep the content.
Each network runs its own recipe (`recipes.recipe_for`): by default
EfficientNet-Lite0 with ImageNet weights; without its packages the effect
falls back to the slim random VGG-19 and says so. Half of the photo's
broad light and shade is put back under the result by default
(`shading.restore_shading`). Runs
coarse to fine (see `warpaint.engine.features.stylize.optim`), previews on the canvas while it
works, and is cancellable between network layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warpaint.engine.features.stylize.network_params import network_params
from warpaint.engine.features.stylize.recipes import (
    DEFAULT_RECIPE,
    FALLBACK_NETWORK,
    SLIM_VGG_48,
    SOFTMAX_CHOICES,
)
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.runtime.jobs import JobContext

OPTIMIZER_CHOICES = ("lbfgs", "adam", "sgd-momentum", "nesterov", "adagrad", "rmsprop", "adadelta")
# Style weight at strength 1 of the networks without a tuned recipe (the
# random VGG-19s): tuned on the stylize benchmark (docs/stylization.md).
BASE_STYLE_WEIGHT = SLIM_VGG_48.style_weight

SPEC = EffectSpec(
    id="stylize",
    title="Stylize",
    category="Neural",
    description="Repaint the layer in the style of one or more images (Gatys optimisation).",
    params=(
        Param(
            "style",
            "Style image(s)",
            ParamType.IMAGES,
            default=None,
            help="A layer or image file; several mix by weight.",
        ),
        Param(
            "strength", "Style strength", ParamType.NUMBER, default=1.0, min=0.0, max=10.0, step=0.1
        ),
        Param(
            "content_weight",
            "Content weight",
            ParamType.NUMBER,
            default=1.0,
            min=0.0,
            max=10.0,
            step=0.1,
        ),
        Param(
            "size",
            "Processing size (px)",
            ParamType.INTEGER,
            default=512,
            min=16,
            max=4096,
            step=32,
            help="Long side the optimisation runs at; the result fits the layer.",
        ),
        Param(
            "iterations",
            "Iterations",
            ParamType.INTEGER,
            default=DEFAULT_RECIPE.iterations,
            min=1,
            max=2000,
            help="Loss evaluations at the processing size (coarser scales add cheap ones).",
        ),
        Param(
            "optimizer", "Optimizer", ParamType.CHOICE, default="lbfgs", choices=OPTIMIZER_CHOICES
        ),
        Param(
            "init", "Start from", ParamType.CHOICE, default="content", choices=("content", "noise")
        ),
        Param(
            "preserve_colours",
            "Preserve colours",
            ParamType.CHOICE,
            default="off",
            choices=("off", "luminance", "histogram"),
        ),
        Param(
            "style_scale",
            "Style scale",
            ParamType.NUMBER,
            default=1.0,
            min=0.25,
            max=4.0,
            step=0.05,
            help="Size of the style's patterns relative to the processing size.",
        ),
        Param(
            "scales",
            "Scales (coarse to fine)",
            ParamType.INTEGER,
            default=DEFAULT_RECIPE.scales,
            min=1,
            max=5,
        ),
        Param(
            "shading",
            "Photo's light and shade",
            ParamType.NUMBER,
            default=DEFAULT_RECIPE.shading,
            min=0.0,
            max=1.0,
            step=0.05,
            help="How much of the photo's broad light and shade the result takes back "
            "(0: the optimisation's own; 1: all of it), under the style's marks and colours.",
        ),
        Param(
            "softmax",
            "Style statistics",
            ParamType.CHOICE,
            default="network",
            choices=SOFTMAX_CHOICES,
            help="Gram matrices of the features ('off') or of their softmax over "
            "channels or positions (SWAG); 'network': the loss network's tuned choice.",
        ),
        *network_params(default=DEFAULT_RECIPE.network),
        Param(
            "mask",
            "Mask",
            ParamType.MASK,
            default=None,
            image_bound=True,
            help="Stylize only where the mask is set.",
        ),
    ),
    long=True,
)


def _demo_style() -> tuple[tuple[Any, float], ...]:
    import numpy as np

    from warpaint.engine.neural.style_samples import mosaic

    rgb = mosaic(256)
    return ((np.concatenate([rgb, np.ones_like(rgb[..., :1])], axis=2), 1.0),)


DEMO_PARAMS: dict[str, Any] = {"style": _demo_style, "size": 256}
DEMO_PARAMS_QUICK: dict[str, Any] = {"size": 64, "iterations": 4, "scales": 1}


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    import torch

    from warpaint.engine.features.stylize.optim import stylize_image
    from warpaint.engine.features.stylize.recipes import efficientnet_missing, recipe_for
    from warpaint.engine.neural.effect_helpers import progress_reporter, resize_to, rgb
    from warpaint.engine.runtime.errors import BadInputError

    styles = params.get("style")
    if not styles:
        raise BadInputError("Stylize needs a style image (a layer or an image file)")
    network = params["network"]
    missing = efficientnet_missing() if network == "efficientnet-lite0" else None
    if missing and not params.get("network_file"):
        ctx.message(f"{missing}; stylized with the {FALLBACK_NETWORK} network instead")
        network = FALLBACK_NETWORK
    recipe = recipe_for(network, params.get("softmax", "network"))
    with torch.inference_mode(False), torch.enable_grad():
        net = recipe.loss_network(ctx.device, params.get("network_file"))
        content = rgb(image)
        style_list = [(rgb(s), float(w)) for s, w in styles]
        if sum(w for _, w in style_list) <= 0:
            raise BadInputError("Stylize: the style weights must add up to more than zero")
        side = min(int(params["size"]), max(content.shape[-2:]))
        result = stylize_image(
            net,
            content,
            style_list,
            side=side,
            evaluations=int(params["iterations"]),
            style_weight=recipe.style_weight * float(params["strength"]),
            content_weight=float(params["content_weight"]),
            optimizer=params["optimizer"],
            init=params["init"],
            scales=int(params["scales"]),
            seed=int(params["seed"]),
            preserve_colours=params["preserve_colours"],
            style_scale=float(params["style_scale"]),
            progress=progress_reporter(ctx, image),
            check=ctx.check,
            style_transform=recipe.transform,
            shading=float(params["shading"]),
            shading_scale=recipe.shading_scale,
        )
        result = resize_to(result, tuple(image.shape[-2:]))  # type: ignore[arg-type]
        mask = params.get("mask")
        if mask is not None:
            m = resize_to(mask[:, :1].float(), tuple(image.shape[-2:])).clamp(0, 1)  # type: ignore[arg-type]
            result = content * (1 - m) + result * m
        return torch.cat([result, image[:, 3:4].float()], dim=1).detach()
