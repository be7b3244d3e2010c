"""Attribute sliders: edit a region along learned directions of an autoencoder.

The region (an eye, a face: any rectangle) is cut out, resized to the model's
crop, encoded once (cached, so a slider drag only decodes), moved by
sum_k alpha_k v_k in latent space and decoded; only the decoded difference is
added back to the region, through a window that fades to zero at its edge
(`warpaint.engine.features.eyes.attributes.edit_region`). One slider per attribute of the
model (its names come from the model file, read without torch); the built-in
model edits eyes: gaze left/right and up/down, openness (blink), pupil size,
iris colour. Its blink (openness below 0) draws an upper lid over the eye
from the eye's landmarks and the picture's own skin (`lid.py`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warpaint.engine.features.eyes.attributes import MODEL
from warpaint.engine.features.eyes.faces import ALL_FACES, chosen_faces, face_param
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np
    import torch

    from warpaint.engine.features.eyes.attributes import EncodingCache
    from warpaint.engine.features.eyes.autoencoder import AttributeModel
    from warpaint.engine.runtime.jobs import JobContext

SPEC = EffectSpec(
    id="attributes",
    model=MODEL,
    title="Attribute sliders",
    category="Neural",
    description="Change an eye (or any region) along learned attribute directions: "
    "gaze, blink, pupil size, iris colour with the built-in eye model.",
    params=(
        Param("region", "Region", ParamType.RECT, default=None, image_bound=True,
              help="x, y, w, h of the area to edit (empty: the whole layer). For the eye "
                   "model, frame the eye with its corners at 20 % and 80 % of the width."),
        Param("model", "Model file", ParamType.FILE, default=None,
              help="An autoencoder .safetensors from 'warpaint train autoencoder' "
                   "(empty: the built-in eye model)."),
        Param("mirror", "Mirror (subject's right eye)", ParamType.BOOL, default=False,
              image_bound=True,
              help="Flip the region into the model's frame (the eye model sees left eyes)."),
        Param("feather", "Feather", ParamType.NUMBER, default=0.15, min=0.0, max=0.5,
              step=0.01, help="Width of the fade at the region's edge, as a fraction of "
                              "its shorter side."),
        face_param("With no region: the detected face whose eyes are edited, counted from "
                   "the image's left from 0 (the panel's face list sets it), each eye framed "
                   "as the eye model's crop (a model of other crops gets the face's box); "
                   "'all' (or -1): every face found."),
    ),
)  # fmt: skip
FIXED = frozenset(p.name for p in SPEC.params)


# The demo runs on the sample document, whose bottom layer is the astronaut
# portrait: with no region the sliders edit the eyes of the face detected
# there. The quick demo's 192 px copy is too small for the face detector, so
# it gets her image-right eye's region, framed from the gaze demo's corners.
# The sliders are the shipped model's; without it the effect is skipped.
DEMO_PARAMS: dict[str, Any] = {"pupil": 1.0, "iris_colour": 1.0}


def _quick_demo_region() -> tuple[float, ...]:
    from warpaint.engine.features.eyes.attributes import eye_region
    from warpaint.engine.features.eyes.effect_gaze import DEMO_PARAMS_QUICK as GAZE_QUICK

    box, _mirror = eye_region(GAZE_QUICK["eyes"][2:4])
    return tuple(round(v, 2) for v in box)


DEMO_PARAMS_QUICK: dict[str, Any] = {"region": _quick_demo_region}

# Slider lists read from model headers, by file version (path, mtime_ns, size):
# a model file rewritten in place is read again. Models themselves live in the
# runtime's one model store (`load`).
HEADER_CACHE_SIZE = 8
# Crops whose encodings are kept: a drag over every eye of 16 faces re-encodes none.
ENCODING_CACHE_SIZE = 32

_lock = threading.Lock()
_headers: OrderedDict[tuple[str, int, int], list[Param]] = OrderedDict()
_cache: EncodingCache | None = None
# Sliders built from example images (`add_slider`) since the program started,
# per model file: (its Param, its (L,) vector, its unit, "paired" or "unpaired"). They
# live in memory, are added to that model whenever it is loaded, and are
# written to disk only by `save_model_copy`, into a copy of the model file
# (never into the original).
_session: dict[str, dict[str, tuple[Param, Any, str, str]]] = {}


def _model_path(value: Any) -> Path:
    from warpaint.engine.features.eyes.attributes import default_model_path

    return Path(str(value)) if value else default_model_path()


def _version(path: Path) -> tuple[str, int, int]:
    """(path, mtime_ns, size): what tells a rewritten model file apart. The path
    is not resolved: the panel asks for the slider list many times a frame."""
    try:
        stat = path.stat()
    except OSError:
        raise BadInputError(f"{path}: no such model file") from None
    return str(path), stat.st_mtime_ns, stat.st_size


def extra_params(values: Mapping[str, Any]) -> list[Param]:
    """One slider per attribute of the chosen model (the built-in one by default).

    Read from the model file's header without torch, cached by the file's
    version (path, modification time, size) for the last `HEADER_CACHE_SIZE`
    files. No built-in model installed means no sliders.
    """
    from warpaint.engine.features.eyes.attributes import read_model_header

    path = _model_path(values.get("model"))
    try:
        key = _version(path)
    except BadInputError:
        if values.get("model"):
            raise
        return []
    with _lock:
        hit = _headers.get(key)
        if hit is not None:
            _headers.move_to_end(key)
        added = [entry[0] for entry in _session.get(str(path), {}).values()]
    if hit is not None:
        return hit + added
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
        while len(_headers) > HEADER_CACHE_SIZE:
            _headers.popitem(last=False)
    return params + added


def load(value: Any, device: torch.device | str) -> AttributeModel:
    """The model (file path or None for the built-in one) on `device`, with the
    sliders built from examples since the program started.

    Loaded through the runtime's model store (`runtime.models.cached_model`):
    kept per file version and device among the few models it holds, so a
    retrained file at the same path is loaded again.
    """
    from warpaint.engine.features.eyes.autoencoder import load_attribute_model
    from warpaint.engine.runtime.models import cached_model

    path = _model_path(value)

    def on_device(name: str) -> AttributeModel:
        model = load_attribute_model(name)
        model.net.to(device)
        return model

    model = cached_model(path, str(device), on_device)
    _add_session_sliders(model, str(path))
    return model


def _add_session_sliders(model: AttributeModel, path: str) -> None:
    """Give `model` (maybe shared through the model store) the sliders built for
    `path` that it lacks or holds an older vector of."""
    import torch

    from warpaint.engine.features.eyes.autoencoder import Attribute

    with _lock:
        added = dict(_session.get(path, {}))
    for name, (param, vector, unit, source) in added.items():
        held = model.attributes.get(name)
        if held is not None and held.unit == unit and torch.equal(held.vector, vector):
            continue
        lo = -2.0 if param.min is None else float(param.min)
        hi = 2.0 if param.max is None else float(param.max)
        model.add(Attribute(name, vector, param.label, unit, source, lo, hi))


def add_slider(
    name: str,
    without: Sequence[np.ndarray | str | Path],
    with_: Sequence[np.ndarray | str | Path],
    *,
    model: Any = None,
    paired: bool = False,
    region: Sequence[float] | None = None,
    mirror: bool = False,
) -> Param:
    """Build a slider from example images and add it to `model` until the program exits.

    `without` / `with_`: images without and with the attribute, each an
    (H, W, C>=3) float array in [0, 1] (a layer's pixels) or an image file.
    Unpaired: v = mean(e(with)) - mean(e(without)); `paired`: with_[i] is
    without[i] with the attribute, v = mean(e(with_[i]) - e(without[i])).
    With `region` (x, y, w, h in each image's pixels) only that box of each
    image is used, `mirror` flipping it as the effect does. `name` is made
    snake_case; a name of the model's own sliders or parameters is refused, a
    slider built earlier (since the program started) with that name is replaced. Returns
    the new slider's Param; `extra_params` lists it from now on, and the
    effect edits with it at once (no training).
    """
    from warpaint.engine.features.eyes.attributes import (
        crops_from_images,
        model_size,
        slider_from_pairs,
        slider_from_sets,
        slider_name,
    )
    from warpaint.engine.io.documents import read_image_array

    if not name.strip():
        raise BadInputError("the new slider needs a name")
    slider = slider_name(name)
    path = _model_path(model)
    if slider in FIXED:
        raise BadInputError(f"{slider!r} is a parameter of the effect; choose another name")
    with _lock:
        ours = slider in _session.get(str(path), {})
    if not ours and any(p.name == slider for p in extra_params({"model": model})):
        raise BadInputError(f"the model already has a slider {slider!r}; choose another name")
    if not without or not with_:
        raise BadInputError("a slider needs at least one image 'without' and one 'with'")
    if paired and len(without) != len(with_):
        raise BadInputError(
            f"pairs need as many 'with' images as 'without' images ({len(with_)} vs {len(without)})"
        )

    def pixels(item: np.ndarray | str | Path) -> np.ndarray:
        return read_image_array(item) if isinstance(item, str | Path) else item

    # On the CPU: the store keeps this copy apart from one a preview uses elsewhere.
    net_model = load(model, "cpu")
    size, alignment = model_size(net_model), net_model.alignment
    a = crops_from_images([pixels(i) for i in without], size, alignment, region, mirror)
    b = crops_from_images([pixels(i) for i in with_], size, alignment, region, mirror)
    device = next(net_model.net.parameters()).device
    vector = (slider_from_pairs if paired else slider_from_sets)(net_model, a, b, device=device)
    how = "pairs" if paired else "examples"
    unit = f"from the {len(without)} 'without' to the {len(with_)} 'with' {how}"
    param = Param(slider, name.strip(), ParamType.NUMBER, default=0.0, min=-2.0, max=2.0,
                  step=0.05, help=f"1 = {unit}")  # fmt: skip
    source = "paired" if paired else "unpaired"
    with _lock:
        _session.setdefault(str(path), {})[slider] = (param, vector.detach().cpu(), unit, source)
    _add_session_sliders(net_model, str(path))
    return param


def session_sliders(model: Any = None) -> list[str]:
    """Names of the sliders built since the program started for `model` (None: the built-in one).

    They live in memory only; `save_model_copy` writes them to a file.
    """
    with _lock:
        return list(_session.get(str(_model_path(model)), {}))


def save_model_copy(destination: str | Path, model: Any = None) -> Path:
    """Write `model` with the sliders built since the program started into a new model file.

    Returns the new file's path.

    The original (e.g. the built-in model inside the installation) is never
    overwritten; choose the copy as the effect's model file to use it later.
    """
    from warpaint.engine.features.eyes.autoencoder import load_attribute_model, save_attribute_model

    source = _model_path(model)
    target = Path(destination)
    if target.suffix.lower() != ".safetensors":
        raise BadInputError(f"{target}: a model file must end in .safetensors")
    if target.resolve() == source.resolve():
        raise BadInputError(f"{target}: save the sliders into a copy, not over the model itself")
    if not session_sliders(model):
        raise BadInputError("no sliders were built in this session for this model")
    copy = load_attribute_model(source)
    _add_session_sliders(copy, str(source))
    copy.info = {**copy.info, "copied_from": source.name,
                 "sliders_added": session_sliders(model)}  # fmt: skip
    save_attribute_model(target, copy)
    return target


def encoding_cache() -> EncodingCache:
    """The effect's cache of crop encodings (bounded; keyed by model and crop)."""
    global _cache
    from warpaint.engine.features.eyes.attributes import EncodingCache

    with _lock:
        if _cache is None:
            _cache = EncodingCache(ENCODING_CACHE_SIZE)
        return _cache


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    from warpaint.engine.features.eyes.attributes import edit_regions

    model = load(params.get("model"), image.device)
    values = {name: float(params.get(name) or 0.0) for name in tuple(model.attributes)}
    if all(v == 0.0 for v in values.values()):
        return image.clone()
    region = params.get("region")
    mirror = bool(params.get("mirror", False))
    regions: list[tuple[Sequence[float], bool]]
    if region is not None:
        # A preview runs on a reduced layer; the region is in full-size pixels.
        regions = [(tuple(float(v) * ctx.scale for v in region), mirror)]
    else:
        # No region: the eyes of the face asked for (every face with 'all'),
        # never the whole picture as if it were one eye.
        pixels = image[0].permute(1, 2, 0).cpu().numpy()
        regions = face_regions(pixels, model, int(params.get("face", 0)))
    ctx.check()
    return edit_regions(
        model, image, regions, values, feather=float(params.get("feather", 0.15)),
        cache=encoding_cache(),
    )  # fmt: skip


def face_regions(
    image: np.ndarray, model: AttributeModel, face: int = ALL_FACES
) -> list[tuple[Sequence[float], bool]]:
    """(region (x, y, w, h), mirror) of face `face` detected in `image` ((H, W, C)
    float in [0, 1]), counted from the image's left (`ALL_FACES`: every face):
    for an eye model ("eye-corners" alignment) each eye framed as its crop
    (`attributes.eye_region`, the subject's right eye mirrored), for any
    other model the face's box. Raises BadInputError when no face is found
    or `face` is past the faces found."""
    from warpaint.engine.features.eyes.attributes import eye_region, model_size
    from warpaint.engine.features.eyes.detect import detect_faces_cached

    faces = sorted(detect_faces_cached(image), key=lambda f: f.box[0])
    if not faces:
        raise BadInputError(
            "attributes: no face found in the image; give the region to edit (--set region=x,y,w,h)"
        )
    faces = chosen_faces(faces, face, "attributes")
    if model.alignment != "eye-corners":
        return [(tuple(float(v) for v in f.box), False) for f in faces]
    size = model_size(model)
    return [eye_region(eye.corners.tolist(), size) for f in faces for eye in f.eyes]


def prefill(image: Any) -> dict[str, Any]:
    """The panel hook: frame the first detected face's image-right eye (the
    subject's left, not mirrored) as the region, so the sliders work at once."""
    import numpy as np

    from warpaint.engine.features.eyes.attributes import eye_region
    from warpaint.engine.features.eyes.detect import detect_faces_cached

    # Cached by the layer's pixels, shared with the gaze effect and its panel.
    faces = detect_faces_cached(np.asarray(image))
    if not faces:
        return {}
    eye = faces[0].eyes[1]
    box, mirror = eye_region(eye.corners.tolist())
    return {"region": tuple(float(v) for v in box), "mirror": bool(mirror)}


def region(params: dict[str, Any], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The panel-preview hook: only the region's box can change, so a slider
    preview reads and computes just that patch of the layer at full size (a
    drag on a big portrait then costs the eye, not the frame). None without a
    region (the whole layer is the region) or with one the effect would refuse."""
    from warpaint.engine.features.eyes.attributes import region_box

    box = params.get("region")
    if box is None:
        return None
    try:
        x0, y0, x1, y1 = region_box(box, height, width)
    except BadInputError:
        return None
    return x0, y0, x1 - x0, y1 - y0
