"""Atomic file writes: a save either completes or leaves the old file alone.

`atomic_write` writes into a temporary file in the target's folder, flushes
and fsyncs it, then `os.replace`s it over the target (atomic on POSIX and
Windows within one file system) and fsyncs the folder. On any failure the
temporary file is removed. A process killed mid-write leaves its temporary
file behind; its name carries the writer's pid, and the next write to the same
target removes such leftovers whose writer is gone, as does
`remove_stale_temp_files` for a whole folder (run at start-up).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from warpaint.engine.runtime.errors import BadInputError

TEMP_SUFFIX = ".warpaint-tmp"


# A file name may hold 255 bytes on common file systems; the pid, random part
# and suffix take at most 1 + 10 + 1 + 8 + 13 of them, the dots around the
# target's name 2, which leaves it this many.
_NAME_BUDGET = 220


def temp_prefix(path: str | os.PathLike[str]) -> str:
    """The name prefix of temporary files written for `path` (same folder).

    A target name too long to fit beside the pid and suffix is cut (at a
    character boundary) and followed by a hash of the whole name, so a valid
    255-byte name still gets a valid temporary name of its own.
    """
    name = Path(path).name
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > _NAME_BUDGET:
        digest = hashlib.sha256(encoded).hexdigest()[:8]
        cut = encoded[: _NAME_BUDGET - 9].decode("utf-8", "ignore")
        name = f"{cut}~{digest}"
    return "." + name + "."


def _temp_pid(name: str) -> int | None:
    """The writer's pid in a temporary file name `.NAME.<pid>.<8 hex>.warpaint-tmp`,
    or None when `name` is not such a name."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return None
    parts = name[1 : -len(TEMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        return None
    if len(parts[2]) != 8 or any(c not in "0123456789abcdef" for c in parts[2]):
        return None
    return int(parts[1])


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists and is not a zombie (POSIX).

    Elsewhere only our own pid counts as alive: on Windows `os.kill(pid, 0)`
    would terminate the process.
    """
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # Field 3, after the parenthesised command name, is the state; Z = zombie.
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def stale_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files for `path` left by writers that no longer run."""
    target = Path(path)
    prefix = temp_prefix(target)
    stale = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or not pid_alive(int(pid_text)):
            stale.append(entry)
    return stale


def remove_stale_temp_files(
    folder: str | os.PathLike[str], target: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Delete the temporary files in `folder` left by Warpaint writers that no
    longer run (killed mid-write), only those for `target` if given; returns
    what was removed.

    Only names of exactly our pattern, `.NAME.<pid>.<8 hex digits>.warpaint-tmp`,
    whose pid is not a live process are touched; anything else, and the
    temporary files of running writers, stay. Called at start-up (the editor,
    `warpaint recover`) for the recovery folder and the recovered documents'
    folders, and when a document is opened.
    """
    prefix = temp_prefix(target) if target is not None else "."
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    for entry in entries:
        pid = _temp_pid(entry.name)
        if pid is None or not entry.name.startswith(prefix) or pid_alive(pid):
            continue
        if entry.is_symlink() or not entry.is_file():
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            removed.append(entry)
    return removed


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; elsewhere nothing to do)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces `path` when the block ends cleanly.

    mode: "wb" (binary) or "w" (text, UTF-8). If the block raises, the target
    is untouched and the temporary file removed. An existing target's
    permission bits are kept.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', not {mode!r}")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        if not folder.is_dir():
            raise BadInputError(f"{folder}: no such folder")
        if target.is_dir():
            raise BadInputError(f"{target}: is a folder")
    except OSError as err:  # a name over the file system's limit, a loop of links, ...
        raise BadInputError(f"{target}: cannot write here ({err.strerror or err})") from None
    for leftover in stale_temp_files(target):
        with contextlib.suppress(OSError):
            leftover.unlink()
    temp = folder / f"{temp_prefix(target)}{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise BadInputError(f"{target}: cannot write here ({err.strerror})") from None
    try:
        handle: IO[Any] = (
            os.fdopen(fd, "w", encoding="utf-8") if mode == "w" else os.fdopen(fd, "wb")
        )
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temp, target.stat().st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError):
            raise BadInputError(f"{target}: could not be written ({err.strerror or err})") from None
        raise
    fsync_folder(folder)
