"""A convolutional autoencoder over fixed-size aligned crops, and its model file.

The network maps an (N, 3, H, W) crop in [0, 1] to a latent code z of
`latent` numbers and back. H and W must be multiples of 2^stages (16 with
the default four stages): 48x64 eye crops, 64x64 or 128x128 face crops.

Encoder: per stage a stride-2 3x3 convolution, plus a 3x3 convolution at
the coarse stages (from 1/8 of the size), each followed by a leaky ReLU, then
one linear layer to z (to mean and log variance when variational). Decoder:
a linear layer back to the coarsest feature map, per stage a stride-2 4x4
transposed convolution (plus a 3x3 convolution at the coarse stages), a final
3x3 convolution to RGB and a sigmoid, so outputs stay in [0, 1]. Convolutions
at full and half size are the costly ones, so those stages have one layer
and the fewest channels: the decoder runs in about a millisecond on one CPU
core at 48x64, which is what keeps a slider drag live.

A model file (`save_attribute_model` / `load_attribute_model`, kind
"autoencoder") holds the weights, the crop size, how crops are aligned, and
the named attribute vectors (tensors `attr.<name>`) with their slider ranges,
so one file is everything the `attributes` effect needs.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import (
    build_within_file,
    check_model_sizes,
    load_model,
    save_model,
)

MODEL_KIND = "autoencoder"
FORMAT = 1
# Alignment kinds a model can declare: how a region is turned into its crop.
ALIGNMENTS = ("eye-corners", "centre-crop", "stretch")
_uids = itertools.count(1)


@dataclass(frozen=True)
class AutoencoderConfig:
    """The shape of a network: crop size, latent size, channels per stage."""

    height: int = 48
    width: int = 64
    latent: int = 64
    channels: tuple[int, ...] = (32, 64, 96, 128)
    variational: bool = False

    def __post_init__(self) -> None:
        step = 2 ** len(self.channels)
        if self.height % step or self.width % step or self.height <= 0 or self.width <= 0:
            raise BadInputError(
                f"crop size {self.height}x{self.width} must be a positive multiple of {step}"
            )
        if not 1 <= self.latent <= 4096:
            raise BadInputError(f"latent size {self.latent} must be 1..4096")

    @property
    def coarse(self) -> tuple[int, int, int]:
        """(C, h, w) of the coarsest feature map."""
        step = 2 ** len(self.channels)
        return self.channels[-1], self.height // step, self.width // step


class ConvAutoencoder(nn.Module):
    """Encoder/decoder pair; see the module docstring for the layers."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.channels
        enc: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(widths):
            enc += [nn.Conv2d(c_in, c, 3, 2, 1), nn.LeakyReLU(0.2)]
            if i >= 2:
                enc += [nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2)]
            c_in = c
        self.encoder = nn.Sequential(*enc)
        cc, ch, cw = config.coarse
        flat = cc * ch * cw
        self.to_latent = nn.Linear(flat, config.latent * (2 if config.variational else 1))
        self.from_latent = nn.Linear(config.latent, flat)
        dec: list[nn.Module] = []
        outs = [*reversed(widths[:-1]), max(8, widths[0] // 2)]
        c_in = widths[-1]
        for i, c in enumerate(outs):
            dec += [nn.ConvTranspose2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            if i < len(outs) - 2:
                dec += [nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2)]
            c_in = c
        dec += [nn.Conv2d(c_in, 3, 3, 1, 1)]
        self.decoder = nn.Sequential(*dec)

    def _check(self, x: torch.Tensor) -> None:
        want = (3, self.config.height, self.config.width)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"expected (N, {want[0]}, {want[1]}, {want[2]}), got {tuple(x.shape)}")

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, 3, H, W) -> (mean (N, L), log variance (N, L) or None if deterministic)."""
        self._check(x)
        h = self.to_latent(self.encoder(x * 2.0 - 1.0).flatten(1))
        if self.config.variational:
            mean, logvar = h.chunk(2, dim=1)
            return mean, logvar.clamp(-12.0, 8.0)
        return h, None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, L) codes (the mean for a variational model)."""
        return self.encode_stats(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, L) codes -> (N, 3, H, W) in [0, 1]."""
        cc, ch, cw = self.config.coarse
        h = F.leaky_relu(self.from_latent(z), 0.2).view(-1, cc, ch, cw)
        return torch.sigmoid(self.decoder(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@dataclass(frozen=True)
class Attribute:
    """One slider: a named direction in latent space.

    `vector` is (L,); slider value alpha adds alpha * vector to z. `unit` says
    what alpha = 1 means (e.g. "+15 degrees of pitch"); `source` how the
    vector was made ("paired", "unpaired", "balanced").
    """

    name: str
    vector: torch.Tensor
    label: str = ""
    unit: str = ""
    source: str = "paired"
    min: float = -2.0
    max: float = 2.0

    def meta(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name.replace("_", " ").capitalize(),
            "unit": self.unit,
            "source": self.source,
            "min": self.min,
            "max": self.max,
        }


@dataclass
class AttributeModel:
    """A trained autoencoder, its alignment and its named attribute vectors."""

    net: ConvAutoencoder
    alignment: str = "stretch"
    attributes: dict[str, Attribute] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    # Identifies this model in caches of encodings (an id() can be reused).
    uid: int = field(default_factory=lambda: next(_uids))

    @property
    def config(self) -> AutoencoderConfig:
        return self.net.config

    def add(self, attribute: Attribute) -> None:
        """Add or replace an attribute (vector checked against the latent size)."""
        vec = attribute.vector.detach().to("cpu", torch.float32).flatten()
        if vec.numel() != self.config.latent:
            raise BadInputError(
                f"attribute {attribute.name!r} has {vec.numel()} numbers, "
                f"the model's latent has {self.config.latent}"
            )
        self.attributes[attribute.name] = Attribute(
            attribute.name,
            vec,
            attribute.label,
            attribute.unit,
            attribute.source,
            attribute.min,
            attribute.max,
        )

    def direction(self, values: dict[str, float], device: torch.device | str) -> torch.Tensor:
        """(L,) sum_k alpha_k v_k for the given slider values (unknown names ignored)."""
        out = torch.zeros(self.config.latent, device=device)
        for name, alpha in values.items():
            attr = self.attributes.get(name)
            if attr is not None and alpha != 0.0:
                out = out + float(alpha) * attr.vector.to(device)
        return out


def _attribute_names_ok(names: list[str]) -> None:
    import re

    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise BadInputError(f"attribute name {name!r} must be snake_case (a-z, 0-9, _)")


def save_attribute_model(path: str | os.PathLike[str], model: AttributeModel) -> None:
    """Write `model` as one .safetensors file (kind "autoencoder")."""
    if model.alignment not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {model.alignment!r}")
    _attribute_names_ok(list(model.attributes))
    tensors = {f"net.{k}": v for k, v in model.net.state_dict().items()}
    for name, attr in model.attributes.items():
        tensors[f"attr.{name}"] = attr.vector
    cfg = asdict(model.config)
    meta: dict[str, object] = {
        "kind": MODEL_KIND,
        "format": FORMAT,
        "config": cfg,
        "alignment": model.alignment,
        "attributes": [a.meta() for a in model.attributes.values()],
        "info": model.info,
    }
    save_model(path, tensors, meta)


# Sizes a model file may ask for (the shipped model: 48 x 64, latent 64,
# channels 32..128); `ConvAutoencoder` is built only from sizes within these.
CONFIG_BOUNDS = {
    "height": (1, 4096),
    "width": (1, 4096),
    "latent": (1, 4096),
    "channels": (1, 4096),
}


def attribute_model_from_file(
    tensors: dict[str, torch.Tensor], meta: dict[str, object], source: str
) -> AttributeModel:
    """Rebuild an `AttributeModel` from `load_model` output; BadInputError if inconsistent."""
    try:
        if meta.get("format") != FORMAT:
            raise BadInputError(f"{source}: model format {meta.get('format')!r} is not {FORMAT}")
        raw = meta["config"]
        if not isinstance(raw, dict):
            raise KeyError("config")
        check_model_sizes(source, raw, CONFIG_BOUNDS)
        config = AutoencoderConfig(
            height=int(raw["height"]),
            width=int(raw["width"]),
            latent=int(raw["latent"]),
            channels=tuple(int(c) for c in raw["channels"]),
            variational=bool(raw["variational"]),
        )
        alignment = str(meta["alignment"])
        attr_meta = meta["attributes"]
        if not isinstance(attr_meta, list):
            raise KeyError("attributes")
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{source}: model metadata is incomplete ({exc})") from None
    if alignment not in ALIGNMENTS:
        raise BadInputError(f"{source}: unknown alignment {alignment!r}")
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    try:
        net = build_within_file(lambda: ConvAutoencoder(config), state)
        net.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise BadInputError(f"{source}: weights do not match the model's shape ({first})") from None
    net.eval()
    info = meta.get("info")
    model = AttributeModel(net, alignment, {}, dict(info) if isinstance(info, dict) else {})
    for item in attr_meta:
        if not isinstance(item, dict) or "name" not in item:
            raise BadInputError(f"{source}: an attribute entry has no name")
        name = str(item["name"])
        vec = tensors.get(f"attr.{name}")
        if vec is None:
            raise BadInputError(f"{source}: attribute {name!r} has no vector")
        model.add(
            Attribute(
                name,
                vec,
                str(item.get("label", "")),
                str(item.get("unit", "")),
                str(item.get("source", "paired")),
                float(item.get("min", -2.0)),
                float(item.get("max", 2.0)),
            )
        )
    return model


def load_attribute_model(path: str | os.PathLike[str]) -> AttributeModel:
    """The model in `path` on the CPU, in eval mode; BadInputError on any problem."""
    tensors, meta = load_model(path, MODEL_KIND)
    return attribute_model_from_file(tensors, meta, str(Path(path)))
