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
