"""Recipes: the effect steps of a document's history, saved as JSON and
applied again to other pictures.

A recipe is `{"warpaint_recipe": 1, "steps": [...]}`; each step names the
effect, its parameters, the layer it runs on ("current", "top" or
`{"name": ...}`), where the result goes ("new_layer" or "replace"), the
result layer's blend mode and opacity, and whether a selection restricted it.

Parameters that belong to one picture (`Param.image_bound`: eye points, a
region, a face, a mask from the document) are left out, so each picture finds
its own (the effect's `prefill` hook, as in the editor); a mask named by a
file is kept, as any file the recipe names. An image parameter taken from a
layer is written next to the recipe as a PNG and named by a path relative to
the recipe; file paths are stored relative to it too, except a model file in
the user's model folder or among the shipped models, which is stored by name
and sha256 (`{"model": "my-eyes.safetensors", "sha256": "..."}`) and found by
name, and checked, where the recipe is loaded (a folder directly in the user's
model folder counts as that folder: a user's fast-style presets live in one).
Loading checks everything before anything runs, and each problem is one
`BadInputError` naming the step: "step 2 (fast-style): strength: 3 is outside 0..1".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from warpaint.engine.core.compositing import is_blend_mode
from warpaint.engine.core.document import DocState, Document, Layer
from warpaint.engine.core.history import EffectStep, History
from warpaint.engine.core.tiles import from_float
from warpaint.engine.io.atomic import atomic_write
from warpaint.engine.io.limits import check_regular_file
from warpaint.engine.runtime.apply import (
    TARGETS,
    commit_effect,
    effect_job,
    resolve_references,
)
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.models import shipped_model_path, user_models_dir
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec, get_effect

RECIPE_VERSION = 1
# A recipe is a few steps of settings; anything bigger is not one.
MAX_RECIPE_BYTES = 1 << 20
MAX_STEPS = 1000
PATH_TYPES = frozenset({ParamType.IMAGE, ParamType.MASK, ParamType.FILE})
STEP_FIELDS = frozenset(
    {"effect", "params", "layer", "target", "blend_mode", "opacity", "restricted"}
)
INSTALLED_FIELDS = frozenset({"model", "sha256"})
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Recipe:
    """A checked recipe: its steps, with every file path absolute."""

    steps: tuple[EffectStep, ...]


# -- from history ----------------------------------------------------------


def recipe_from_history(
    history: History, folder: str | os.PathLike[str] | None = None, name: str = "recipe"
) -> dict[str, Any]:
    """The effect steps up to the history's current step, as recipe JSON data.

    File paths are made relative to `folder` (default: the working folder).
    An image parameter that was a layer (or an array) is named
    `<name>.step<N>.<param>.png` in `folder`; `save_recipe` writes those files.
    Raises BadInputError when the memory bound has dropped effect steps from
    the start of the history (the recipe would silently miss them).
    """
    data, _images = _collect(history, Path(folder) if folder is not None else Path.cwd(), name)
    return data


def save_recipe(path: str | os.PathLike[str], history: History) -> list[Path]:
    """Write the history's effect steps as a recipe at `path`, atomically, with
    the images taken from layers beside it; returns every file written, the
    recipe last."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    data, images = _collect(history, folder, target.stem)
    written: list[Path] = []
    for image_path, pixels in images.items():
        written.append(_write_png(image_path, pixels))
    with atomic_write(target, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    written.append(target)
    return written


def _collect(
    history: History, folder: Path, name: str
) -> tuple[dict[str, Any], dict[Path, np.ndarray]]:
    if history.dropped_effects:
        raise BadInputError(
            f"the first {history.dropped_effects} effect step(s) were dropped from the history "
            "to keep it within its memory bound; a recipe of the rest would miss them"
        )
    current = history.current
    steps: list[dict[str, Any]] = []
    images: dict[Path, np.ndarray] = {}
    for n, (index, step) in enumerate(history.effect_steps(), 1):
        spec = get_effect(step.effect_id)
        before = history.state_at(index - 1)
        params: dict[str, Any] = {}
        for p in spec.all_params(step.params):
            value = step.params.get(p.name)
            if value is None or (p.image_bound and not _named_file(p, value)):
                continue
            if p.type in (ParamType.IMAGE, ParamType.IMAGES):
                value = _image_files(n, spec, p, value, step, before, images, folder / name)
            elif p.type is ParamType.MASK and not isinstance(value, str | os.PathLike):
                raise BadInputError(
                    f"step {n} ({spec.id}): {p.name}: a mask from the document cannot be "
                    "saved in a recipe"
                )
            params[p.name] = value
        # The result layer as it is now: its blend mode or opacity may have changed since.
        shown = None if step.result_layer is None else _find_layer(current, step.result_layer)
        if shown is not None:
            step = replace(step, blend_mode=shown.blend_mode, opacity=shown.opacity)
        steps.append(_step_json(n, spec, step, params, folder))
    return {"warpaint_recipe": RECIPE_VERSION, "steps": steps}, images


def _image_files(
    n: int,
    spec: EffectSpec,
    p: Param,
    value: Any,
    step: EffectStep,
    state: DocState,
    images: dict[Path, np.ndarray],
    stem: Path,
) -> Any:
    """An image parameter's value with every layer (or array) in it replaced
    by the path of a PNG to write, `<stem>.step<N>.<param>[.<k>].png`; paths
    stay paths. The PNG holds what the effect read: a `placed` layer cut to
    the frame of the layer the effect ran on."""
    refs = [value] if p.type is ParamType.IMAGE else [ref for ref, _ in value]
    if all(isinstance(ref, str | os.PathLike) for ref in refs):
        return value
    frame = _find_layer(state, step.source_layer) if p.placed and step.source_layer else None
    try:
        resolved = resolve_references(spec, {p.name: value}, state, frame)[p.name]
    except BadInputError as err:
        raise BadInputError(f"step {n} ({spec.id}): {p.name}: {err}") from None
    if p.type is ParamType.IMAGE:
        return _image_path(value, resolved, state, images, Path(f"{stem}.step{n}.{p.name}.png"))
    return tuple(
        (
            _image_path(ref, pixels, state, images, Path(f"{stem}.step{n}.{p.name}.{k}.png")),
            weight,
        )
        for k, ((ref, weight), (pixels, _)) in enumerate(zip(value, resolved, strict=True), 1)
    )


def _image_path(
    value: Any, pixels: np.ndarray, state: DocState, images: dict[Path, np.ndarray], path: Path
) -> Any:
    if isinstance(value, str | os.PathLike):
        return value
    # An 8-bit layer is written in 8 bits, exactly; anything else in 16.
    exact = isinstance(value, int) and state.layer(value).pixels.dtype == np.uint8
    images[path] = from_float(pixels, np.dtype(np.uint8 if exact else np.uint16))
    return str(path)


def _find_layer(state: DocState, layer_id: int) -> Layer | None:
    try:
        return state.layer(layer_id)
    except KeyError:
        return None


def _write_png(path: Path, pixels: np.ndarray) -> Path:
    """An (H, W, 4) uint8 or uint16 array as a PNG, straight alpha kept as is."""
    if pixels.dtype == np.uint16:
        from warpaint.engine.io.pngio import encode16

        data = encode16(pixels)
        with atomic_write(path) as fh:
            fh.write(data)
        return path
    from PIL import Image

    with atomic_write(path) as fh:
        Image.fromarray(np.ascontiguousarray(pixels), "RGBA").save(fh, format="PNG")
    return path


def _step_json(
    n: int, spec: EffectSpec, step: EffectStep, params: dict[str, Any], folder: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {"effect": spec.id, "params": {}}
    for p in spec.all_params(params):
        if p.name in params and params[p.name] is not None:
            try:
                out["params"][p.name] = _param_json(p, params[p.name], folder)
            except BadInputError as err:
                raise BadInputError(f"step {n} ({spec.id}): {err}") from None
    layer: Any = {"name": step.layer_name} if step.layer == "named" else step.layer
    out.update(
        layer=layer,
        target=step.target,
        blend_mode=step.blend_mode,
        opacity=step.opacity,
        restricted=step.restricted,
    )
    return out


def _param_json(p: Param, value: Any, folder: Path) -> Any:
    if p.type is ParamType.FILE and _in_model_folder(value):
        path = Path(value)
        check_regular_file(path, f"{p.name}: {os.fspath(value)}")
        return {"model": path.name, "sha256": _sha256(path)}
    if p.type in PATH_TYPES:
        return _relative(value, folder)
    if p.type is ParamType.IMAGES:
        return [[_relative(ref, folder), float(weight)] for ref, weight in value]
    if isinstance(value, tuple | list):
        return [list(v) if isinstance(v, tuple | list) else v for v in value]
    return value


def _model_folders() -> tuple[Path, ...]:
    """Where a model named in a recipe is looked for, in order: the user's
    model folder, the folders directly in it (a feature's own, such as the
    fast-style presets made from the user's style images), then the shipped
    models."""
    user = user_models_dir()
    inner = sorted(p for p in user.iterdir() if p.is_dir()) if user.is_dir() else []
    return (user, *inner, shipped_model_path("-").parent)


def _in_model_folder(value: Any) -> bool:
    """Whether a path names a file directly in one of `_model_folders`."""
    folder = Path(os.path.abspath(value)).parent.resolve()
    return any(folder == place.resolve() for place in _model_folders())


def _sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks; kept while the file's
    identity, size and modification time stay the same."""
    st = os.stat(path)
    return _sha256_of(str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256_of(path: str, _dev: int, _ino: int, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _shown(path: Path) -> str:
    """A path for a message, the home folder written as ~."""
    try:
        return (Path("~") / path.relative_to(Path.home())).as_posix()
    except ValueError:
        return str(path)


def _relative(value: Any, folder: Path) -> str:
    """A path as the recipe stores it: relative to the recipe's folder."""
    return Path(os.path.relpath(Path(value).resolve(), folder.resolve())).as_posix()


# -- loading -----------------------------------------------------------------


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and check a recipe file; file paths in it are relative to it."""
    check_regular_file(path)
    size = os.stat(path).st_size
    if size > MAX_RECIPE_BYTES:
        raise BadInputError(
            f"{os.fspath(path)}: {size} bytes is too big for a recipe "
            f"(at most {MAX_RECIPE_BYTES} bytes)"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInputError(f"{os.fspath(path)}: not a recipe (invalid JSON: {err})") from None
    try:
        return parse_recipe(data, Path(path).parent)
    except BadInputError as err:
        raise BadInputError(f"{os.fspath(path)}: {err}") from None


def parse_recipe(data: Any, folder: str | os.PathLike[str] = ".") -> Recipe:
    """Check recipe JSON data; relative paths in it are taken from `folder`."""
    if not isinstance(data, dict) or "warpaint_recipe" not in data:
        raise BadInputError("not a Warpaint recipe (no 'warpaint_recipe' version)")
    version = data["warpaint_recipe"]
    if version != RECIPE_VERSION:
        raise BadInputError(
            f"recipe version {version!r} is not one this Warpaint reads ({RECIPE_VERSION})"
        )
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise BadInputError("a recipe's 'steps' must be a list")
    if len(steps) > MAX_STEPS:
        raise BadInputError(f"a recipe holds at most {MAX_STEPS} steps, this one {len(steps)}")
    base = Path(folder)
    return Recipe(tuple(_parse_step(n, item, base) for n, item in enumerate(steps, 1)))


def _parse_step(n: int, item: Any, base: Path) -> EffectStep:
    if not isinstance(item, dict):
        raise BadInputError(f"step {n}: expected an object with an 'effect'")
    effect_id = item.get("effect")
    if not isinstance(effect_id, str):
        raise BadInputError(f"step {n}: 'effect' must be an effect id")
    try:
        spec = get_effect(effect_id)
    except BadInputError as err:
        raise BadInputError(f"step {n} ({effect_id}): {err}") from None
    where = f"step {n} ({spec.id})"
    try:
        unknown = sorted(set(item) - STEP_FIELDS)
        if unknown:
            raise BadInputError(f"unknown field {unknown[0]!r}")
        params = _parse_params(spec, item.get("params", {}), base)
        layer, layer_name = _parse_layer(item.get("layer", "current"))
        target = item.get("target", "new_layer")
        if target not in TARGETS:
            raise BadInputError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
        blend_mode = item.get("blend_mode", "normal")
        if not isinstance(blend_mode, str) or not is_blend_mode(blend_mode):
            raise BadInputError(f"blend_mode: {blend_mode!r} is not a blend mode")
        opacity = item.get("opacity", 1.0)
        if (
            isinstance(opacity, bool)
            or not isinstance(opacity, int | float)
            or not 0.0 <= opacity <= 1.0
        ):
            raise BadInputError(f"opacity: {opacity!r} is outside 0..1")
        restricted = item.get("restricted", False)
        if not isinstance(restricted, bool):
            raise BadInputError(f"restricted: expected true or false, got {restricted!r}")
    except BadInputError as err:
        raise BadInputError(f"{where}: {err}") from None
    return EffectStep(
        effect_id=spec.id,
        params=params,
        target=target,
        layer=layer,
        layer_name=layer_name,
        blend_mode=blend_mode,
        opacity=float(opacity),
        restricted=restricted,
    )


def _parse_layer(value: Any) -> tuple[str, str | None]:
    if value in ("current", "top"):
        return value, None
    if isinstance(value, dict) and set(value) == {"name"} and isinstance(value["name"], str):
        return "named", value["name"]
    raise BadInputError(f"layer: {value!r} is not 'current', 'top' or {{\"name\": ...}}")


def _parse_params(spec: EffectSpec, raw: Any, base: Path) -> dict[str, Any]:
    """The step's parameters, each checked by its own `Param.validate`;
    parameters that belong to one picture are dropped."""
    if not isinstance(raw, dict):
        raise BadInputError("'params' must be an object")
    declared = {p.name: p for p in spec.params}
    values: dict[str, Any] = {}
    # Declared parameters first: derived ones (a model's sliders) depend on them.
    for name in sorted(raw, key=lambda k: k not in declared):
        params = declared if name in declared else {p.name: p for p in spec.all_params(values)}
        p = params.get(name)
        if p is None:
            raise BadInputError(f"{spec.id} has no parameter {name!r}")
        if raw[name] is None or (p.image_bound and not _named_file(p, raw[name])):
            continue
        values[name] = p.validate(_from_json(p, raw[name], base))
    spec.resolve(values)
    return values


def _named_file(p: Param, value: Any) -> bool:
    """Whether a parameter's value names a file (a mask or image given by
    path): a recipe keeps such a file for every picture, even for a parameter
    that otherwise belongs to one picture; the effect fits it to each."""
    return p.type in PATH_TYPES and isinstance(value, str | os.PathLike)


def _from_json(p: Param, value: Any, base: Path) -> Any:
    t = p.type
    if t is ParamType.FILE and isinstance(value, dict):
        return _installed_model(p, value)
    if t in PATH_TYPES:
        return _checked_path(p, value, base)
    if t is ParamType.IMAGES:
        if not isinstance(value, list) or not all(
            isinstance(v, list) and len(v) == 2 for v in value
        ):
            raise BadInputError(f"{p.name}: expected a list of [path, weight] pairs")
        return tuple((_checked_path(p, ref, base), weight) for ref, weight in value)
    if t is ParamType.INTEGER and isinstance(value, float) and not value.is_integer():
        raise BadInputError(f"{p.name}: {value} is not a whole number")
    if t in (ParamType.POINTS, ParamType.RECT):
        if not isinstance(value, list):
            raise BadInputError(f"{p.name}: expected a list of numbers")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    if t in (ParamType.CHOICE,) and not isinstance(value, str):
        raise BadInputError(f"{p.name}: {value!r} is not one of {', '.join(p.choices)}")
    return value


def _checked_path(p: Param, value: Any, base: Path) -> str:
    if not isinstance(value, str) or not value:
        raise BadInputError(f"{p.name}: expected a file path, got {value!r}")
    path = Path(value)
    full = path if path.is_absolute() else base / path
    check_regular_file(full, f"{p.name}: {value}")
    return str(full)


def _installed_model(p: Param, value: dict[str, Any]) -> str:
    """The path of the model a recipe names by `{"model": name, "sha256": hex}`:
    the first file of that name in `_model_folders` whose sha256 is the one
    the recipe was made with."""
    name, expected = value.get("model"), value.get("sha256")
    if (
        set(value) != INSTALLED_FIELDS
        or not isinstance(name, str)
        or name in ("", ".", "..")
        or Path(name).name != name
        or "\\" in name
        or not isinstance(expected, str)
        or not SHA256_HEX.fullmatch(expected)
    ):
        raise BadInputError(
            f"{p.name}: expected a file path or a model's file name and sha256 "
            f"({{'model': ..., 'sha256': <64 hex digits>}}), got {value!r}"
        )
    found = [place / name for place in _model_folders() if os.path.lexists(place / name)]
    if not found:
        raise BadInputError(
            f"{p.name}: {name!r} is not installed in {_shown(user_models_dir())}; "
            "copy the model file there to run this step"
        )
    digests = []
    for path in found:
        check_regular_file(path, f"{p.name}: {_shown(path)}")
        digest = _sha256(path)
        if digest == expected:
            return str(path)
        digests.append(digest)
    raise BadInputError(
        f"{p.name}: the installed {_shown(found[0])} differs from the file this recipe was "
        f"made with (sha256 {digests[0][:12]}..., the recipe's {expected[:12]}...)"
    )


# -- running -----------------------------------------------------------------


def run_recipe(
    doc: Document,
    recipe: Recipe | Mapping[str, Any],
    device: str | None = None,
    on_message: Callable[[str], None] | None = None,
    check: Callable[[], None] | None = None,
) -> Document:
    """Apply the recipe's steps to `doc` in order, each one undoable step made
    as `warpaint apply` makes it (`effect_job`, then `commit_effect`); returns
    `doc`. JSON data (a dict) is checked first, paths taken from the working
    folder.

    "current" is the layer the previous step made or changed (the top layer
    for the first step). A step that a selection restricted runs on the whole
    layer (the selection was of another picture), with a note to `on_message`.

    `check` is the cancellation of the whole recipe: it is called before each
    step and at each of the effects' own cancellation points, and raises
    (`JobCancelled`) to stop. The steps committed before it raised stay in
    `doc`; no step is left half-applied.
    """
    from warpaint.engine.runtime.device import choose_device

    checked = recipe if isinstance(recipe, Recipe) else parse_recipe(recipe)
    note = on_message or (lambda _text: None)
    stop = check or (lambda: None)
    if not doc.layers:
        raise BadInputError("the document has no layers")
    chosen = choose_device(device)
    current = doc.layers[-1].id
    for n, step in enumerate(checked.steps, 1):
        stop()
        spec = get_effect(step.effect_id)
        layer = _pick(doc, step, current, f"step {n} ({spec.id})")
        params = _with_prefill(spec, dict(step.params), layer)
        if step.restricted:
            note(f"step {n} ({spec.id}) was restricted to a selection; it runs on the whole layer")
        job = Job(lambda _ctx: None, label=spec.id, device=chosen)
        result = effect_job(doc.state, layer.id, spec.id, params)(_StepContext(job, stop))
        made = commit_effect(
            doc,
            result,
            step.target,
            layer_rule=step.layer,
            layer_name=step.layer_name,
            blend_mode=step.blend_mode,
            opacity=step.opacity,
        )
        for message in job.messages:
            note(message)
        current = made.id
    return doc


class _StepContext(JobContext):
    """One step's job context: its own notes, and the whole recipe's
    cancellation checked at each of the effect's cancellation points."""

    def __init__(self, job: Job, stop: Callable[[], None]) -> None:
        super().__init__(job)
        self._stop = stop

    def check(self) -> None:
        self._stop()
        super().check()


def _pick(doc: Document, step: EffectStep, current: int, where: str) -> Layer:
    if step.layer == "named":
        for layer in reversed(doc.layers):
            if layer.name == step.layer_name:
                return layer
        raise BadInputError(f"{where}: no layer named {step.layer_name!r}")
    if step.layer == "current":
        found = _find_layer(doc.state, current)
        if found is not None:
            return found
    return doc.layers[-1]


def _with_prefill(spec: EffectSpec, params: dict[str, Any], layer: Layer) -> dict[str, Any]:
    """`params` with the picture's own values for parameters that belong to
    one picture, found by the effect's `prefill` hook as the editor finds them."""
    bound = {p.name for p in spec.all_params(params) if p.image_bound and p.name not in params}
    prefill = spec.hook("prefill")
    if not bound or prefill is None:
        return params
    found = prefill(layer.pixels.read_float())
    return params | {k: v for k, v in found.items() if k in bound}
