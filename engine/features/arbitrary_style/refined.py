"""Decoders refined for one style ("Refine for this style"): names, keys, lookup.

A refined decoder lives in the user's model folder as
`adain-refined-<name>-<key12>.safetensors`, where `<key12>` starts the
style's key (`image_key`: a hash of its pixels, so a layer, the file it came
from and the PNG a recipe writes of it all give the same key) and `<name>` is
the style's name as the user knows it (a file or layer name). The full key,
the name and the content it was refined on are in the file's metadata
(`refined`), and recipes refer to the file by name and sha256 as to any model
in that folder. The effect looks one up by the style's key (`find_refined`);
this module needs no torch until a key is computed, and imports no training.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warpaint.engine.runtime.models import read_meta, user_models_dir

if TYPE_CHECKING:
    import torch

PREFIX = "adain-refined-"
KEY_CHARS = 12
NAME_CHARS = 40


def image_key(image: torch.Tensor) -> str:
    """A 32-hex-digit key of a (1, 3, H, W) RGB image in [0, 1]: a hash of its
    shape and of its pixels rounded to 8 bits, so float noise below one level
    (a layer against the file it was read from) does not change it."""
    import torch

    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"expected a (1, 3, H, W) RGB image, got {tuple(image.shape)}")
    levels = (image.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    digest = hashlib.blake2b(levels.cpu().contiguous().numpy().tobytes(), digest_size=16)
    digest.update(repr(tuple(image.shape)).encode())
    return digest.hexdigest()


def slug(name: str) -> str:
    """A file-name-safe form of a style's name: letters, digits and dashes."""
    stem = Path(name).stem if "." in name else name
    text = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()
    return text[:NAME_CHARS].strip("-") or "style"


def refined_file_name(name: str, key: str) -> str:
    """The model file name of the decoder refined for the style `name` with `key`."""
    return f"{PREFIX}{slug(name)}-{key[:KEY_CHARS]}.safetensors"


def might_have_refined(size: tuple[int, int], folder: Path | None = None) -> bool:
    """Whether the user's model folder (or `folder`) holds a refined decoder
    that may be for a style of this (height, width): one that records that
    size, or one that records none. The effect asks this before hashing a
    style's pixels (a 12 MP style took 0.3 s to key, on every slider step)."""
    place = folder if folder is not None else user_models_dir()
    if not place.is_dir():
        return False
    for path in place.glob(f"{PREFIX}*.safetensors"):
        recorded = refined_info(path).get("style_size")
        if recorded is None or list(recorded) == [int(size[0]), int(size[1])]:
            return True
    return False


def find_refined(key: str, folder: Path | None = None) -> Path | None:
    """The newest refined decoder in the user's model folder (or `folder`) whose
    metadata names this style key, or None."""
    place = folder if folder is not None else user_models_dir()
    if not place.is_dir():
        return None
    candidates = sorted(
        place.glob(f"{PREFIX}*-{key[:KEY_CHARS]}.safetensors"),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for path in candidates:
        if refined_info(path).get("style_key") == key:
            return path
    return None


def refined_info(path: Path) -> dict[str, Any]:
    """The `refined` record of a refined decoder's metadata ({} when unreadable
    or not a refined decoder)."""
    from warpaint.engine.features.arbitrary_style.adain import KIND
    from warpaint.engine.runtime.errors import BadInputError

    try:
        info = read_meta(path, KIND).get("refined")
    except BadInputError:
        return {}
    return info if isinstance(info, dict) else {}


def work_root() -> Path:
    """Where unfinished refinements keep their checkpoints: beside the user's
    model folder, so a finished model and its work never mix."""
    return user_models_dir().parent / "refine-work"


def work_dir(style_key: str, content_key: str, root: Path | None = None) -> Path:
    """The work folder of refining for one style on one content image."""
    base = root if root is not None else work_root()
    return base / f"{style_key[:16]}-{content_key[:16]}"
