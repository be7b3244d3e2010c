"""Fast style: a trained feed-forward network repaints the layer in one pass.

One network holds every preset (conditional instance norm), so a second
preset mixes in with a slider. Strength blends with the layer at run time
(0 returns it exactly); colours can be kept (the result's luminance on the
layer's chroma). Big layers run in tiles that share one set of instance-norm
statistics (`warpaint.engine.neural.feedforward`), so no seams appear. Fast enough
for live previews (not a long job).

The presets come from `resources/models/fast-style.safetensors`, trained by
`warpaint train style --presets` (see docs/fast-style.md). The user's own
presets (`user_presets`: one-style models made from their style images by
`warpaint train preset` or the panel's "New preset from image…") run through
the `model` parameter.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warpaint.engine.neural.style_samples import PRESET_STYLES
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import ModelFile, cached_model
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import numpy as np
    import torch

    from warpaint.engine.features.fast_style.generator import NoiseInputs, StyleGenerator
    from warpaint.engine.runtime.jobs import JobContext

MODEL_NAME = "fast-style.safetensors"
MODEL_KIND = "fast-style"


def halo(gen: StyleGenerator) -> int:
    """The tiles' context (px) for `gen`: its receptive radius rounded up to 16
    (`StyleGenerator.receptive_radius`; 64 px for the undilated net, 96 dilated)."""
    return -(-gen.receptive_radius() // 16) * 16


# A cached generator carries its style mix and, while tiling, frozen norm
# statistics: one job at a time uses it.
_GENERATOR_LOCK = threading.Lock()


# The presets' model; a user's own model file works through the `model` parameter.
MODEL = ModelFile(MODEL_NAME, "warpaint train style --presets", env="WARPAINT_FAST_STYLE_MODEL")


def shipped_model_path() -> Path:
    """The presets' model: `$WARPAINT_FAST_STYLE_MODEL`, else the shipped or user one."""
    return MODEL.default_path()


# The presets are the styles the shipped model is trained from (`warpaint train
# style --presets`); naming them needs no model file, so importing this module
# reads none.
PRESETS = tuple(PRESET_STYLES)
# The panel opens on a preset whose marks the network draws best (docs/fast-style.md,
# "by eye"): a first impression of the effect, not of its weakest style (mosaic).
DEFAULT_PRESET = "swirls" if "swirls" in PRESETS else PRESETS[0]

SPEC = EffectSpec(
    id="fast-style",
    model=MODEL,
    title="Fast style",
    category="Neural",
    description="Repaint the layer in a preset style with a trained network (instant).",
    preview_on_open=True,
    params=(
        Param(
            "preset",
            "Preset",
            ParamType.CHOICE,
            default=DEFAULT_PRESET,
            choices=PRESETS,
            gallery=True,
        ),
        Param(
            "strength",
            "Strength",
            ParamType.NUMBER,
            default=1.0,
            min=0.0,
            max=1.0,
            step=0.01,
            help="0 leaves the layer unchanged.",
        ),
        Param(
            "mix_with",
            "Mix with",
            ParamType.CHOICE,
            default="none",
            choices=("none", *PRESETS),
            help="A second preset blended into the first.",
        ),
        Param(
            "mix",
            "Mix amount",
            ParamType.NUMBER,
            default=0.5,
            min=0.0,
            max=1.0,
            step=0.01,
            help="0: only the first preset, 1: only the second.",
        ),
        Param(
            "preserve_colours",
            "Preserve colours",
            ParamType.BOOL,
            default=False,
            help="Keep the layer's colours, take the style's light and texture.",
        ),
        Param(
            "seed",
            "Seed",
            ParamType.INTEGER,
            default=0,
            min=0,
            max=2**31 - 1,
            random_seed=True,
            help="Where the style's dots and patches fall: each seed is another "
            "arrangement, the same every time.",
        ),
        Param(
            "model",
            "Model file",
            ParamType.FILE,
            default=None,
            help="A model from 'warpaint train style', or one of your presets (its file, or "
            "its name on the command line), instead of the shipped presets; 'preset' "
            "picks its style by name, else its first style is used.",
        ),
        Param(
            "mask",
            "Mask",
            ParamType.MASK,
            default=None,
            image_bound=True,
            help="Apply only where the mask is set.",
        ),
    ),
)

DEMO_PARAMS: dict[str, Any] = {"preset": DEFAULT_PRESET}


# Sizes a generator may be built with; the shipped one is far inside them.
GENERATOR_BOUNDS = {
    "styles": (1, 1024),
    "half": (1, 1024),
    "quarter": (1, 1024),
    "blocks": (0, 64),
    "head": (1, 1024),
    "noise": (0, 64),
    "coarse_noise": (0, 64),
    "coarse_cell": (1, 4096),
}


def _load(path: str) -> tuple[StyleGenerator, tuple[str, ...]]:
    """The generator of a model file, on the CPU."""
    import torch

    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.runtime.models import build_within_file, load_model

    tensors, meta = load_model(path, MODEL_KIND, GENERATOR_BOUNDS)
    try:
        styles = tuple(str(s) for s in meta["styles"])  # type: ignore[attr-defined]
        config = GeneratorConfig(**meta["config"])  # type: ignore[arg-type]
        with torch.inference_mode(False):
            gen = build_within_file(lambda: StyleGenerator(config), tensors)
            gen.load_state_dict(tensors)
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{path}: not a usable fast-style model ({first})") from None
    if config.styles != len(styles):
        raise BadInputError(f"{path}: the model lists {len(styles)} styles for {config.styles}")
    return gen.eval(), styles


def model_file(model: str | Path | None) -> Path:
    """The file `model` names: a path, the name of one of the user's presets
    (`user_presets`, e.g. `--set model=starry`), or None for the shipped presets."""
    if not model:
        return MODEL.path()
    file = Path(model)
    if file.suffix.lower() != ".safetensors" and len(file.parts) == 1 and not file.exists():
        from warpaint.engine.features.fast_style.user_presets import find_user_preset

        return find_user_preset(str(model)).path
    return file


def load_generator(path: str | Path | None, device: str) -> tuple[StyleGenerator, tuple[str, ...]]:
    """(generator, style names) of `path` (None: the shipped presets) on `device`.

    Raises BadInputError when the file is missing, corrupt or of another kind.
    """
    file = model_file(path)

    def on_device(name: str) -> tuple[StyleGenerator, tuple[str, ...]]:
        from warpaint.engine.neural.cpu_layout import for_cpu_inference

        gen, styles = _load(name)
        return for_cpu_inference(gen.to(device)), styles

    return cached_model(file, str(device), on_device)


def style_mix(
    styles: tuple[str, ...], preset: str, other: str = "none", mix: float = 0.0
) -> list[float]:
    """The (N,) mix vector: `preset` at 1 - mix and `other` at mix."""
    first = styles.index(preset) if preset in styles else 0
    w = [0.0] * len(styles)
    w[first] += 1.0
    if other != "none" and mix > 0:
        if other not in styles:
            raise BadInputError(f"mix_with: the model has no style {other!r}")
        w[first] -= mix
        w[styles.index(other)] += mix
    return w


# Seeds move the image through the generator's noise, which is tied to
# absolute coordinates: this far apart per seed (a multiple of the network's
# stride, so the noise is sampled as at seed 0), each seed meets unrelated noise.
SEED_STEP = 4096


def noise_origin(seed: int) -> tuple[int, int]:
    """Where a `seed` places the image's top-left pixel in the generator's noise."""
    return 0, seed * SEED_STEP


def stylize(
    gen: StyleGenerator,
    rgb: torch.Tensor,
    mix: list[float],
    *,
    seed: int = 0,
    check: Any = None,
    progress: Any = None,
    tile: int | None = None,
) -> torch.Tensor:
    """(1, 3, H, W) RGB in [0, 1] -> the generator's (1, 3, H, W) at the mix,
    tiled with shared instance-norm statistics when the image is big. `seed`
    picks where the noise-drawn marks (dots, patches) fall."""
    import torch

    from warpaint.engine.neural.feedforward import tiled_forward

    top, left = noise_origin(seed)

    def forward(x: torch.Tensor, origin: tuple[int, int] = (0, 0)) -> torch.Tensor:
        return gen(x, origin=(top + origin[0], left + origin[1]))  # type: ignore[no-any-return]

    w = torch.tensor(mix, dtype=torch.float32, device=rgb.device)
    if rgb.is_cuda and tile is None:
        runner = _cuda_runner(gen)
        if runner.fits(rgb):
            try:
                return runner(rgb, w, (top, left))
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()  # the tiled path below needs less
    with _GENERATOR_LOCK:
        gen.set_style(w)
        return tiled_forward(
            gen,
            forward,
            rgb,
            halo=halo(gen),
            align=gen.STRIDE,
            tile=tile,
            check=check or (lambda: None),
            progress=progress,
            with_origin=gen.reads_origin,
        )


class _CudaRunner:
    """The CUDA path for images that fit one pass: a half-precision,
    channels-last copy of the generator replayed from CUDA graphs (one per
    image size; `warpaint.engine.neural.cuda_graphs`). The light generator is bound by
    kernel launches on a GPU, which the graph removes. Its style mix lives in
    one buffer that the graph reads, updated in place per call."""

    def __init__(self, gen: StyleGenerator) -> None:
        import copy

        import torch

        from warpaint.engine.features.fast_style.generator import NoiseInputs
        from warpaint.engine.neural.cuda_graphs import (
            BackgroundCompiled,
            GraphedForward,
            compile_enabled,
        )
        from warpaint.engine.neural.feedforward import activation_bytes_per_pixel

        device = next(gen.parameters()).device
        half = copy.deepcopy(gen).half().to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
        self.style = torch.zeros(gen.config.styles, dtype=torch.half, device=device)
        half.set_style(self.style)
        self.net = half
        self.device = device
        self.lock = threading.Lock()

        # The noise planes are inputs of the graph, made once per size and seed
        # (`noise`): the hashes stay out of the replay, and the compiled network
        # has no graph break at them.
        def network(
            x: torch.Tensor, pixel: torch.Tensor | None, coarse: torch.Tensor | None
        ) -> torch.Tensor:
            return half(x, noise=NoiseInputs(pixel, coarse))  # type: ignore[no-any-return]

        self.network = network
        self._noise: OrderedDict[tuple[int, int, tuple[int, int]], NoiseInputs] = OrderedDict()
        self.graphed = GraphedForward(network)
        # Inductor fuses the padding, norm and activation passes that bound the
        # eager kernels; it compiles in the background, the eager graph serves
        # until then.
        self.compiled = BackgroundCompiled(network) if compile_enabled() else None
        with torch.inference_mode():
            self.bytes_per_pixel = activation_bytes_per_pixel(half, lambda x: half(x.half()), 3)

    def fits(self, rgb: torch.Tensor) -> bool:
        """Whether `rgb` runs in one pass (as `tiled_forward` would decide)."""
        from warpaint.engine.neural.feedforward import STATS_SIDE, auto_tile_side

        side = max(rgb.shape[-2:])
        tile = auto_tile_side(self.bytes_per_pixel, self.device, halo(self.net), self.net.STRIDE)
        return side <= min(STATS_SIDE, tile)

    def noise(self, x: torch.Tensor, origin: tuple[int, int] = (0, 0)) -> NoiseInputs:
        """The generator's noise planes for x's size at `origin`, made once
        (the eight most recent sizes and origins are kept)."""
        key = (x.shape[-2], x.shape[-1], origin)
        planes = self._noise.get(key)
        if planes is None:
            planes = self.net.noise_inputs(x.shape[-2], x.shape[-1], [origin], x.device, x.dtype)
            self._noise[key] = planes
            while len(self._noise) > 8:
                self._noise.popitem(last=False)
        self._noise.move_to_end(key)
        return planes

    def __call__(
        self, rgb: torch.Tensor, mix: torch.Tensor, origin: tuple[int, int] = (0, 0)
    ) -> torch.Tensor:
        """(1, 3, H, W) float RGB and the (N,) mix -> (1, 3, H, W) float32;
        `origin` places the image in the noise (`noise_origin`)."""
        import torch

        with self.lock, torch.inference_mode():
            self.style.copy_(mix)
            x = rgb.to(torch.half).contiguous(memory_format=torch.channels_last)
            noise = self.noise(x, origin)
            fast = self.compiled.get(x, *noise) if self.compiled is not None else None
            return (fast or self.graphed)(x, *noise).float()


_runners: dict[StyleGenerator, _CudaRunner] = {}  # modules hash by identity


def _cuda_runner(gen: StyleGenerator) -> _CudaRunner:
    """One runner per (cached) generator."""
    with _GENERATOR_LOCK:
        if gen not in _runners:
            _runners[gen] = _CudaRunner(gen)
        return _runners[gen]


def finish_stylized(
    out: torch.Tensor, content: torch.Tensor, strength: float, preserve_colours: bool
) -> torch.Tensor:
    """The effect's steps after the network: (1, 3, H, W) `out` given
    `content`'s chroma when `preserve_colours`, then blended back towards
    `content` below strength 1 (unclamped)."""
    from warpaint.engine.neural.style_losses import with_chroma_of

    if preserve_colours:
        out = with_chroma_of(out, content)
    return content + strength * (out - content) if strength < 1.0 else out


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    import torch

    from warpaint.engine.neural.effect_helpers import resize_to, rgb

    strength = float(params["strength"])
    if strength <= 0.0:
        return image.clone()
    gen, styles = load_generator(params.get("model"), ctx.device)
    mix = style_mix(styles, params["preset"], params["mix_with"], float(params["mix"]))
    content = rgb(image).to(ctx.device)
    with torch.inference_mode():
        out = stylize(
            gen,
            content,
            mix,
            seed=int(params["seed"]),
            check=ctx.check,
            progress=lambda f: ctx.report(0.95 * f),
        )
        out = finish_stylized(out, content, strength, bool(params["preserve_colours"]))
        mask = params.get("mask")
        if mask is not None:
            m = resize_to(mask[:, :1].float(), tuple(image.shape[-2:])).clamp(0, 1)  # type: ignore[arg-type]
            out = content * (1 - m) + out * m
        return torch.cat([out.clamp(0.0, 1.0), image[:, 3:4].float()], dim=1)


@cache
def _thumbnail_content(size: int) -> np.ndarray:
    import numpy as np
    from PIL import Image
    from skimage import data

    face = Image.fromarray(data.astronaut()[30:330, 90:390])
    return np.asarray(face.resize((size, size), Image.Resampling.LANCZOS), np.float32) / 255.0


def preset_thumbnail(name: str, size: int = 128, model: str | None = None) -> np.ndarray:
    """(size, size, 3) uint8: the preset `name` rendered by the model itself on a
    fixed photo (the astronaut's portrait), for a preset gallery."""
    gen, styles = load_generator(model, "cpu")
    if name not in styles:
        raise BadInputError(f"no preset {name!r} (choose from {', '.join(styles)})")
    return _styled_uint8(gen, styles, _thumbnail_content(size), name)


def _styled_uint8(
    gen: StyleGenerator, styles: tuple[str, ...], rgb: np.ndarray, name: str
) -> np.ndarray:
    """(H, W, 3) uint8: `rgb` ((H, W, 3) float in [0, 1]) in preset `name`."""
    import numpy as np
    import torch

    content = torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        out = stylize(gen, content.contiguous(), style_mix(styles, name))
    return (out[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def thumbnail(param: str, choice: str, side: int) -> np.ndarray | None:
    """The panel hook: the preset gallery's pictures, drawn by the presets."""
    import numpy as np

    if param != "preset" or choice not in PRESETS:
        return None
    return preset_thumbnail(choice, side).astype(np.float32) / 255.0


def preset_sheet(image: np.ndarray, side: int = 256, model: str | None = None) -> np.ndarray:
    """(rows * (side + 16), cols * side, 3) uint8: `image` ((H, W, C) float in
    [0, 1], C >= 3) fitted into `side` x `side`, then the original and every
    preset of the model side by side, each captioned with its name (what
    `warpaint demo` shows of the presets)."""
    import math

    import numpy as np
    from PIL import Image, ImageDraw

    gen, styles = load_generator(model, "cpu")
    photo = Image.fromarray((np.clip(image[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8))
    photo = photo.resize((side, side), Image.Resampling.LANCZOS)
    rgb = np.asarray(photo, np.float32) / 255.0
    cells = [("original", np.asarray(photo))]
    cells += [(name, _styled_uint8(gen, styles, rgb, name)) for name in styles]
    cols = math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / cols)
    caption = 16
    sheet = Image.new("RGB", (cols * side, rows * (side + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, cell) in enumerate(cells):
        x, y = (i % cols) * side, (i // cols) * (side + caption)
        sheet.paste(Image.fromarray(cell), (x, y + caption))
        draw.text((x + 4, y + 2), name, fill="black")
    return np.asarray(sheet)


def demo_outputs(image: np.ndarray, out_dir: Path, quick: bool) -> list[Path]:
    """The demo hook: every shipped preset on `image`, side by side with the original."""
    from PIL import Image

    out = out_dir / "fast-style-presets.png"
    Image.fromarray(preset_sheet(image, 96 if quick else 256)).save(out)
    return [out]
