"""VGG-19 feature extractor (convolutional part only) with average pooling.

Two weight sources:
- `random_vgg19()`: Kaiming-normal weights drawn from
  `numpy.random.RandomState(0)`, whose stream is frozen by numpy, so the
  network is identical on every machine and version with no file to ship.
  Random-weight VGGs stylise well (He, Wang, Hopcroft 2016).
- `vgg19_from_state_dict()`: torchvision's ImageNet file
  (`vgg19-dcbb9e9d.pth`, keys `features.N.weight/bias`) if the user has it.

Average pooling replaces max pooling for both (Gatys et al.: smoother
gradients, better images).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from warpaint.engine.neural import banded, wavefront
from warpaint.engine.neural.feedforward import relu

# Output channels per conv, "P" a pooling layer (VGG-19 configuration E).
VGG19_CONFIG: tuple[int | str, ...] = (
    64, 64, "P",
    128, 128, "P",
    256, 256, 256, 256, "P",
    512, 512, 512, 512, "P",
    512, 512, 512, 512,
)  # fmt: skip  # one line per stage, P = max-pool
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_names() -> list[str]:
    names, block, index = [], 1, 1
    for item in VGG19_CONFIG:
        if item == "P":
            block, index = block + 1, 1
        else:
            names.append(f"{block}_{index}")
            index += 1
    return names


CONV_NAMES: tuple[str, ...] = tuple(_conv_names())
# Every layer a loss may use: conv outputs and their ReLUs.
LAYER_NAMES: tuple[str, ...] = tuple(name for n in CONV_NAMES for name in (f"conv{n}", f"relu{n}"))
# torchvision's `features` indices of the convolutions, in order.
TORCHVISION_CONV_INDICES: tuple[int, ...] = (
    0,
    2,
    5,
    7,
    10,
    12,
    14,
    16,
    19,
    21,
    23,
    25,
    28,
    30,
    32,
    34,
)


def requested_layers(
    x: torch.Tensor, layers: Iterable[str], names: Sequence[str], network: str
) -> tuple[set[str], int]:
    """Checks a loss network's input (N, 3, H, W) and requested layer names:
    (the names, the index in `names` of the deepest one)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) RGB, got {tuple(x.shape)}")
    wanted = set(layers)
    unknown = wanted - set(names)
    if unknown:
        raise ValueError(f"unknown {network} layers {sorted(unknown)}")
    return wanted, max(names.index(n) for n in wanted)


class VGGFeatures(nn.Module):
    """VGG-19 convolutions with average pooling, run only as deep as asked.

    `forward(x, layers)` takes (N, 3, H, W) RGB in [0, 1] and returns
    {layer name: (N, C, h, w)} for the requested names (see LAYER_NAMES).
    `width` scales every channel count (random weights only).
    """

    layer_names = LAYER_NAMES
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.pool_after: set[int] = set()
        channels = 3
        for item in VGG19_CONFIG:
            if item == "P":
                self.pool_after.add(len(self.convs) - 1)
                continue
            out = max(8, round(int(item) * width))
            self.convs.append(banded.Conv2d(channels, out, 3, padding=1))
            channels = out
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.padding_mode = "zeros"

    def conv_layers(self) -> list[nn.Conv2d]:
        return [cast(nn.Conv2d, conv) for conv in self.convs]

    def set_padding(self, mode: str) -> None:
        """'zeros' (default) or 'circular' (tileable textures)."""
        self.padding_mode = mode

    def forward(
        self,
        x: torch.Tensor,
        layers: Iterable[str],
        check: Callable[[], None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """`check` (e.g. a job's cancellation check) is called between layers,
        in the forward pass and, through gradient hooks, in the backward pass,
        so a cancel acts within one layer's work even on a slow CPU."""
        wanted, deepest = requested_layers(x, layers, LAYER_NAMES, "VGG-19")
        deepest //= 2
        last = f"relu{CONV_NAMES[deepest]}"
        if check is None and wanted == {last} and self._as_wavefront(x):
            return {last: self._wavefront(x, deepest)}
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        for i, conv in enumerate(self.conv_layers()[: deepest + 1]):
            name = CONV_NAMES[i]
            if check is not None:
                check()
                if h.requires_grad:
                    h.register_hook(_checking_hook(check))
            if self.padding_mode == "circular":
                h = F.conv2d(F.pad(h, (1, 1, 1, 1), mode="circular"), conv.weight, conv.bias)
            else:
                h = conv(h)
            if f"conv{name}" in wanted:
                out[f"conv{name}"] = h
            # The conv output, when it is returned, must not be overwritten.
            h = F.relu(h) if f"conv{name}" in wanted else relu(h)
            if f"relu{name}" in wanted:
                out[f"relu{name}"] = h
            if i in self.pool_after and i < deepest:
                h = F.avg_pool2d(h, 2, ceil_mode=True)
        return out

    def _as_wavefront(self, x: torch.Tensor) -> bool:
        """Whether a forward pass to one ReLU output runs as a row wavefront:
        inference on the CPU while a `banded.pooled` pool runs."""
        return (
            wavefront.runs()
            and x.device.type == "cpu"
            and not torch.is_grad_enabled()
            and self.padding_mode == "zeros"
        )

    def _wavefront(self, x: torch.Tensor, deepest: int) -> torch.Tensor:
        """relu of conv `deepest` for (N, 3, H, W) `x`, as `wavefront.RowChain`:
        the same layers as `forward`, no wait at each layer's end."""
        convs = self.conv_layers()[: deepest + 1]
        first = convs[0].weight
        layout = torch.channels_last if banded.is_channels_last(first) else None

        def normalise(rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
            return torch.div(torch.sub(rows, self.mean, out=out), self.std, out=out)

        chain = wavefront.RowChain(x).map(normalise, memory_format=layout)
        for i, conv in enumerate(convs):
            chain.conv(conv.weight, conv.bias, 1, relu=True)
            if i in self.pool_after and i < deepest:
                chain.avg_pool2()
        return chain.run()


def _checking_hook(check: Callable[[], None]) -> Callable[[torch.Tensor], None]:
    def hook(grad: torch.Tensor) -> None:
        check()

    return hook


def random_vgg19(width: float = 1.0, deepest: str | None = None) -> VGGFeatures:
    """VGG-19 with weights from `numpy.random.RandomState(0)`, float32, CPU.

    Conv by conv in network order: weights ~ N(0, 2 / fan_in) (Kaiming, ReLU
    gain) drawn as `standard_normal((out, in, 3, 3))`, biases zero. With
    `deepest` (a conv or relu name) later convs are left out: the draws stop
    there, so shallower layers are the same as in the full network.
    """
    net = VGGFeatures(width)
    stop = len(net.convs) if deepest is None else CONV_NAMES.index(deepest[4:]) + 1
    rng = np.random.RandomState(0)
    with torch.no_grad():
        for conv in net.conv_layers()[:stop]:
            out_c, in_c = conv.weight.shape[:2]
            w = rng.standard_normal((out_c, in_c, 3, 3)) * np.sqrt(2.0 / (in_c * 9))
            conv.weight.copy_(torch.from_numpy(w.astype(np.float32)))
            if conv.bias is not None:
                conv.bias.zero_()
        del net.convs[stop:]
    net.pool_after = {i for i in net.pool_after if i < stop}
    return net.eval().requires_grad_(False)


def vgg19_from_state_dict(state: Mapping[str, torch.Tensor]) -> VGGFeatures:
    """VGG-19 features from a torchvision-format state dict (`features.N.*`).

    Classifier keys are ignored; a missing or misshapen conv is a ValueError.
    """
    net = VGGFeatures()
    with torch.no_grad():
        for conv, index in zip(net.convs, TORCHVISION_CONV_INDICES, strict=True):
            for part in ("weight", "bias"):
                key = f"features.{index}.{part}"
                if key not in state:
                    raise ValueError(f"not a torchvision VGG-19 file: {key} is missing")
                value = state[key]
                target = getattr(conv, part)
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"not a torchvision VGG-19 file: {key} has shape {tuple(value.shape)}"
                    )
                target.copy_(value.float())
    return net.eval().requires_grad_(False)
