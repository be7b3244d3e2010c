"""The one place that loads weight files.

Two formats only: safetensors, and PyTorch pickles read with
`torch.load(weights_only=True)`, whose unpickler builds tensors and plain
containers and refuses anything that would run code. A file that needs more
is refused with a one-line reason, never unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from warpaint.engine.errors import BadInputError

if TYPE_CHECKING:
    import torch


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict from a `.safetensors` or PyTorch file, on the CPU.

    Raises BadInputError for a missing file, a file that is not a state dict,
    or a pickle that would need code execution to load.
    """
    import pickle

    import torch

    file = Path(path)
    if not file.is_file():
        raise BadInputError(f"{file}: no such weights file")
    if file.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(file), device="cpu"))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
            raise BadInputError(f"{file}: not a readable safetensors file ({exc})") from None
    try:
        loaded = torch.load(str(file), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
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
    except (KeyError, json.JSONDecodeError):
        raise BadInputError(f"{file}: not a Warpaint model file (no model metadata)") from None
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else None
        raise BadInputError(f"{file}: holds a {found!r} model, not a {kind!r} model")
    return tensors, meta
