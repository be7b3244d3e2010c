"""The user's own fast-style presets: one-style models made from their style images.

Each preset is `<user_models_dir>/fast-style-presets/<name>.safetensors`, a
fast-style model file like the shipped one (one style, named `<name>`) whose
metadata also records how it was made (`"preset"`: the style image's sha256
and file name, the budget's settings, the steps and seconds it took). The
effect runs it through its `model` parameter; a recipe names it by file name
and sha256, like any model in the user's model folder.

An unfinished preset keeps its work state in `work/<name>/` beside the
presets (`job.json`, the style image as read, the cached Gatys targets and
the generator's checkpoint), so a job stopped by Cancel or by quitting
resumes there (`warpaint.engine.features.fast_style.preset_job`).

Nothing here imports torch: listing presets reads file headers only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import read_meta, user_models_dir

FOLDER = "fast-style-presets"
WORK = "work"
MODEL_KIND = "fast-style"
SUFFIX = ".safetensors"
# Letters, digits, spaces, '-' and '_'; no path separators, no leading dot or
# space (hidden files, names the platforms trim), at most 48 characters.
_NAME = re.compile(r"[^\W_](?:[\w\- ]{0,46}[\w-])?")


def presets_dir() -> Path:
    """Where the user's presets live (the folder need not exist yet)."""
    return user_models_dir() / FOLDER


def work_dir(name: str) -> Path:
    """The work folder of preset `name`'s job (checkpoint, targets, job.json)."""
    return presets_dir() / WORK / check_name(name)


def preset_path(name: str) -> Path:
    """Where preset `name`'s model file is (or will be)."""
    return presets_dir() / f"{check_name(name)}{SUFFIX}"


def check_name(name: str) -> str:
    """`name` when it can name a preset (and a file on every platform), else
    BadInputError with the rule."""
    from warpaint.engine.neural.style_samples import PRESET_STYLES

    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise BadInputError(
            f"preset name {shown}: use 1-48 letters, digits, spaces, '-' or '_' "
            "(no '/', no leading dot or space)"
        )
    if name in PRESET_STYLES:
        raise BadInputError(f"preset name {name!r} is a shipped preset's; choose another")
    return name


@dataclass(frozen=True)
class UserPreset:
    """A finished preset: its name, file and what its metadata records."""

    name: str
    path: Path
    record: dict[str, Any]

    @property
    def seconds(self) -> float | None:
        value = self.record.get("seconds")
        return float(value) if isinstance(value, int | float) else None


def user_presets() -> list[UserPreset]:
    """The user's finished presets, by name. A file that is not a readable
    one-style fast-style model is left out (it cannot be run as a preset)."""
    folder = presets_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        name = path.name[: -len(SUFFIX)]
        if not _NAME.fullmatch(name) or not path.is_file():
            continue
        try:
            meta = read_meta(path, MODEL_KIND)
        except BadInputError:
            continue
        if meta.get("styles") != [name]:
            continue
        record = meta.get("preset")
        found.append(UserPreset(name, path, record if isinstance(record, dict) else {}))
    return found


def find_user_preset(name: str) -> UserPreset:
    """The finished preset `name`; BadInputError naming the ones there are."""
    check_name(name)
    presets = user_presets()
    for preset in presets:
        if preset.name == name:
            return preset
    known = ", ".join(p.name for p in presets) or "none yet"
    raise BadInputError(f"no preset named {name!r} in {presets_dir()} (yours: {known})")


@dataclass(frozen=True)
class UnfinishedPreset:
    """A preset whose job stopped before the end: what `job.json` says."""

    name: str
    folder: Path
    state: dict[str, Any]

    @property
    def step(self) -> int:
        value = self.state.get("step", 0)
        return value if isinstance(value, int) else 0

    @property
    def steps(self) -> int:
        budget = self.state.get("budget")
        value = budget.get("steps", 0) if isinstance(budget, dict) else 0
        return value if isinstance(value, int) else 0


def read_job_state(folder: Path) -> dict[str, Any] | None:
    """A work folder's `job.json`, or None when it is missing or unreadable."""
    try:
        with open(folder / "job.json", encoding="utf-8") as fh:
            state = json.load(fh)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def unfinished_presets() -> list[UnfinishedPreset]:
    """Jobs with work state on disk and no finished preset yet, by name."""
    root = presets_dir() / WORK
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or not _NAME.fullmatch(folder.name):
            continue
        state = read_job_state(folder)
        if state is None or (presets_dir() / f"{folder.name}{SUFFIX}").exists():
            continue
        found.append(UnfinishedPreset(folder.name, folder, state))
    return found


def remove_user_preset(name: str) -> list[Path]:
    """Delete preset `name`: its model file, its record and any work state;
    returns what was removed. BadInputError when there is nothing of that name."""
    removed = []
    model = preset_path(name)
    for path in (model, model.with_suffix(".json")):
        if path.is_file():
            path.unlink()
            removed.append(path)
    work = work_dir(name)
    if work.is_dir():
        shutil.rmtree(work)
        removed.append(work)
    if not removed:
        raise BadInputError(f"no preset named {name!r} in {presets_dir()}")
    return removed


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
