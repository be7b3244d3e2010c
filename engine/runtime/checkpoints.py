"""The one place that loads weight files.

Two formats only: safetensors, and PyTorch pickles read with
`torch.load(weights_only=True)`, whose unpickler builds tensors and plain
containers and refuses anything that would run code. A file that needs more
is refused with a one-line reason, never unpickled.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from warpaint.engine.io.limits import check_regular_file
from warpaint.engine.runtime.errors import BadInputError

if TYPE_CHECKING:
    import torch

ModuleT = TypeVar("ModuleT", bound="torch.nn.Module")


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict from a `.safetensors` or PyTorch file, on the CPU.

    Raises BadInputError for a missing file, a file that is not a state dict,
    or a pickle that would need code execution to load.
    """
    import pickle

    import torch

    file = Path(path)
    if not os.path.exists(file):  # False, not an error, for an over-long name too
        raise BadInputError(f"{file}: no such weights file")
    check_regular_file(file)
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


def _unpickling_reason(text: str) -> str:
    """The line of torch's multi-paragraph refusal that names what was refused."""
    _, found, rest = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest if found else text).splitlines() if line.strip()]
    return lines[0] if lines else "unsafe content"


# -- the project's own model files --------------------------------------------
# One .safetensors file per model; its header metadata carries a JSON object
# under META_KEY with at least {"kind": ..., "format": int} plus whatever the
# model needs to rebuild itself (sizes, names of styles or attributes). The
# training record (command, seed, steps, time, device, scores) lives in a
# sidecar `<name>.json` next to it, written by the trainer.

META_KEY = "warpaint"


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
    path: str | os.PathLike[str], kind: str
) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """({name: tensor} on the CPU, metadata) of a model file written by `save_model`.

    Raises BadInputError with a one-line reason when the file is missing, is not
    safetensors, has no Warpaint metadata, or holds another kind of model.
    """
    import json

    file = Path(path)
    if file.suffix.lower() != ".safetensors":
        raise BadInputError(f"{file}: model files are .safetensors")
    tensors = load_state_dict(file)
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        header = f.metadata() or {}
    try:
        meta = json.loads(header[META_KEY])
    except (KeyError, json.JSONDecodeError, RecursionError):
        raise BadInputError(f"{file}: not a Warpaint model file (no model metadata)") from None
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else None
        raise BadInputError(f"{file}: holds a {found!r} model, not a {kind!r} model")
    return tensors, meta


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
