"""Running effects: parameters resolved, tensors on the device, GPU memory
fallbacks, tiling, and committing the result as one undoable step.

The pure part (`run_effect`) takes and returns numpy images and runs on a job
lane; `commit_effect` changes the document and runs on the document's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from warpaint.engine.core.document import DocState, Document, Layer
from warpaint.engine.core.history import EffectStep
from warpaint.engine.core.lod import level_for_side, reduce_block, shared_lod
from warpaint.engine.core.resample import fit_scale, resize
from warpaint.engine.core.tiles import Rect, TiledImage, from_float
from warpaint.engine.io.limits import resolve as resolve_limits
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.params import ParamType
from warpaint.engine.runtime.registry import EffectSpec, get_effect

TARGETS = ("new_layer", "replace")
TILE_SIDES = (1024, 512, 256)


@dataclass(frozen=True)
class EffectResult:
    """A finished effect: pixels for the layer `layer_id` at its offset."""

    effect_id: str
    layer_id: int
    params: Mapping[str, Any]
    pixels: np.ndarray  # (h, w, 4) float32 straight alpha
    scale: float = 1.0
    messages: tuple[str, ...] = field(default=())
    # A local preview (see the `region` hook): `pixels` is only the patch of
    # the layer whose top-left corner is here, in layer pixels; None = whole.
    origin: tuple[int, int] | None = None


# -- references --------------------------------------------------------


def resolve_references(
    spec: EffectSpec,
    params: Mapping[str, Any],
    state: DocState | None,
    frame: Layer | None = None,
) -> dict[str, Any]:
    """Replace image/mask parameter values by float32 arrays.

    A value may be a layer id (int, GUI), a file path (str, CLI) or already
    an array. IMAGE -> (h, w, 4); MASK -> (h, w, 1); IMAGES -> list of
    (array, weight). For a `placed` parameter a layer is read where it lies
    on the canvas under `frame` (the layer the effect runs on).
    """
    out = dict(params)
    for p in spec.all_params(params):
        value = params.get(p.name)
        if value is None:
            continue
        where = frame if p.placed else None
        if p.type is ParamType.IMAGE:
            out[p.name] = _image_ref(value, state, where)
        elif p.type is ParamType.MASK:
            out[p.name] = _mask_ref(value, state)
        elif p.type is ParamType.IMAGES:
            out[p.name] = [(_image_ref(ref, state, where), float(w)) for ref, w in value]
    return out


def _image_ref(value: Any, state: DocState | None, frame: Layer | None = None) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value.astype(np.float32, copy=False)
    if isinstance(value, int):
        if state is None:
            raise BadInputError("a layer was given but there is no document")
        try:
            layer = state.layer(value)
        except KeyError:
            raise BadInputError("the chosen layer no longer exists") from None
        rect = None
        if frame is not None:
            rect = Rect(
                frame.x - layer.x, frame.y - layer.y, frame.pixels.width, frame.pixels.height
            )
        pixels = layer.pixels.read_float(rect)
        mask = layer.mask
        if (
            frame is not None
            and mask is not None
            and (mask.width, mask.height)
            == (
                layer.pixels.width,
                layer.pixels.height,
            )
        ):
            # A placed layer is what shows of it on the canvas: its mask hides the rest.
            pixels[..., 3:4] *= mask.read_float(rect)
        return pixels
    from warpaint.engine.io import read_image_array

    return read_image_array(str(value))


def _mask_ref(value: Any, state: DocState | None) -> np.ndarray:
    if isinstance(value, int) and state is not None:
        mask = state.layer(value).mask
        if mask is None:
            raise BadInputError(f"layer '{state.layer(value).name}' has no mask")
        return mask.read_float()
    image = _image_ref(value, state)
    if image.ndim == 3 and image.shape[2] == 1:
        return image
    luma = image[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    return (luma * image[..., 3])[..., None]


# -- running -------------------------------------------------------------


def run_effect(
    ctx: JobContext,
    spec: EffectSpec,
    image: np.ndarray,
    params: Mapping[str, Any],
) -> np.ndarray:
    """Run `spec` on an (H, W, 4) float32 image; returns (H', W', 4) float32.

    `params` must already be resolved (see `EffectSpec.resolve` and
    `resolve_references`). On a GPU out-of-memory error the effect is retried
    tile by tile (when it declares a halo) on the same device, then on the CPU,
    with a message to the user; it never crashes the application.
    """
    import torch

    from warpaint.engine.runtime.device import is_out_of_memory, release_cached_memory

    if image.ndim != 3 or image.shape[2] != 4:
        raise ValueError(f"effects take (H, W, 4) RGBA images, got {image.shape}")
    runner = spec.runner()
    attempts: list[tuple[str, int | None]] = [(ctx.device, None)]
    if spec.tile_halo is not None:
        attempts += [(ctx.device, side) for side in TILE_SIDES if side < max(image.shape[:2])]
    if ctx.device != "cpu":
        attempts.append(("cpu", 512 if spec.tile_halo is not None else None))
    last: BaseException | None = None
    last_device = ctx.device
    for device, tile in attempts:
        if last is not None:
            ctx.message(
                f"{spec.title}: out of memory on {last_device}; retrying "
                + (f"on {device} in {tile}px tiles" if tile else f"on {device}")
            )
        try:
            with torch.inference_mode():
                tensor_params = _params_to_device(params, device)
                if tile is None:
                    return _run_whole(ctx, runner, image, tensor_params, device)
                halo = int(np.ceil(spec.tile_halo * ctx.scale)) if spec.tile_halo else 0
                return run_tiled(ctx, runner, image, tensor_params, device, tile, halo)
        except MemoryError:
            raise BadInputError(f"{spec.title}: not enough memory for this image") from None
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            release_cached_memory(device)
            last, last_device = exc, device
    raise BadInputError(f"{spec.title}: out of memory even on the CPU") from last


def _params_to_device(params: Mapping[str, Any], device: str) -> dict[str, Any]:
    from warpaint.engine.core.tensors import to_tensor

    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, np.ndarray) and value.ndim == 3:
            out[name] = to_tensor(value, device)
        elif isinstance(value, list) and value and isinstance(value[0], tuple):
            out[name] = [
                (to_tensor(v, device) if isinstance(v, np.ndarray) else v, w) for v, w in value
            ]
        else:
            out[name] = value
    return out


def _run_whole(
    ctx: JobContext,
    runner: Callable[..., Any],
    image: np.ndarray,
    params: dict[str, Any],
    device: str,
) -> np.ndarray:
    from warpaint.engine.core.tensors import to_numpy, to_tensor

    result = runner(ctx, to_tensor(image, device), params)
    return to_numpy(result.clamp(0.0, 1.0))


def run_tiled(
    ctx: JobContext,
    runner: Callable[..., Any],
    image: np.ndarray,
    params: dict[str, Any],
    device: str,
    tile: int,
    halo: int,
) -> np.ndarray:
    """Run a same-size effect tile by tile with `halo` pixels of context.

    Exact for effects whose output pixel depends only on inputs within `halo`,
    because every tile is computed on an input padded by the halo (reflected
    at the image border by the effect itself) and only its centre is kept.
    """
    from warpaint.engine.core.tensors import to_numpy, to_tensor

    h, w = image.shape[:2]
    out = np.empty_like(image, dtype=np.float32)
    boxes = [(x, y) for y in range(0, h, tile) for x in range(0, w, tile)]
    for i, (x, y) in enumerate(boxes):
        ctx.report(i / len(boxes))
        x0, y0 = max(0, x - halo), max(0, y - halo)
        x1, y1 = min(w, x + tile + halo), min(h, y + tile + halo)
        piece = runner(ctx, to_tensor(image[y0:y1, x0:x1], device), params)
        piece = to_numpy(piece.clamp(0.0, 1.0))
        th, tw = min(tile, h - y), min(tile, w - x)
        out[y : y + th, x : x + tw] = piece[y - y0 : y - y0 + th, x - x0 : x - x0 + tw]
    return out


# -- jobs ----------------------------------------------------------------


def effect_job(
    state: DocState,
    layer_id: int,
    effect_id: str,
    params: Mapping[str, Any],
    max_side: int | None = None,
) -> Callable[[JobContext], EffectResult]:
    """A job function that runs an effect on a layer of `state` (a snapshot).

    With `max_side`, the input is downscaled to fit (a preview); spatial
    parameters are scaled with it through `ctx.scale`.
    """
    spec = get_effect(effect_id)
    resolved = spec.resolve(params)
    layer = state.layer(layer_id)
    region = spec.hook("region")
    if max_side is not None and region is not None:
        box = region(resolved, layer.pixels.width, layer.pixels.height)
        if box is not None:
            return _local_job(spec, state, layer, resolved, Rect(*(int(v) for v in box)))

    def job(ctx: JobContext) -> EffectResult:
        image, scale = _job_input(layer, max_side)
        ctx.scale = scale
        refs = resolve_references(spec, resolved, state, layer)
        scaled = {
            p.name: refs[p.name] * scale
            if p.spatial and refs.get(p.name) is not None
            else refs[p.name]
            for p in spec.all_params(resolved)
        }
        ctx.check()
        pixels = run_effect(ctx, spec, image, scaled)
        return EffectResult(effect_id, layer_id, dict(resolved), pixels, scale, tuple(ctx.messages))

    return job


def _local_job(
    spec: EffectSpec, state: DocState, layer: Layer, resolved: dict[str, Any], box: Rect
) -> Callable[[JobContext], EffectResult]:
    """A preview of an effect that changes only `box` of the layer (the
    `region` hook, e.g. the eyes of a portrait): it reads and computes just
    that patch at full resolution, with canvas parameters (points, rectangles)
    moved into the patch's frame. The result carries the patch and its origin."""
    box = box.intersect(layer.pixels.bounds)
    shifted = dict(resolved)
    for p in spec.all_params(resolved):
        value = resolved.get(p.name)
        if value is None:
            continue
        if p.type is ParamType.POINTS:
            shifted[p.name] = tuple((x - box.x, y - box.y) for x, y in value)
        elif p.type is ParamType.RECT:
            x, y, w, h = value
            shifted[p.name] = (x - box.x, y - box.y, w, h)

    def job(ctx: JobContext) -> EffectResult:
        patch = layer.pixels.read_float(box)
        refs = resolve_references(spec, shifted, state, layer)
        ctx.check()
        pixels = run_effect(ctx, spec, patch, refs)
        return EffectResult(
            spec.id, layer.id, dict(resolved), pixels, 1.0, tuple(ctx.messages), (box.x, box.y)
        )

    return job


def _job_input(layer: Layer, max_side: int | None) -> tuple[np.ndarray, float]:
    """The layer as float32 RGBA, downscaled to fit `max_side` for a preview.

    A big layer is read from the shared level-of-detail cache (a cheap,
    cached power-of-two reduction) and only the remaining factor below 2 is
    resampled, so repeated previews of a big layer do not re-read it whole.
    """
    width, height = layer.pixels.width, layer.pixels.height
    scale = 1.0 if max_side is None else fit_scale(width, height, max_side)
    if scale >= 1.0:
        return layer.pixels.read_float(), 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    level = level_for_side(max(width, height), max_side or max(width, height))
    reduced = shared_lod().image_at(layer.pixels, level).read_float()
    return resize(reduced, *size, method="box"), scale


def place_result(
    state: DocState,
    result: EffectResult,
    target: str = "new_layer",
    mask: np.ndarray | None = None,
) -> tuple[DocState, Layer, str]:
    """Pure: `state` with a full-resolution `result` placed, the layer it
    changed or added, and the history label for the step.

    target 'new_layer' adds it above the source layer (with the source's
    opacity, blend mode and visibility); 'replace' swaps the source layer's
    pixels. `mask` (canvas-sized (H, W) or (H, W, 1) float32 in
    [0, 1], e.g. the selection) restricts the effect to the masked area.
    """
    if target not in TARGETS:
        raise BadInputError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")
    if result.scale != 1.0:
        raise ValueError("a preview result cannot be placed at full resolution")
    try:
        source = state.layer(result.layer_id)
    except KeyError:
        raise BadInputError("the layer the effect ran on no longer exists") from None
    spec = get_effect(result.effect_id)
    pixels = result.pixels
    if mask is not None:
        weight = layer_mask(mask, source, pixels.shape[:2])
        original = source.pixels.read_float(Rect(0, 0, pixels.shape[1], pixels.shape[0]))
        pixels = masked_result(pixels, original, weight, target)
    dtype = source.pixels.dtype
    tiled = TiledImage.from_array(from_float(pixels, dtype))
    # Effects that make a new image (texture synthesis) may return another
    # size than the layer's: the canvas grows to show all of the result.
    state = _grown_to_fit(state, source.x + tiled.width, source.y + tiled.height)
    if target == "replace":
        mask_keeps = source.mask is not None and (source.mask.width, source.mask.height) == (
            tiled.width,
            tiled.height,
        )
        changed = source.with_(pixels=tiled, mask=source.mask if mask_keeps else None)
        return state.replace_layer(changed), changed, spec.title
    layer = result_layer(source, spec.title, tiled)
    return insert_above(state, source, layer), layer, spec.title


def result_layer(
    source: Layer, title: str, pixels: TiledImage, layer_id: int | None = None
) -> Layer:
    """The layer Apply adds above `source` for an effect titled `title`.

    It shows as its source does (hidden, Difference at 40 %): the result of a
    layer is seen through the same blend, opacity and visibility. `layer_id`
    fixes its id (a preview keeps one id), else a new one is drawn.
    """
    layer = Layer(
        name=f"{source.name} · {title}",
        pixels=pixels,
        x=source.x,
        y=source.y,
        opacity=source.opacity,
        visible=source.visible,
        blend_mode=source.blend_mode,
    )
    return layer if layer_id is None else layer.with_(id=layer_id)


def insert_above(state: DocState, source: Layer, layer: Layer) -> DocState:
    """`state` with `layer` inserted just above `source`, in its group."""
    return state.insert_beside(layer, source.id, above=True)


def masked_result(
    pixels: np.ndarray, original: np.ndarray, weight: np.ndarray, target: str
) -> np.ndarray:
    """A result (h, w, 4) restricted to `weight` (h, w, 1) in [0, 1].

    'replace' mixes it with the layer's `original` pixels (h, w, 4); a new
    layer fades out where the weight does (its alpha times the weight).
    """
    if target == "replace":
        return original + (pixels - original) * weight
    out = pixels.copy()
    out[..., 3:4] *= weight
    return out


def _grown_to_fit(state: DocState, right: int, bottom: int) -> DocState:
    """`state` with its canvas grown to reach (right, bottom), within the limits.

    A layer far from the origin would otherwise grow the canvas to a size no
    file reader accepts (a result saved that Warpaint then refuses to open).
    """
    if right <= state.width and bottom <= state.height:
        return state
    width, height = max(state.width, right), max(state.height, bottom)
    resolve_limits(None).check_image(width, height, "the canvas grown to fit the result")
    return replace(state, width=width, height=height)


def commit_effect(
    doc: Document,
    result: EffectResult,
    target: str = "new_layer",
    mask: np.ndarray | None = None,
    *,
    layer_rule: str = "current",
    layer_name: str | None = None,
    blend_mode: str | None = None,
    opacity: float | None = None,
) -> Layer:
    """Put a full-resolution result into the document as one undoable step
    (see `place_result` for `target` and `mask`).

    The step records an `EffectStep` for recipes: the effect, its parameters,
    `layer_rule` ('current', 'top', or 'named' with `layer_name`: how the
    layer it ran on was chosen), the placement and whether `mask` restricted
    it. `blend_mode` and `opacity`, when given, are set on the layer the
    result goes into in the same step (a recipe replaying what the user set).
    """
    if target == "replace" and doc.state.contains(result.layer_id):
        doc.check_unlocked(result.layer_id, "replacing its pixels")
    state, layer, label = place_result(doc.state, result, target, mask)
    changes = {
        name: value
        for name, value in (("blend_mode", blend_mode), ("opacity", opacity))
        if value is not None and getattr(layer, name) != value
    }
    if changes:
        layer = layer.with_(**changes)
        state = state.replace_layer(layer)
    record = EffectStep(
        effect_id=result.effect_id,
        params=dict(result.params),
        target=target,
        layer=layer_rule,
        layer_name=layer_name,
        blend_mode=layer.blend_mode,
        opacity=layer.opacity,
        restricted=mask is not None,
        source_layer=result.layer_id,
        result_layer=layer.id,
    )
    with doc.history.recording(record):
        doc.commit(label, state)
    return layer


def apply_effect(
    doc: Document,
    layer_id: int,
    effect_id: str,
    params: Mapping[str, Any],
    target: str = "new_layer",
    device: str | None = None,
    **record: Any,
) -> tuple[Layer, tuple[str, ...]]:
    """Run an effect on a layer of `doc` here, at full resolution, and commit
    it as one step (`effect_job`, then `commit_effect`, which takes `record`:
    the layer rule, blend mode and opacity). Returns the layer the result went
    into and the job's notes for the user. For scripts and recipes; the
    editor runs the same job on its long lane."""
    from warpaint.engine.runtime.device import choose_device

    job = Job(lambda _ctx: None, label=effect_id, device=choose_device(device))
    result = effect_job(doc.state, layer_id, effect_id, params)(JobContext(job))
    return commit_effect(doc, result, target, **record), tuple(job.messages)


def layer_mask(
    mask: np.ndarray, layer: Layer, shape: tuple[int, ...], level: int = 0
) -> np.ndarray:
    """A canvas-space (H, W[, 1]) mask cut to the layer's rectangle: (h, w, 1)
    float32, 0 outside the canvas. With `level` > 0 the mask is first reduced
    by 2**level and `shape` is the layer's reduced size."""
    mask = np.asarray(mask, np.float32)
    if mask.ndim == 2:
        mask = mask[..., None]
    x, y = layer.x, layer.y
    if level > 0:
        factor = 2**level
        mask = reduce_block(mask, factor)
        x, y = x // factor, y // factor
    h, w = shape[:2]
    out = np.zeros((h, w, 1), np.float32)
    canvas = Rect(0, 0, mask.shape[1], mask.shape[0])
    part = Rect(x, y, w, h).intersect(canvas)
    if not part.empty:
        out[part.y - y : part.bottom - y, part.x - x : part.right - x] = mask[
            part.y : part.bottom, part.x : part.right
        ]
    return out
