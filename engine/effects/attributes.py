"""Attribute sliders: edit a region along learned directions of an autoencoder.

The region (an eye, a face: any rectangle) is cut out, resized to the model's
crop, encoded once (cached, so a slider drag only decodes), moved by
sum_k alpha_k v_k in latent space and decoded; only the decoded difference is
added back to the region, through a window that fades to zero at its edge
(`warpaint.engine.attributes.edit_region`). One slider per attribute of the
model (its names come from the model file, read without torch); the built-in
model edits eyes: gaze left/right and up/down, openness (blink), pupil size,
iris colour.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warpaint.engine.errors import BadInputError
from warpaint.engine.params import Param, ParamType
from warpaint.engine.registry import EffectSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    import torch

    from warpaint.engine.attributes import EncodingCache
    from warpaint.engine.jobs import JobContext
    from warpaint.engine.nets.autoencoder import AttributeModel

SPEC = EffectSpec(
    id="attributes",
    title="Attribute sliders",
    category="Neural",
    description="Change an eye (or any region) along learned attribute directions: "
    "gaze, blink, pupil size, iris colour with the built-in eye model.",
    params=(
        Param("region", "Region", ParamType.RECT, default=None,
              help="x, y, w, h of the area to edit (empty: the whole layer). For the eye "
                   "model, frame the eye with its corners at 20 % and 80 % of the width."),
        Param("model", "Model file", ParamType.FILE, default=None,
              help="An autoencoder .safetensors from 'warpaint train autoencoder' "
                   "(empty: the built-in eye model)."),
        Param("mirror", "Mirror (subject's right eye)", ParamType.BOOL, default=False,
              help="Flip the region into the model's frame (the eye model sees left eyes)."),
        Param("feather", "Feather", ParamType.NUMBER, default=0.15, min=0.0, max=0.5,
              step=0.01, help="Width of the fade at the region's edge, as a fraction of "
                              "its shorter side."),
    ),
)  # fmt: skip
FIXED = frozenset(p.name for p in SPEC.params)


def _has_default_model() -> bool:
    from warpaint.engine.attributes import default_model_path

    return default_model_path().is_file()


# The demo runs on the sample photo (no eye in it): it shows the sliders act.
DEMO_PARAMS: dict[str, Any] = {"pupil": 1.0, "iris_colour": 1.0} if _has_default_model() else {}

_lock = threading.Lock()
_headers: dict[tuple[str, float], list[Param]] = {}
_models: dict[tuple[str, float, str], AttributeModel] = {}
_cache: EncodingCache | None = None


def _model_path(value: Any) -> Path:
    from warpaint.engine.attributes import default_model_path

    return Path(str(value)) if value else default_model_path()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        raise BadInputError(f"{path}: no such model file") from None


def extra_params(values: Mapping[str, Any]) -> list[Param]:
    """One slider per attribute of the chosen model (the built-in one by default).

    Read from the model file's header without torch, cached by path and
    modification time. No built-in model installed means no sliders.
    """
    from warpaint.engine.attributes import read_model_header

    path = _model_path(values.get("model"))
    if not values.get("model") and not path.is_file():
        return []
    key = (str(path), _mtime(path))
    with _lock:
        hit = _headers.get(key)
    if hit is not None:
        return hit
    meta = read_model_header(path)
    params: list[Param] = []
    for item in meta["attributes"]:
        name = str(item.get("name", ""))
        if name in FIXED:
            raise BadInputError(f"{path}: attribute {name!r} clashes with a parameter name")
        try:
            lo, hi = float(item.get("min", -2.0)), float(item.get("max", 2.0))
            unit = str(item.get("unit", ""))
            params.append(
                Param(name, str(item.get("label") or name), ParamType.NUMBER, default=0.0,
                      min=min(lo, 0.0), max=max(hi, 0.0), step=0.05,
                      help=f"1 = {unit}" if unit else "")
            )  # fmt: skip
        except (TypeError, ValueError):
            raise BadInputError(f"{path}: attribute {name!r} is not a valid slider") from None
    with _lock:
        _headers[key] = params
    return params


def load(value: Any, device: torch.device | str) -> AttributeModel:
    """The model (file path or None for the built-in one) on `device`, cached."""
    from warpaint.engine.nets.autoencoder import load_attribute_model

    path = _model_path(value)
    key = (str(path), _mtime(path), str(device))
    with _lock:
        model = _models.get(key)
    if model is None:
        model = load_attribute_model(path)
        model.net.to(device)
        with _lock:
            _models.clear()  # one model at a time: a drag never needs two
            _models[key] = model
    return model


def encoding_cache() -> EncodingCache:
    global _cache
    from warpaint.engine.attributes import EncodingCache

    with _lock:
        if _cache is None:
            _cache = EncodingCache()
        return _cache


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    from warpaint.engine.attributes import edit_region

    model = load(params.get("model"), image.device)
    values = {name: float(params.get(name) or 0.0) for name in model.attributes}
    if all(v == 0.0 for v in values.values()):
        return image.clone()
    region = params.get("region")
    if region is None:
        region = (0.0, 0.0, float(image.shape[3]), float(image.shape[2]))
    else:
        # A preview runs on a reduced layer; the region is in full-size pixels.
        region = tuple(float(v) * ctx.scale for v in region)
    ctx.check()
    return edit_region(
        model, image, region, values, feather=float(params.get("feather", 0.15)),
        mirror=bool(params.get("mirror", False)), cache=encoding_cache(),
    )  # fmt: skip


def prefill(image: Any) -> dict[str, Any]:
    """The panel hook: frame the first detected face's image-right eye (the
    subject's left, not mirrored) as the region, so the sliders work at once."""
    import numpy as np

    from warpaint.engine.attributes import eye_region
    from warpaint.engine.eyes.detect import detect_faces

    faces = detect_faces(np.ascontiguousarray(image[..., :3]))
    if not faces:
        return {}
    eye = faces[0].eyes[1]
    box, mirror = eye_region(eye.corners.tolist())
    return {"region": tuple(float(v) for v in box), "mirror": bool(mirror)}
