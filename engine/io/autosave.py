"""Autosave and crash recovery (no Qt; the GUI drives it from a timer).

Each open document gets an `Autosaver` with a random key. When the document is
dirty and changed since the last autosave, it writes `<key>.ora` (fast PNG
compression) and then `<key>.json` into `recovery_dir()`, both atomically; a
record exists only once its JSON does. A clean save or a close calls
`discard()`.

After a crash the records stay behind. `list_recoveries()` returns those
whose writing process is gone: a record whose writer still runs belongs to a
running Warpaint (perhaps this one) and is not offered, so two running
instances never take each other's documents. A writer is identified by boot,
pid and the process's start time (Linux: field 22 of /proc/PID/stat, in clock
ticks since boot), so a pid reused by another process after a crash does not
hide the record. Where the start time cannot be read, a live pid on the same
boot counts as the writer. A record from an earlier boot is always offered.

A damaged record (unreadable JSON, impossible times or sizes) is skipped; a
writer killed mid-write leaves temporary files, which `list_recoveries`
removes when their writer is gone (see `atomic.remove_stale_temp_files`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from warpaint.engine.core.document import DocState, Document
from warpaint.engine.io.atomic import atomic_write, pid_alive, remove_stale_temp_files
from warpaint.engine.io.ora import read_ora, write_ora
from warpaint.engine.runtime.errors import BadInputError

RECORD_VERSION = 1


def recovery_dir() -> Path:
    """Where recovery files live: $WARPAINT_RECOVERY_DIR, else the per-user state
    folder ($XDG_STATE_HOME or ~/.local/state on Linux, ~/Library/Application
    Support on macOS, %LOCALAPPDATA% on Windows) + warpaint/recovery."""
    override = os.environ.get("WARPAINT_RECOVERY_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "Warpaint" / "Recovery"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Warpaint" / "Recovery"
    state_home = os.environ.get("XDG_STATE_HOME")
    base = Path(state_home) if state_home else Path.home() / ".local" / "state"
    return base / "warpaint" / "recovery"


def process_start_ticks(pid: int) -> int:
    """When process `pid` started, in clock ticks since boot; 0 where unknown.

    Two processes with the same pid on the same boot have different start
    times, so (boot, pid, start) names one process for good.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Fields after the parenthesised command name (which may hold spaces):
        # state is field 3, starttime field 22.
        return int(stat.rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


# saved_at must be a time a calendar can show (time.localtime refuses 1e300).
_LATEST_TIME = 253402300799.0  # 9999-12-31 23:59:59 UTC


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class RecoveryRecord:
    """One recoverable document."""

    key: str
    ora_path: Path
    json_path: Path
    original_path: str | None
    name: str
    saved_at: float
    pid: int
    boot_id: str = ""
    width: int = 0
    height: int = 0
    layers: int = 0
    started: int = 0  # the writer's start time (`process_start_ticks`); 0 unknown

    def __str__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        where = self.original_path or "never saved"
        size = f"{self.width} x {self.height}, {self.layers} layers"
        return f"{self.name} ({where}), autosaved {when}, {size}"

    @property
    def writer_running(self) -> bool:
        """Whether the process that wrote it still runs: same boot, live pid,
        and (where known) the same start time, not another process that got
        the pid later."""
        if self.boot_id and self.boot_id != _boot_id():
            return False
        if not pid_alive(self.pid):
            return False
        now = process_start_ticks(self.pid)
        return not (self.started and now and now != self.started)


def write_recovery(
    state: DocState,
    key: str,
    original_path: str | None = None,
    name: str | None = None,
    *,
    folder: Path | None = None,
) -> RecoveryRecord:
    """Write a recovery copy of `state` under `key`; safe from any thread
    (states are immutable). The .ora goes first, the JSON record last."""
    if not key or not key.replace("-", "").isalnum():
        raise ValueError(f"bad recovery key {key!r}")
    folder = folder or recovery_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInputError(
            f"{folder}: cannot create the recovery folder ({err.strerror})"
        ) from None
    ora_path, json_path = folder / f"{key}.ora", folder / f"{key}.json"
    # Only Warpaint reads recovery files: no layer is baked for other programs.
    write_ora(state, ora_path, compress_level=1, bake=False)
    record = RecoveryRecord(
        key=key,
        ora_path=ora_path,
        json_path=json_path,
        original_path=original_path,
        name=name or (Path(original_path).name if original_path else "Untitled"),
        saved_at=time.time(),
        pid=os.getpid(),
        boot_id=_boot_id(),
        width=state.width,
        height=state.height,
        layers=len(state.layers),
        started=process_start_ticks(os.getpid()),
    )
    payload = {
        "version": RECORD_VERSION,
        "key": key,
        "original_path": original_path,
        "name": record.name,
        "saved_at": record.saved_at,
        "pid": record.pid,
        "boot_id": record.boot_id,
        "width": record.width,
        "height": record.height,
        "layers": record.layers,
        "started": record.started,
    }
    with atomic_write(json_path, "w") as fh:
        json.dump(payload, fh, indent=2)
    return record


def _load_record(json_path: Path) -> RecoveryRecord | None:
    try:
        if not json_path.is_file() or json_path.stat().st_size > 1 << 20:
            return None
        data = json.loads(json_path.read_text(encoding="utf-8"))
        key = str(data["key"])
        ora = json_path.with_name(f"{key}.ora")
        if json_path.stem != key or not ora.is_file():
            return None
        original = data.get("original_path")
        record = RecoveryRecord(
            key=key,
            ora_path=ora,
            json_path=json_path,
            original_path=str(original) if original else None,
            name=str(data.get("name") or "Untitled"),
            saved_at=float(data.get("saved_at", 0.0)),
            pid=int(data.get("pid", 0)),
            boot_id=str(data.get("boot_id") or ""),
            width=int(data.get("width", 0)),
            height=int(data.get("height", 0)),
            layers=int(data.get("layers", 0)),
            started=int(data.get("started", 0)),
        )
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,  # a JSON list or number instead of an object
        OverflowError,  # int(1e400) and friends
        RecursionError,
    ):
        return None  # a damaged record is skipped, never fatal
    if not 0.0 <= record.saved_at <= _LATEST_TIME or record.pid < 0:
        return None
    return record


def list_recoveries(
    *, include_running: bool = False, folder: Path | None = None
) -> list[RecoveryRecord]:
    """Recoverable documents, newest first; by default only those whose writer
    has stopped (crashed or killed)."""
    folder = folder or recovery_dir()
    if not folder.is_dir():
        return []
    remove_stale_temp_files(folder)
    records = [r for p in folder.glob("*.json") if (r := _load_record(p)) is not None]
    if not include_running:
        records = [r for r in records if not r.writer_running]
    for record in records:
        if record.original_path and not record.writer_running:
            # A save of that document may have been cut off by the same crash.
            original = Path(record.original_path)
            remove_stale_temp_files(original.parent, target=original)
    return sorted(records, key=lambda r: r.saved_at, reverse=True)


def check_restore_target(path: str | os.PathLike[str], folder: Path | None = None) -> None:
    """Raise BadInputError if `path` lies in the recovery folder.

    Restoring writes the document and then discards the record's files; a
    target among them (or anywhere in that folder, which Warpaint manages)
    would be deleted right after it was written.
    """
    folder = folder or recovery_dir()
    try:
        inside = folder.resolve() in Path(path).resolve().parents
    except (OSError, RuntimeError, ValueError):
        inside = False
    if inside:
        raise BadInputError(
            f"{path}: is inside the recovery folder ({folder}), which Warpaint empties "
            "after a restore; choose another place"
        )


def restore_recovery(record: RecoveryRecord) -> Document:
    """The recovered document: dirty (it was never saved), `path` = its original file."""
    state = read_ora(record.ora_path, name=f"recovery file {record.ora_path}")
    doc = Document(state, path=record.original_path, label="Recovered")
    doc.history.mark_unsaved()
    return doc


def discard_recovery(record: RecoveryRecord) -> None:
    """Delete a record and its .ora (missing files are fine)."""
    for path in (record.json_path, record.ora_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class Autosaver:
    """Autosaves one document at most every `interval_s` seconds while it is dirty.

    Call `maybe_save(doc)` from a timer and `save_now(doc)` after a job
    completes; `discard()` after a clean save or when the document closes.
    To write off the GUI thread, take `snapshot(doc)` on the GUI thread and
    pass it to `save_state` in a worker.
    """

    def __init__(
        self,
        interval_s: float = 60.0,
        key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.key = key or secrets.token_hex(8)
        self._clock = clock
        self._last_state: DocState | None = None
        self._last_time: float | None = None
        self._lock = threading.Lock()
        self.record: RecoveryRecord | None = None

    def needs_save(self, doc: Document) -> bool:
        """Dirty and different from what was last autosaved."""
        return doc.dirty and doc.state is not self._last_state

    def due(self, doc: Document) -> bool:
        """`needs_save` and the interval has passed since the last autosave."""
        if not self.needs_save(doc):
            return False
        return self._last_time is None or self._clock() - self._last_time >= self.interval_s

    def snapshot(self, doc: Document) -> tuple[DocState, str | None, str]:
        return doc.state, doc.path, doc.name

    def save_state(
        self, state: DocState, original_path: str | None, name: str | None = None
    ) -> RecoveryRecord:
        """Write `state` as this document's recovery copy (any thread)."""
        with self._lock:
            self.record = write_recovery(state, self.key, original_path, name)
            self._last_state = state
            self._last_time = self._clock()
            return self.record

    def maybe_save(self, doc: Document) -> bool:
        """Autosave if `due`; returns whether it wrote."""
        if not self.due(doc):
            return False
        self.save_state(*self.snapshot(doc))
        return True

    def save_now(self, doc: Document) -> bool:
        """Autosave now if `needs_save` (ignores the interval); returns whether it wrote."""
        if not self.needs_save(doc):
            return False
        self.save_state(*self.snapshot(doc))
        return True

    def discard(self) -> None:
        """Remove this document's recovery copy (after a clean save or close)."""
        with self._lock:
            folder = self.record.ora_path.parent if self.record else recovery_dir()
            for suffix in (".json", ".ora"):
                with contextlib.suppress(FileNotFoundError):
                    (folder / f"{self.key}{suffix}").unlink()
            self.record = None
            self._last_state = None
            self._last_time = None
