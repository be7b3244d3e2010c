"""The one model store: finds, checks, loads and caches weight files.

- *Finding*: a shipped model lives in the installed `warpaint.resources`
  package (`shipped_model_path`); a user's models live in the platform's data
  folder (`user_models_dir`, listed by `user_models`). `ModelFile` names one
  model an effect needs, where to look for it, and the command that makes it,
  so a missing file is a reason to show, not an effect that vanishes.
- *Reading the header* (`read_meta`): torch-free, under one size limit, the
  metadata under one key; listing effects and sliders needs nothing else.
- *Checking*: `check_model_sizes` holds a model's config to the bounds its
  loader names before anything is built, and `build_within_file` refuses a
  network larger than the file's weights.
- *Loading*: two formats only, safetensors, and PyTorch pickles read with
  `torch.load(weights_only=True)`, whose unpickler builds tensors and plain
  containers and refuses anything that would run code. A file that needs more
  is refused with a one-line reason, never unpickled.
- *Caching* (`cached_model`): a built model is kept by (path, mtime_ns, size,
  device, builder), a few at a time, so a retrained file is reloaded.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from warpaint.engine.io.limits import check_regular_file
from warpaint.engine.runtime.errors import BadInputError

if TYPE_CHECKING:
    import torch

ModuleT = TypeVar("ModuleT", bound="torch.nn.Module")
T = TypeVar("T")

# -- finding ----------------------------------------------------------------------


def shipped_model_path(name: str) -> Path:
    """Where the shipped model `name` is (or would be) in the installed package."""
    return _shipped_models_dir() / name


@functools.cache
def _shipped_models_dir() -> Path:
    # Where the package is installed does not change while the program runs;
    # asking importlib.resources costs more than the stat that follows, and
    # effect panels look models up several times a frame.
    from importlib.resources import files

    return Path(str(files("warpaint.resources").joinpath("models")))


def user_models_dir() -> Path:
    """The user's model folder: `$XDG_DATA_HOME/warpaint/models` (default
    ~/.local/share) on Linux, the platform's application data folder elsewhere."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "warpaint" / "models"


def user_models() -> list[Path]:
    """The model files in the user's model folder, by name."""
    folder = user_models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".safetensors" and p.is_file())


# (model name, $env override) -> the first candidate path, where it was a file.
_first_found: dict[tuple[str, str | None], Path] = {}


@dataclass(frozen=True)
class ModelFile:
    """A model an effect needs: its file name, and the command that makes it.

    Found at `$<env>` when that is set, else shipped, else in the user's model
    folder (where a model trained after installing goes)."""

    name: str
    command: str
    env: str | None = None

    def locate(self) -> Path | None:
        """The model's path, or None when no file is there."""
        override = os.environ.get(self.env) if self.env else None
        # Effect panels ask several times a frame; building the candidate paths
        # costs ten times the stat. Where the first candidate was found, one
        # stat of it answers the same.
        known = _first_found.get((self.name, override))
        if known is not None and known.is_file():
            return known
        candidates = (
            [Path(override)]
            if override
            else [shipped_model_path(self.name), user_models_dir() / self.name]
        )
        found = next((p for p in candidates if p.is_file()), None)
        if found is not None and found == candidates[0]:
            _first_found[(self.name, override)] = found
        return found

    def default_path(self) -> Path:
        """The model's path, else where it is looked for first (the override or
        the shipped place), for messages and for writing it there."""
        found = self.locate()
        if found is not None:
            return found
        override = os.environ.get(self.env) if self.env else None
        return Path(override) if override else shipped_model_path(self.name)

    def missing_reason(self) -> str:
        """One line for the user: which file is missing and the command that makes it."""
        override = os.environ.get(self.env) if self.env else None
        target = Path(override) if override else user_models_dir() / self.name
        return f"the model {self.name} is not installed; make it with '{self.command} -o {target}'"

    def path(self) -> Path:
        """The model's path; BadInputError with `missing_reason` when there is none."""
        found = self.locate()
        if found is None:
            raise BadInputError(self.missing_reason())
        return found


# -- reading the header without torch ---------------------------------------------
# One .safetensors file per model; its header metadata carries a JSON object
# under META_KEY with at least {"kind": ..., "format": int} plus whatever the
# model needs to rebuild itself (sizes, names of styles or attributes). The
# training record (command, seed, steps, time, device, scores) lives in a
# sidecar `<name>.json` next to it, written by the trainer.

META_KEY = "warpaint"
# The safetensors library's own limit on a header: a length field past it is
# refused before anything is read, so a hostile file cannot make us read a disk.
MAX_HEADER_BYTES = 100_000_000


def read_meta(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """The Warpaint metadata of the model file at `path`, read without torch.

    Raises BadInputError with a one-line reason when the file is missing, not
    safetensors, has an over-long or malformed header (deep JSON included), no
    Warpaint metadata, or holds another kind of model.
    """
    file = _regular_file(path, "model")
    if file.suffix.lower() != ".safetensors":
        raise BadInputError(f"{file}: model files are .safetensors")
    try:
        with open(file, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > MAX_HEADER_BYTES:
                raise BadInputError(
                    f"{file}: its header claims {length:,} bytes ({MAX_HEADER_BYTES:,} allowed)"
                )
            header = json.loads(f.read(length))
    except BadInputError:
        raise
    except (OSError, ValueError, RecursionError, struct.error) as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise BadInputError(f"{file}: not a readable safetensors file ({first})") from None
    try:
        meta = json.loads(header["__metadata__"][META_KEY])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise BadInputError(f"{file}: not a Warpaint model file (no model metadata)") from None
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else None
        article = "an" if kind[:1] in "aeiou" else "a"
        raise BadInputError(f"{file}: holds a {found!r} model, not {article} {kind!r} model")
    return meta


# -- loading ----------------------------------------------------------------------


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict from a `.safetensors` or PyTorch file, on the CPU.

    Raises BadInputError for a missing file, a file that is not a state dict,
    or a pickle that would need code execution to load.
    """
    import pickle

    import torch

    file = _regular_file(path, "weights")
    if file.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(file), device="cpu"))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
            raise BadInputError(f"{file}: not a readable safetensors file ({exc})") from None
    try:
        # torch warns (two lines on stderr) about pickle protocols other than 2;
        # the outcome reaches the user as the one-line refusal below instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(str(file), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = _unpickling_reason(str(exc))
        raise BadInputError(
            f"{file}: refused: loading it would run code from the file ({first[:120]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise BadInputError(f"{file}: not a PyTorch weights file ({exc})") from None
    if (
        isinstance(loaded, dict)
        and "state_dict" in loaded
        and isinstance(loaded["state_dict"], dict)
    ):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise BadInputError(f"{file}: not a state dict of named tensors")
    return dict(loaded)


def _regular_file(path: str | os.PathLike[str], what: str) -> Path:
    """`path` as a Path, once it is known to be a regular file of sane size."""
    file = Path(path)
    if not os.path.exists(file):  # False, not an error, for an over-long name too
        raise BadInputError(f"{file}: no such {what} file")
    check_regular_file(file)
    return file


def _unpickling_reason(text: str) -> str:
    """The line of torch's multi-paragraph refusal that names what was refused."""
    _, found, rest = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest if found else text).splitlines() if line.strip()]
    return lines[0] if lines else "unsafe content"


def save_model(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], meta: dict[str, object]
) -> None:
    """Write `tensors` (moved to the CPU, made contiguous) and `meta` atomically.

    `meta` must be JSON-serialisable and contain "kind" (e.g. "fast-style").
    """
    import json

    from safetensors.torch import save

    from warpaint.engine.io.atomic import atomic_write

    if "kind" not in meta:
        raise ValueError("model metadata needs a 'kind'")
    data = save(
        {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()},
        metadata={META_KEY: json.dumps(meta, sort_keys=True)},
    )
    with atomic_write(path) as f:
        f.write(data)


def load_model(
    path: str | os.PathLike[str],
    kind: str,
    sizes: Mapping[str, tuple[int, int]] | None = None,
    sizes_at: str | None = "config",
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """({name: tensor} on the CPU, metadata) of a model file written by `save_model`.

    The header is read and checked first: with `sizes`, the integers named
    there (in `meta[sizes_at]`, or in `meta` itself when `sizes_at` is None)
    must lie within their bounds before a byte of weights is read.

    Raises BadInputError with a one-line reason when the file is missing, is not
    safetensors, has no Warpaint metadata, holds another kind of model or asks
    for sizes out of bounds.
    """
    meta = read_meta(path, kind)
    if sizes is not None:
        values = meta.get(sizes_at) if sizes_at is not None else meta
        check_model_sizes(path, values, sizes, sizes_at or "metadata")
    return load_state_dict(path), meta


# Sizes a model file's metadata may ask for: each loader names the integers it
# builds layers from and their bounds, and `check_model_sizes` refuses a file
# before anything is built (a 200-byte file asking for 10**8 blocks would
# otherwise allocate until memory runs out).
MAX_LIST_ITEMS = 16


def check_model_sizes(
    source: str | os.PathLike[str],
    values: object,
    bounds: Mapping[str, tuple[int, int]],
    what: str = "config",
) -> None:
    """Raise BadInputError unless `values` is a dict whose entries named in
    `bounds` are integers within (low, high) inclusive.

    A list entry (e.g. channels per stage) must hold 1..MAX_LIST_ITEMS such
    integers. Entries missing from `values` are left to the loader's defaults.
    Floats are refused even when integral (JSON `1e8`): the writer stores ints.
    """
    if not isinstance(values, dict):
        raise BadInputError(f"{source}: the model's {what} is not a JSON object")
    for name, (low, high) in bounds.items():
        if name not in values:
            continue
        value = values[name]
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not 1 <= len(value) <= MAX_LIST_ITEMS:
            raise BadInputError(
                f"{source}: the model's {what}.{name} has {len(value)} entries "
                f"(1..{MAX_LIST_ITEMS} allowed)"
            )
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
                shown = repr(item) if len(repr(item)) <= 24 else repr(item)[:21] + "..."
                raise BadInputError(
                    f"{source}: the model's {what}.{name} is {shown}; "
                    f"it must be an integer in {low}..{high}"
                )


def build_within_file(
    build: Callable[[], ModuleT],
    tensors: Mapping[str, torch.Tensor],
) -> ModuleT:
    """`build()`, once a dry run shows its weights fit in `tensors`.

    The module is first built on torch's meta device, which allocates
    nothing, and refused unless its state holds at most as many elements as
    the file's tensors: a loader then never allocates more than the file
    holds, whatever sizes within `check_model_sizes`' bounds the metadata
    combines. Raises ValueError with the reason (each loader names the file
    and what it was loading); the real module is built only after.
    """
    import torch

    with torch.device("meta"):
        probe = build()
    need = sum(t.numel() for t in probe.state_dict().values())
    have = sum(t.numel() for t in tensors.values())
    if need > have:
        raise ValueError(f"its metadata describes {need:,} weights but the file holds {have:,}")
    return build()


# -- caching ----------------------------------------------------------------------

# Loaded models kept at once: a preview and a full-size run of two effects.
CACHE_SIZE = 4
_cache: OrderedDict[Hashable, Any] = OrderedDict()
_cache_lock = threading.Lock()


def cached_model(path: str | os.PathLike[str], device: str, build: Callable[[str], T]) -> T:
    """`build(path)` moved to `device` by the caller's builder, kept by (path,
    mtime_ns, size, device, builder) among the last `CACHE_SIZE` models used.

    A file rewritten in place (a retrained model) has a new mtime or size, so
    it is built again. Raises BadInputError for a missing file or one that is not
    a regular file.
    """
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        raise BadInputError(f"{file}: no such model file") from None
    check_regular_file(file)  # a FIFO or a device named as a model must not hang the load
    key = (
        str(file.resolve()),
        stat.st_mtime_ns,
        stat.st_size,
        str(device),
        build.__module__,
        build.__qualname__,
    )
    # Loads are serialised: two previews asking for one model build it once.
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]  # type: ignore[no-any-return]
        model = build(str(file))
        _cache[key] = model
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return model


def clear_cache() -> None:
    """Forget every loaded model (tests; freeing memory)."""
    with _cache_lock:
        _cache.clear()
