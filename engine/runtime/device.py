"""Choosing the torch device, once, and surviving GPU out-of-memory.

Order: an explicit choice (`--device`, the setting) or `WARPAINT_DEVICE`,
else CUDA, then Apple MPS, then CPU. torch is imported only when a device is
actually needed.
"""

from __future__ import annotations

import os
import platform
from functools import cache
from typing import Any

from warpaint.engine.runtime.errors import BadInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.insert(0 if "cuda" not in found else 1, "mps")
    return found


def choose_device(preference: str | None = None) -> str:
    """The device to run effects on: 'cuda', 'mps' or 'cpu'.

    `preference` (or `WARPAINT_DEVICE` when it is None) may be 'auto' or a
    device name; asking for a device that is not there is a clear error.
    """
    choice = (preference or os.environ.get("WARPAINT_DEVICE") or "auto").strip().lower()
    if choice not in DEVICE_CHOICES:
        raise BadInputError(f"unknown device {choice!r} (choose from {', '.join(DEVICE_CHOICES)})")
    return _resolve(choice)


@cache
def _resolve(choice: str) -> str:
    found = available_devices()
    if choice == "auto":
        return found[0]
    if choice not in found:
        raise BadInputError(f"device {choice!r} is not available here (found: {', '.join(found)})")
    return choice


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a torch GPU out-of-memory error (CUDA or MPS)."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cached_memory(device: str) -> None:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def machine_info(device: str | None = None) -> dict[str, Any]:
    """The machine a figure was measured on: platform, CPUs, torch, GPU."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device == "cuda" and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info
