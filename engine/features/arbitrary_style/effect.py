"""Arbitrary style in one network pass (AdaIN, Huang & Belongie 2017).

Any style image (a layer or a file), no training by the user: the layer is
encoded by the slim random VGG-19's early layers, its features take the
style's per-channel means and standard deviations, and a decoder trained by
`warpaint train adain` (shipped in resources/models) paints the result. One
pass, so it runs on the interactive lane: picking another style layer
updates the preview live.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from warpaint.engine.runtime.models import ModelFile, cached_model
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.arbitrary_style.adain import Decoder
    from warpaint.engine.features.arbitrary_style.texture import StyleTexture
    from warpaint.engine.runtime.jobs import JobContext

MODEL_FILE = "adain-decoder.safetensors"
# The style is resized to the content's long side times style_scale, within
# these bounds: previews and full-resolution runs then see the style's
# patterns at the same relative size, and a huge style costs no more than this.
STYLE_MIN_SIDE, STYLE_MAX_SIDE = 64, 1024
# Context each tile needs: the encoder's and decoder's receptive radius is
# about 22 px (five convs and two poolings down, five convs and two
# upsamplings back), rounded up to the stride grid.
HALO = 32
# Images up to this side run in one pass without measuring free memory.
SINGLE_PASS_SIDE = 1024

# The texture step's share by default (`texture.carry_texture`): at 1 the
# three reference pairs' high-pass texture ratio is 0.67-0.76x the pinned Gatys
# results' at higher SSIM (docs/arbitrary-style.md).
TEXTURE_DEFAULT = 1.0

MODEL = ModelFile(MODEL_FILE, "warpaint train adain")

SPEC = EffectSpec(
    id="arbitrary-style",
    model=MODEL,
    title="Arbitrary style",
    category="Neural",
    description="Repaint the layer in the style of any image, instantly (AdaIN).",
    params=(
        Param(
            "style",
            "Style image",
            ParamType.IMAGE,
            default=None,
            help="Any layer or image file; no training needed.",
        ),
        Param(
            "strength",
            "Strength",
            ParamType.NUMBER,
            default=1.0,
            min=0.0,
            max=1.0,
            step=0.05,
            help="0 keeps the layer as it is, 1 is the full style.",
        ),
        Param(
            "texture",
            "Texture",
            ParamType.NUMBER,
            default=TEXTURE_DEFAULT,
            min=0.0,
            max=1.0,
            step=0.05,
            help="The style's fine detail (strokes, cells, grain) laid onto the result: 0 is the "
            "network's smooth result, 1 the style's detail in colour and two thirds of it in light "
            "and shade, so the subject keeps its shape.",
        ),
        Param(
            "preserve_colours",
            "Preserve colours",
            ParamType.BOOL,
            default=False,
            help="Keep the layer's own colours; take only the style's light and texture.",
        ),
        Param(
            "style2",
            "Second style",
            ParamType.IMAGE,
            default=None,
            help="Optional: a second style image to mix with the first.",
        ),
        Param(
            "mix",
            "Mix (second style)",
            ParamType.NUMBER,
            default=0.5,
            min=0.0,
            max=1.0,
            step=0.05,
            help="Share of the second style: 0 first only, 1 second only.",
        ),
        Param(
            "style_scale",
            "Style scale",
            ParamType.NUMBER,
            default=1.0,
            min=0.25,
            max=4.0,
            step=0.05,
            help="Size of the style's patterns relative to the layer.",
        ),
        Param(
            "mask",
            "Mask",
            ParamType.MASK,
            default=None,
            image_bound=True,
            help="Apply only where the mask is set.",
        ),
        Param(
            "model",
            "Decoder file",
            ParamType.FILE,
            default=None,
            help="A decoder from 'warpaint train adain -o FILE' (default: the shipped one).",
        ),
        Param(
            "refined",
            "Use refined decoder",
            ParamType.BOOL,
            default=True,
            help="Use the decoder refined for this style ('Refine for this style'), if there is "
            "one and no decoder file is given.",
        ),
    ),
)


def default_model_path() -> Path:
    """The shipped (or user's) decoder, else where the shipped one belongs."""
    return MODEL.default_path()


def _demo_style() -> Any:
    import numpy as np

    from warpaint.engine.features.arbitrary_style.corpus import held_out_indices, style_image

    rgb = style_image(held_out_indices(3)[2], 256)
    return np.concatenate([rgb, np.ones_like(rgb[..., :1])], axis=2)


DEMO_PARAMS: dict[str, Any] = {"style": _demo_style, "strength": 0.9}


def load_decoder(path: str | Path | None = None, device: str = "cpu") -> Decoder:
    """The decoder in `path` (default: the shipped one) on `device`, cached per
    file version; raises BadInputError with a one-line reason for a missing,
    corrupt or foreign file."""
    file = Path(path) if path else MODEL.path()

    def on_device(name: str) -> Decoder:
        from warpaint.engine.neural.cpu_layout import for_cpu_inference

        return for_cpu_inference(_load(name).to(device))

    return cached_model(file, str(device), on_device)


def _load(file: str) -> Decoder:
    from warpaint.engine.features.arbitrary_style.adain import KIND, decoder_from_model
    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import load_model

    tensors, meta = load_model(file, KIND)
    try:
        return decoder_from_model(tensors, meta)
    except ValueError as exc:
        raise BadInputError(f"{file}: not a usable AdaIN decoder ({exc})") from None


def refined_decoder_for(style: torch.Tensor, style2: torch.Tensor | None = None) -> Path | None:
    """The decoder refined for this (1, 4, h, w) RGBA style in the user's model
    folder, found by the style's pixel key (`refined.image_key`), or None.
    With a second style in the mix, only when it is the same image (the
    panel's second picker starts on the same layer): a decoder refined for
    one style is not the one for a mix of two."""
    from warpaint.engine.features.arbitrary_style.refined import (
        find_refined,
        image_key,
        might_have_refined,
    )
    from warpaint.engine.neural.effect_helpers import rgb

    if not might_have_refined((int(style.shape[-2]), int(style.shape[-1]))):
        return None  # no key needed: nothing refined for a style of this size
    key = image_key(rgb(style))
    if style2 is not None and (style2.shape != style.shape or image_key(rgb(style2)) != key):
        return None
    return find_refined(key)


def _style_rgb(style: torch.Tensor, content_side: int, scale: float) -> torch.Tensor:
    from warpaint.engine.neural.effect_helpers import rgb
    from warpaint.engine.neural.style_losses import resize_to_side

    side = round(min(max(content_side * scale, STYLE_MIN_SIDE), STYLE_MAX_SIDE))
    if bool((style[:, 3] >= 1.0).all()):
        # Opaque (a photo, a scan): compositing changes nothing, so the
        # colours are resized first and the big style is not copied whole
        # (a 12 MP style: 0.19 s a slider step before).
        return resize_to_side(style[:, :3], side).float().clamp(0.0, 1.0)
    return resize_to_side(rgb(style), side).clamp(0.0, 1.0)


_STYLE_CACHE: OrderedDict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_TEXTURE_CACHE: OrderedDict[tuple[object, ...], StyleTexture] = OrderedDict()
STYLE_CACHE_SIZE = 8
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _style_key(style: torch.Tensor) -> tuple[str, str]:
    """A key of a style tensor's pixels, shape and device."""
    import hashlib

    import torch

    data = style.detach().to("cpu", torch.float32).contiguous().numpy()
    digest = hashlib.blake2b(data.tobytes(), digest_size=16)
    digest.update(repr(data.shape).encode())
    return digest.hexdigest(), str(style.device)


def _remembered(cache: OrderedDict[K, V], key: K, compute: Callable[[], V]) -> V:
    """`cache[key]`, computed first when missing; the cache keeps the
    `STYLE_CACHE_SIZE` most recently used entries."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = compute()
    cache[key] = value
    while len(cache) > STYLE_CACHE_SIZE:
        cache.popitem(last=False)
    return value


def texture_statistics(styles: list[tuple[torch.Tensor, float]]) -> StyleTexture:
    """`texture.style_texture` of (1, 3, h, w) styles mixed by weight,
    remembered for the last few styles and mixes like `style_statistics`."""
    from warpaint.engine.features.arbitrary_style.texture import style_texture

    key = tuple((_style_key(style), float(weight)) for style, weight in styles)
    return _remembered(_TEXTURE_CACHE, key, lambda: style_texture(styles))


def style_statistics(style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's per-channel (mean, std) of a (1, 3, h, w) style image,
    each (1, C, 1, 1), remembered for the last few styles: moving the
    strength slider or editing the layer re-encodes only the layer."""
    from warpaint.engine.features.arbitrary_style.adain import encode, inference_encoder, mean_std

    return _remembered(
        _STYLE_CACHE,
        _style_key(style),
        lambda: mean_std(encode(inference_encoder(style.device), style)),
    )


def stylize(
    decoder: Decoder,
    content: torch.Tensor,
    styles: list[tuple[torch.Tensor, float]],
    strength: float = 1.0,
    check: Any = None,
    tile: int | None = None,
    texture: float = 0.0,
    luma_share: float | None = None,
) -> torch.Tensor:
    """(1, 3, H, W) content in the mixed style of `styles` ((1, 3, h, w), weight).

    Strength alpha blends the features, t = alpha AdaIN(c, s) + (1 - alpha) c
    (Huang & Belongie), see `nets.adain.StyleTransfer`. Big images run in
    tiles (`feedforward.tiled_forward`, tile side from free memory unless
    `tile` is given) with the content statistics measured once for the whole
    image, so tiles show no seams and no drift. `texture` > 0 then lays the
    styles' fine detail onto the whole decoded result
    (`texture.carry_texture`, its change scaled by texture x strength and its
    luminance by `luma_share`, default `texture.LUMA_SHARE`); at 0 the decoded
    result is returned as it is.
    """
    from warpaint.engine.features.arbitrary_style.adain import (
        AdaINLayer,
        StyleTransfer,
        inference_encoder,
        mixed_statistics,
    )
    from warpaint.engine.neural.feedforward import tiled_forward

    stats = []
    for style, _ in styles:
        stats.append(style_statistics(style))
        if check is not None:
            check()
    mean, std = mixed_statistics(stats, [w for _, w in styles])
    net = StyleTransfer(inference_encoder(content.device), AdaINLayer(mean, std, strength), decoder)
    if tile is None and max(content.shape[-2:]) <= SINGLE_PASS_SIDE:
        # Small enough for one pass on any device: skip the memory probe.
        tile = -(-max(content.shape[-2:]) // StyleTransfer.STRIDE) * StyleTransfer.STRIDE
    out = tiled_forward(
        net,
        net,
        content,
        halo=HALO,
        align=StyleTransfer.STRIDE,
        tile=tile,
        check=check or (lambda: None),
    )
    out = out.clamp(0.0, 1.0)
    amount = float(texture) * min(max(float(strength), 0.0), 1.0)
    if amount > 0.0:
        from warpaint.engine.features.arbitrary_style.texture import LUMA_SHARE, carry_texture

        if check is not None:
            check()
        share = LUMA_SHARE if luma_share is None else luma_share
        out = carry_texture(out, texture_statistics(styles), amount, share)
    return out


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    import torch

    from warpaint.engine.neural.effect_helpers import resize_to, rgb
    from warpaint.engine.neural.style_losses import with_chroma_of
    from warpaint.engine.runtime.errors import BadInputError

    style = params.get("style")
    if style is None:
        raise BadInputError("Arbitrary style needs a style image (a layer or an image file)")
    strength = float(params["strength"])
    if strength <= 0.0:
        return image.clone()
    mix = float(params["mix"])
    second = params.get("style2") is not None and mix > 0.0
    model = params.get("model")
    if model is None and params.get("refined", True):
        model = refined_decoder_for(style, params.get("style2") if second else None)
        if model is not None:
            ctx.message(f"{SPEC.title}: the decoder refined for this style ({model.name})")
    decoder = load_decoder(model, ctx.device)
    content = rgb(image)
    side, scale = max(content.shape[-2:]), float(params["style_scale"])
    styles = [(_style_rgb(style, side, scale), 1.0)]
    if second:
        styles = [(styles[0][0], 1.0 - mix), (_style_rgb(params["style2"], side, scale), mix)]
    ctx.check()
    texture = float(params.get("texture", TEXTURE_DEFAULT))
    result = stylize(decoder, content, styles, strength, ctx.check, texture=texture)
    ctx.report(0.9)
    if params["preserve_colours"]:
        result = with_chroma_of(result, content)
    mask = params.get("mask")
    if mask is not None:
        m = resize_to(mask[:, :1].float(), tuple(image.shape[-2:])).clamp(0, 1)  # type: ignore[arg-type]
        result = image[:, :3].float() * (1 - m) + result * m
    return torch.cat([result, image[:, 3:4].float()], dim=1)
