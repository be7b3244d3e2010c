"""Arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017).

encoder -> AdaIN -> decoder:

- encoder: the early layers of the slim random VGG-19 loss network
  (`vgg19-random-slim` up to relu3_1: 128 channels at 1/4 resolution). It is
  the stylize effect's own loss network, needs no file (frozen-stream random
  weights) and runs 512x512 in about 0.2 s on a 2-core CPU, where the full
  VGG-19 to relu4_1 takes several times that.
- AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y), per channel over
  the spatial positions.
- decoder: mirrors the encoder (conv, nearest x2 upsampling, conv ...) with
  thinner full-resolution layers, sized so encoder + decoder stay within
  0.5 s at 512x512 on that CPU. It is the only trained part; its weights
  ship in `resources/models/adain-decoder.safetensors`.

Feature maps are (N, C, h, w); images (N, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from warpaint.engine.neural import banded, wavefront
from warpaint.engine.neural.feedforward import instance_stats, relu
from warpaint.engine.neural.vgg import VGGFeatures

KIND = "adain"
FORMAT = 1
ENCODER_NETWORK = "vgg19-random-slim"
ENCODER_LAYER = "relu3_1"
ENCODER_CHANNELS = 128
# Layers whose feature statistics make the training style loss (Huang & Belongie
# use relu1_1..relu4_1 of the same network as the encoder).
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# (in, out, upsample after) per decoder conv; the last conv maps to RGB.
DEFAULT_DECODER: tuple[tuple[int, int, bool], ...] = (
    (ENCODER_CHANNELS, 64, True),
    (64, 64, False),
    (64, 32, True),
    (32, 16, False),
    (16, 3, False),
)
EPS = 1e-5


def encoder(device: str | torch.device = "cpu") -> VGGFeatures:
    """The frozen encoder (shared with the loss network cache; no file needed)."""
    from warpaint.engine.neural.loss_networks import feature_network

    return feature_network(ENCODER_NETWORK, str(device)).module


@functools.cache
def _inference_encoder(device: str) -> VGGFeatures:
    from warpaint.engine.neural.cpu_layout import for_cpu_inference

    return for_cpu_inference(copy.deepcopy(encoder(device)))


def inference_encoder(device: str | torch.device = "cpu") -> VGGFeatures:
    """The encoder for forward passes only: on the CPU a channels-last copy
    (`neural.cpu_layout`, 0.6-0.8x the time there), elsewhere `encoder` itself.
    The shared one keeps its layout: image optimisation builds graphs on it."""
    if torch.device(device).type != "cpu":
        return encoder(device)
    return _inference_encoder(str(device))


def encode(net: VGGFeatures, image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 128, ceil(H/4), ceil(W/4)) relu3_1 features."""
    return net(image, [ENCODER_LAYER])[ENCODER_LAYER]


def mean_std(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over positions: two (N, C, 1, 1)."""
    mean, var = instance_stats(features)
    return mean, (var + EPS).sqrt()


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """Content features (N, C, h, w) renormalised to the style's (N|1, C, 1, 1) statistics."""
    mean, std = mean_std(content)
    return (content - mean) / std * style_std + style_mean


def mixed_statistics(
    stats: Sequence[tuple[torch.Tensor, torch.Tensor]], weights: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A weighted mix of several styles' (mean, std): Huang & Belongie interpolate
    the AdaIN outputs, which for one content is the same as mixing the statistics."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style weights must add up to more than zero")
    mean = sum(w / total * m for (m, _), w in zip(stats, weights, strict=True))
    std = sum(w / total * s for (_, s), w in zip(stats, weights, strict=True))
    return mean, std  # type: ignore[return-value]


class Decoder(nn.Module):
    """relu3_1 features (N, 128, h, w) -> RGB (N, 3, 4h, 4w), unclamped.

    Reflection padding (no border seams), ReLU after every conv but the last,
    nearest-neighbour x2 upsampling where the encoder pooled.
    """

    def __init__(self, layers: Sequence[tuple[int, int, bool]] = DEFAULT_DECODER) -> None:
        super().__init__()
        self.layers = tuple((int(a), int(b), bool(u)) for a, b, u in layers)
        if not self.layers or self.layers[0][0] != ENCODER_CHANNELS or self.layers[-1][1] != 3:
            raise ValueError(f"a decoder maps {ENCODER_CHANNELS} channels to 3: {self.layers}")
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3) for a, b, _ in self.layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # For inference a conv after an upsampling runs on the small map
        # (`upsampled_conv`); training keeps the plain graph.
        fused = not (self.training or features.requires_grad or self.convs[0].weight.requires_grad)
        if fused and wavefront.runs() and features.device.type == "cpu":
            return self._wavefront(features)
        h = features
        for conv, upsampled, then_relu in self._steps():
            if upsampled and fused:
                h = upsampled_conv(h, conv.weight, conv.bias)
            else:
                if upsampled:
                    h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = banded.conv2d(h, conv.weight, conv.bias, padding=1, padding_mode="reflect")
            if then_relu:
                h = relu(h)
        return self._last_upsampling(h)

    def _steps(self) -> list[tuple[nn.Conv2d, bool, bool]]:
        """(conv, whether its input is upsampled first, whether a ReLU follows)
        for each conv in order."""
        ups = [False] + [up for _, _, up in self.layers[:-1]]
        last = len(self.convs) - 1
        return [
            (cast(nn.Conv2d, conv), up, i < last)
            for i, (conv, up) in enumerate(zip(self.convs, ups, strict=True))
        ]

    def _last_upsampling(self, h: torch.Tensor) -> torch.Tensor:
        return F.interpolate(h, scale_factor=2.0, mode="nearest") if self.layers[-1][2] else h

    def _wavefront(self, features: torch.Tensor) -> torch.Tensor:
        """The inference `forward` as a `wavefront.RowChain` (the convs after an
        upsampling as `upsampled_conv`): no wait at each layer's end."""
        chain = wavefront.RowChain(features)
        for conv, upsampled, then_relu in self._steps():
            if upsampled:
                chain.upsampled_conv(phase_kernels(conv.weight), conv.bias, relu=then_relu)
            else:
                chain.conv(conv.weight, conv.bias, 1, "reflect", relu=then_relu)
        return self._last_upsampling(chain.run())


def phase_kernels(weight: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
    """A 3x3 kernel (out, in, 3, 3) as four 2x2 kernels, one per output phase
    (row parity, column parity) of `upsampled_conv`."""
    w = weight
    # Along one axis, taps (w0, w1, w2) over a nearest-doubled line read the
    # source twice: an even output sees (w0, w1 + w2), an odd one (w0 + w1, w2).
    cols = {
        0: torch.stack([w[..., 0], w[..., 1] + w[..., 2]], -1),
        1: torch.stack([w[..., 0] + w[..., 1], w[..., 2]], -1),
    }
    kernels = {}
    for px, k in cols.items():
        rows = {
            0: torch.stack([k[..., 0, :], k[..., 1, :] + k[..., 2, :]], -2),
            1: torch.stack([k[..., 0, :] + k[..., 1, :], k[..., 2, :]], -2),
        }
        for py, kernel in rows.items():
            kernels[(py, px)] = kernel.contiguous(memory_format=torch.channels_last)
    return kernels


def upsampled_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """conv2d(reflect_pad(nearest_x2(x), 1), weight, bias) for a 3x3 `weight`,
    without building the doubled map: (N, C, h, w) -> (N, out, 2h, 2w).

    The reflected border of a nearest-doubled map repeats its edge, so the
    padded map is the doubled map of `x` padded by replication, and each of
    the four output phases is a 2x2 convolution of that small map: 16 instead
    of 36 multiply-adds per output and input channel, and neither the doubled
    map nor its padding is written (AdaIN's decoder at 512 px: 32 -> 19 ms and
    27 -> 19 ms for its two such convs on the 2-core CPU).
    """
    n, _, h, w = x.shape
    small = F.pad(x, (1, 1, 1, 1), mode="replicate")
    channels_last = x.is_contiguous(memory_format=torch.channels_last)
    out = torch.empty(
        n,
        weight.shape[0],
        2 * h,
        2 * w,
        dtype=x.dtype,
        device=x.device,
        memory_format=torch.channels_last if channels_last else torch.contiguous_format,
    )
    phases = out.view(n, weight.shape[0], h, 2, w, 2)
    kernels = phase_kernels(weight)

    def rows(r0: int, r1: int) -> None:
        # Output rows [2 r0, 2 r1) read the padded small map's rows [r0, r1 + 2).
        for (py, px), kernel in kernels.items():
            phases[:, :, r0:r1, py, :, px] = F.conv2d(
                small[:, :, py + r0 : py + r1 + 1, px : px + w + 1], kernel, bias
            )

    spans = banded.bands(h, out.numel())
    if spans is None:
        rows(0, h)
    else:
        banded.run_bands(spans, rows)
    return out


def decoder_meta(decoder: Decoder) -> dict[str, object]:
    """The model-file metadata that rebuilds `decoder` (see `decoder_from_model`)."""
    return {
        "kind": KIND,
        "format": FORMAT,
        "encoder": ENCODER_NETWORK,
        "encoder_layer": ENCODER_LAYER,
        "decoder_layers": [list(layer) for layer in decoder.layers],
    }


def decoder_from_model(tensors: dict[str, torch.Tensor], meta: dict[str, object]) -> Decoder:
    """A decoder rebuilt from a model file's tensors and metadata.

    Raises ValueError (with the reason) when the file was made for another
    encoder or its tensors do not fit the recorded layers.
    """
    if meta.get("format") != FORMAT:
        raise ValueError(f"unsupported adain model format {meta.get('format')!r}")
    if meta.get("encoder") != ENCODER_NETWORK or meta.get("encoder_layer") != ENCODER_LAYER:
        raise ValueError(
            f"made for encoder {meta.get('encoder')}/{meta.get('encoder_layer')}, "
            f"not {ENCODER_NETWORK}/{ENCODER_LAYER}"
        )
    layers = meta.get("decoder_layers")
    if not isinstance(layers, list) or not all(isinstance(x, list) and len(x) == 3 for x in layers):
        raise ValueError("no decoder layer list in the metadata")
    sizes = [size for layer in layers for size in layer[:2]]
    if len(layers) > 64 or not all(
        isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 4096 for c in sizes
    ):
        raise ValueError("the decoder layer list asks for sizes outside 1..4096 or > 64 layers")
    spec = [(int(a), int(b), bool(u)) for a, b, u in layers]
    with torch.device("meta"):  # allocates nothing: the file's tensors must match first
        expected = Decoder(spec).state_dict()
    if set(tensors) != set(expected):
        raise ValueError("its tensors do not match the decoder layers")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise ValueError(f"{name} has shape {tuple(value.shape)}")
    decoder = Decoder(spec)
    decoder.load_state_dict({k: v.float() for k, v in tensors.items()})
    return decoder.eval().requires_grad_(False)


class AdaINLayer(nn.Module):
    """AdaIN towards fixed style statistics, blended with the input by `strength`.

    Its `normalise(x, mean, var)` takes the content statistics as arguments,
    the protocol of `warpaint.engine.neural.feedforward`: tiled inference measures
    them once on the whole image and freezes them for every tile.
    """

    def __init__(self, style_mean: torch.Tensor, style_std: torch.Tensor, strength: float) -> None:
        super().__init__()
        self.style_mean, self.style_std, self.strength = style_mean, style_std, float(strength)

    def normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        # strength * ((x - mean) / sd * style_std + style_mean) + (1 - strength) * x
        # as one per-channel affine map, x * scale + shift: one pass over the
        # features, in row bands on a busy CPU's pool.
        scale = self.style_std / (var + EPS).sqrt()
        shift = self.style_mean - mean * scale
        if self.strength < 1.0:
            scale = self.strength * scale + (1.0 - self.strength)
            shift = self.strength * shift
        return banded.map_rows(functools.partial(torch.addcmul, shift, tensor2=scale), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalise(x, *instance_stats(x))


class StyleTransfer(nn.Module):
    """Image (1, 3, H, W) -> stylised image (1, 3, H, W), unclamped.

    Below strength 1 the decoder's own reconstruction error is added back in
    proportion to 1 - strength, so the result tends to the content exactly as
    the strength tends to 0 instead of jumping at the slider's first step.
    """

    STRIDE = 4  # the encoder pools twice
    # At the image's edges the encoder's zero padding makes the decoder draw
    # lines (the outer 4 px 46-55 levels from what a wider picture gives
    # there, on chelsea with three styles); a mirrored margin this wide (a
    # multiple of STRIDE, so the pixel grid stays) takes them out of the
    # picture, for 13 % more pixels at 512 px.
    MARGIN = 16

    def __init__(self, net: VGGFeatures, layer: AdaINLayer, decoder: Decoder) -> None:
        super().__init__()
        self.net, self.layer, self.decoder = net, layer, decoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        m = self.MARGIN
        # Padded to a multiple of the stride too, so the output lines up pixel for pixel.
        pad_h, pad_w = (-h) % self.STRIDE, (-w) % self.STRIDE
        mode = "reflect" if min(h, w) > m + self.STRIDE else "replicate"
        image = F.pad(image, (m, m + pad_w, m, m + pad_h), mode=mode)
        with banded.pooled_inference(image):
            features = encode(self.net, image)
            target = self.layer(features)
            strength = self.layer.strength
            if strength >= 1.0:
                out = self.decoder(target)
            else:
                both = self.decoder(torch.cat([target, features]))
                out = both[:1] + (1 - strength) * (image - both[1:])
        return out[..., m : m + h, m : m + w]
