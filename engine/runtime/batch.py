"""Batches: one recipe over many files, as `warpaint batch` runs it.

The work is planned before anything runs: the inputs (files, folders, globs)
are listed, each one's output name is made from a pattern (`{stem}`, `{ext}`,
`{index}`), and names that already exist or that two inputs share are settled
by one policy (skip, overwrite, rename to "name (2).png"). Every file is then
opened, given the recipe's steps (`run_recipe`) and written by the same
writers as `warpaint apply` (`export_image` keeps the EXIF orientation applied,
the source's ICC profile and the bit depth the format holds; `.ora` keeps the
layers), under a temporary name beside its output (`staging_path`). The
batch's own process then renames it into place and adds its journal line,
Ctrl+C held off between the two (`commit`): however a batch stops, the
journal names exactly the outputs it put on disk, and a worker process
stopped at any point leaves at most a temporary file, removed when the batch
ends or the next one starts.

A journal in the output folder (`JOURNAL_NAME`, one JSON line per finished
file) records a key for each output: the hash of the recipe (its file and the
files it names), of the input's bytes and of the output settings. A resumed
batch skips the inputs whose key is the journal's latest for an output that
still exists; a changed input, recipe or setting runs again, over the output
it made before.

One process runs the files one after another by default: every effect runs
on torch, which already spreads each operation over every core, so more
processes would compete for the same cores (docs/benchmarks.md has the
figures). `jobs > 1` starts that many worker processes (spawned, each with
its own models and `cores // jobs` torch threads). `cluster` runs the same
per-file work on the workers of a Dask cluster instead (`cluster.py`,
docs/cluster.md); this process still commits and journals every output.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import signal
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from warpaint.engine.io.atomic import TEMP_SUFFIX, atomic_write, fsync_folder, temp_prefix
from warpaint.engine.runtime.errors import BadInputError, JobCancelled, WarpaintError
from warpaint.engine.runtime.recipes import Recipe

JOURNAL_NAME = ".warpaint-batch.jsonl"
JOURNAL_VERSION = 1
NAME_FIELDS = frozenset({"stem", "ext", "index"})
EXISTING = ("skip", "overwrite", "rename")
FORMATS = ("png", "jpg", "tif", "webp", "ora")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class OutputSettings:
    """How outputs are named and written.

    name: a pattern of `{stem}` (the input's name without its suffix), `{ext}`
        (`format`, or the input's own suffix when it is one Warpaint writes,
        else png) and `{index}` (the input's place in the batch, from 1;
        format specs such as `{index:04d}` allowed). The name's suffix picks
        the writer.
    existing: what happens to an output name that exists, or that an earlier
        input of the same batch already took: "skip" the input, "overwrite"
        it (said on stderr when two inputs share it) or "rename" to the first
        free "name (2).ext".
    """

    name: str = "{stem}.{ext}"
    format: str | None = None
    quality: int = 92
    existing: str = "skip"

    def check(self) -> None:
        """Raise BadInputError for a pattern, format, quality or policy that
        cannot work, before anything runs."""
        check_name_pattern(self.name)
        if self.format is not None and self.format not in FORMATS:
            raise BadInputError(f"--format {self.format!r} is not one of {', '.join(FORMATS)}")
        if not 1 <= self.quality <= 100:
            raise BadInputError(f"quality must be between 1 and 100, got {self.quality}")
        if self.existing not in EXISTING:
            raise BadInputError(f"--existing {self.existing!r} is not one of {', '.join(EXISTING)}")

    def key(self) -> dict[str, Any]:
        """What of the settings changes an output's bytes (the name does not)."""
        return {"quality": self.quality, "profile": "source"}


@dataclass(frozen=True)
class Task:
    """One input to run: its place in the batch (from 1), where it is read
    from and written to, and its journal key."""

    index: int
    source: Path
    output: Path
    key: str


@dataclass
class Plan:
    """What a batch will do: the tasks in order, and the inputs it skips,
    each with a one-line reason; `notes` are lines to show before it runs."""

    tasks: list[Task] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Inputs a resumed batch skips because their output is done (one line for all).
    resumed: int = 0


@dataclass
class Summary:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: bool = False
    # A cancelled job did not stop within its grace time (it is inside one
    # long native operation): the caller should leave without waiting for it.
    stuck: bool = False
    # Inputs run again because the cluster worker running them was lost.
    retried: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"done {self.done}, failed {self.failed}, skipped {self.skipped}"
        if self.retried:
            text += f", retried {len(self.retried)} (a worker was lost)"
        return text + (" (cancelled)" if self.cancelled else "")


# -- inputs and names ------------------------------------------------------


def check_name_pattern(pattern: str) -> None:
    """Refuse an output name pattern with unknown fields, a bad format spec
    or a folder part (outputs go in the output folder)."""
    if not pattern or pattern in (".", ".."):
        raise BadInputError("--name must name a file")
    if "/" in pattern or os.sep in pattern or (os.altsep and os.altsep in pattern):
        raise BadInputError(f"--name {pattern!r}: names a file in the output folder, not a path")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as err:
        raise BadInputError(f"--name {pattern!r}: {err}") from None
    for name in fields:
        if name not in NAME_FIELDS:
            known = ", ".join("{" + f + "}" for f in sorted(NAME_FIELDS))
            raise BadInputError(f"--name {pattern!r}: unknown field {{{name}}} (use {known})")
    try:
        output_name(pattern, Path("x.png"), 1, "png")
    except (ValueError, TypeError) as err:
        raise BadInputError(f"--name {pattern!r}: {err}") from None


def output_name(pattern: str, source: Path, index: int, ext: str) -> str:
    """The output file name of `source`, the `index`-th input, for `pattern`."""
    return pattern.format(stem=source.stem, ext=ext, index=index)


def default_ext(source: Path) -> str:
    """`{ext}` without `--format`: the input's own suffix when Warpaint writes
    it (as written: "JPEG" stays "JPEG"), else png."""
    from warpaint.engine.io import EXPORT_FORMATS

    suffix = source.suffix.lstrip(".")
    return suffix if suffix.lower() in EXPORT_FORMATS or suffix.lower() == "ora" else "png"


def collect_inputs(
    inputs: Sequence[str], recursive: bool = False, exclude: Path | None = None
) -> tuple[list[Path], list[str]]:
    """The files named by `inputs`, in order, each once, and the skipped ones.

    A file is taken as it is (a file that is not an image fails when it runs);
    a folder gives its files whose suffix is one Warpaint opens (its sub-folders
    too with `recursive`), and its other files are skipped with a reason; a
    name that is no file is expanded as a glob ("*.jpg", "**" with
    `recursive`), for shells that do not. Hidden files and `exclude` (the
    output folder) are left out of folders. Raises BadInputError for a name
    that matches nothing.
    """
    from warpaint.engine.io import OPEN_EXTENSIONS

    files: list[Path] = []
    skipped: list[str] = []
    seen: set[Path] = set()
    excluded = exclude.resolve() if exclude is not None else None

    def add(path: Path) -> None:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            files.append(path)

    def walk(folder: Path) -> None:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if recursive and entry.resolve() != excluded:
                    walk(entry)
            elif entry.suffix.lower().lstrip(".") in OPEN_EXTENSIONS:
                add(entry)
            else:
                skipped.append(f"{entry}: not an image file Warpaint opens")

    for name in inputs:
        path = Path(name)
        if path.is_dir():
            walk(path)
        elif path.exists():
            add(path)
        elif glob.has_magic(name):
            matches = sorted(glob.glob(name, recursive=recursive))
            if not matches:
                raise BadInputError(f"{name}: no file matches")
            for match in matches:
                found = Path(match)
                if found.is_dir():
                    walk(found)
                else:
                    add(found)
        else:
            raise BadInputError(f"{name}: no such file or folder")
    return files, skipped


# -- keys and the journal ----------------------------------------------------


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def recipe_hash(path: str | os.PathLike[str], recipe: Recipe) -> str:
    """sha256 of the recipe file and of every file its steps name (style
    images, models), so that changing any of them runs the batch again."""
    digest = hashlib.sha256()
    digest.update(file_hash(path).encode())
    for name in sorted(_named_files(recipe)):
        digest.update(name.encode("utf-8", "surrogateescape"))
        digest.update(file_hash(name).encode())
    return digest.hexdigest()


def _named_files(recipe: Recipe) -> set[str]:
    names: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, str) and os.path.isfile(value):
            names.add(os.path.abspath(value))
        elif isinstance(value, tuple | list):
            for item in value:
                visit(item)

    for step in recipe.steps:
        for value in step.params.values():
            visit(value)
    return names


def task_key(recipe_key: str, input_key: str, settings: OutputSettings, output: Path) -> str:
    """The journal key of one output: recipe, input, output format and settings."""
    data = {
        "recipe": recipe_key,
        "input": input_key,
        "format": output.suffix.lower().lstrip("."),
        **settings.key(),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class Journal:
    """The outputs a batch finished in a folder: output name -> key, the
    latest line for a name winning.

    On opening, the file is rewritten atomically without superseded lines and
    without a last line cut short by a crash; then each finished output adds
    one line in a single write, flushed to disk before the next file starts.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / JOURNAL_NAME
        self._keys: dict[str, str] = {}
        self._fd: int | None = None
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                        self._keys[str(entry["output"])] = str(entry["key"])
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue

    def done(self, key: str, output: Path) -> bool:
        """Whether `output` holds what `key` makes: the journal's latest key for
        it is `key` and the file is there."""
        return self._keys.get(output.name) == key and output.is_file()

    def knows(self, name: str) -> bool:
        """Whether a batch wrote the output `name` (for some key)."""
        return name in self._keys

    def outputs_of(self, key: str) -> list[str]:
        return [name for name, k in self._keys.items() if k == key]

    def open(self) -> None:
        with atomic_write(self.path, "w") as fh:
            for name, key in self._keys.items():
                fh.write(_journal_line(key, name))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def record(self, task: Task) -> None:
        self._keys[task.output.name] = task.key
        if self._fd is None:
            return
        os.write(self._fd, _journal_line(task.key, task.output.name).encode("utf-8"))
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _journal_line(key: str, output: str) -> str:
    return json.dumps({"v": JOURNAL_VERSION, "key": key, "output": output}) + "\n"


# -- planning ----------------------------------------------------------------


def plan_batch(
    files: Sequence[Path],
    outdir: Path,
    settings: OutputSettings,
    recipe_key: str,
    journal: Journal,
    resume: bool = False,
) -> Plan:
    """Name every input's output and settle existing and shared names by
    `settings.existing`. With `resume`, inputs whose output the journal says
    is done are skipped (and keep their name), and an output the journal
    names under another key is out of date and made again in its place."""
    from warpaint.engine.io import EXPORT_FORMATS

    plan = Plan()
    taken: dict[str, Path] = {}  # output name -> the input that claimed it
    pending: list[tuple[int, Path, str, str]] = []
    for index, source in enumerate(files, 1):
        ext = settings.format or default_ext(source)
        name = output_name(settings.name, source, index, ext)
        suffix = Path(name).suffix.lower().lstrip(".")
        if suffix != "ora" and suffix not in EXPORT_FORMATS:
            known = ", ".join(sorted({"ora", *EXPORT_FORMATS}))
            raise BadInputError(
                f"--name gives {name!r}: unknown output format (use one of: {known})"
            )
        try:
            input_key = file_hash(source)
        except OSError as err:
            plan.skipped.append(f"{source}: {err.strerror or type(err).__name__}")
            continue
        key = task_key(recipe_key, input_key, settings, Path(name))
        if resume:
            done = [n for n in journal.outputs_of(key) if journal.done(key, outdir / n)]
            if done:
                kept = name if name in done else done[0]
                taken[kept] = source
                plan.resumed += 1
                continue
        pending.append((index, source, name, key))
    for index, source, name, key in pending:
        if resume and name not in taken and journal.knows(name):
            # A batch's own output of another recipe, input or setting: out of
            # date, so it is made again in its place whatever `existing` says.
            taken[name] = source
            plan.tasks.append(Task(index, source, outdir / name, key))
            continue
        final = _settle(name, source, outdir, settings.existing, taken, plan)
        if final is None:
            continue
        taken[final] = source
        plan.tasks.append(Task(index, source, outdir / final, key))
    return plan


def _settle(
    name: str, source: Path, outdir: Path, policy: str, taken: dict[str, Path], plan: Plan
) -> str | None:
    """The name `source` is written to under `policy`, or None when it is skipped."""
    shared = taken.get(name)
    exists = (outdir / name).exists()
    if shared is None and not exists:
        return name
    if policy == "skip":
        why = (
            f"{outdir / name} is also the output of {shared}"
            if shared
            else f"{outdir / name} exists"
        )
        plan.skipped.append(f"{source}: {why}")
        return None
    if policy == "overwrite":
        if shared is not None:
            plan.notes.append(
                f"{source} and {shared} both write {outdir / name}; the later one is kept"
            )
        return name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while f"{stem} ({n}){suffix}" in taken or (outdir / f"{stem} ({n}){suffix}").exists():
        n += 1
    return f"{stem} ({n}){suffix}"


# -- running -----------------------------------------------------------------


def staging_path(output: Path) -> Path:
    """Where one file's result is written before it becomes `output`: a name
    of `atomic_write`'s temporary pattern for `output` in the same folder
    (`.NAME.<pid>.<8 hex>.warpaint-tmp`), so one left by a process that was
    stopped is removed as any stale temporary file is."""
    token = secrets.token_hex(4)
    return output.parent / f"{temp_prefix(output)}{os.getpid()}.{token}{TEMP_SUFFIX}"


def process_file(
    recipe: Recipe, task: Task, device: str | None, quality: int, check: Callable[[], None]
) -> tuple[Path, list[str]]:
    """Open `task.source`, run the recipe's steps and write the result, whole
    and flushed to disk, to a staging file beside `task.output` (see
    `staging_path`); returns that file and the notes for the user. `commit`
    then puts it in place and journals it.

    `check` is the cancellation: called before opening, before each step, at
    the effects' own cancellation points and before writing; it raises to
    stop, and nothing is written. Raises BadInputError with a one-line reason.
    """
    from warpaint.engine.io import export_image, open_document, write_ora
    from warpaint.engine.runtime.recipes import run_recipe

    notes: list[str] = []
    check()
    doc = open_document(task.source)
    run_recipe(doc, recipe, device=device, on_message=notes.append, check=check)
    check()
    staged = staging_path(task.output)
    suffix = task.output.suffix.lower().lstrip(".")
    if suffix == "ora":
        notes += write_ora(doc.state, staged)
    else:
        # The source's own profile when it had one, else sRGB (what `apply` writes).
        keep = doc.state.meta.icc_profile is not None
        result = export_image(doc.state, staged, quality=quality, keep_profile=keep, format=suffix)
        notes += result.notes
    return staged, notes


def commit(task: Task, staged: Path, journal: Journal) -> None:
    """Put a staged result in place as `task.output` (an atomic rename) and
    add its journal line: Ctrl+C in between takes effect once both are done,
    so an output is on disk under its name exactly when the journal has it.
    Raises BadInputError when the rename fails (the staged file is removed)."""
    with _interrupts_deferred():
        with contextlib.suppress(OSError):
            # An output written over keeps its permission bits, as `atomic_write` keeps them.
            os.chmod(staged, task.output.stat().st_mode & 0o7777)
        try:
            os.replace(staged, task.output)
        except OSError as err:
            with contextlib.suppress(OSError):
                staged.unlink()
            raise BadInputError(
                f"{task.output}: could not be written ({err.strerror or err})"
            ) from None
        # Durable before the journal says it happened.
        fsync_folder(task.output.parent)
        journal.record(task)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl+C (SIGINT) during the block takes effect when the block ends.
    Signals reach only the main thread; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        if callable(previous):
            previous(signal.SIGINT, None)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


class Progress:
    """Progress on a stream: one bar redrawn in place on a terminal (done/total,
    images per second, time left), a plain line per finished file elsewhere;
    a line per failed or skipped file, and the summary."""

    def __init__(self, stream: TextIO, total: int, tty: bool | None = None) -> None:
        self.stream = stream
        self.total = total
        self.tty = stream.isatty() if tty is None else tty
        self.start = time.monotonic()
        self.count = 0  # files finished or failed in this run
        self._drawn = False

    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.count / elapsed if elapsed > 0 else 0.0

    def status(self) -> str:
        rate = self.rate()
        left = self.total - self.count
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        return f"{self.count}/{self.total} {rate:.2f} images/s ETA {eta}"

    def line(self, text: str) -> None:
        """A line of its own, above the bar."""
        self._clear()
        self.stream.write(text + "\n")
        self._draw()

    def show(self) -> None:
        """Draw the bar (on a terminal) before the first file finishes."""
        self._draw()

    def finished(self, task: Task, failure: str | None = None) -> None:
        self.count += 1
        if failure is not None:
            self.line(f"warpaint: failed: {failure}")
        elif not self.tty:
            self.line(f"[{self.status()}] {task.source} -> {task.output}")
        else:
            self._draw()

    def _draw(self) -> None:
        if not self.tty:
            return
        filled = int(30 * self.count / self.total) if self.total else 30
        bar = "#" * filled + "-" * (30 - filled)
        self.stream.write(f"\r[{bar}] {self.status()}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False

    def end(self, summary: Summary) -> None:
        self._clear()
        self.stream.write(summary.line() + "\n")
        self.stream.flush()


# Seconds a cancelled file is given to reach its next cancellation point:
# then one process leaves without it, and worker processes are stopped.
CANCEL_GRACE_S = 2.0


@dataclass(frozen=True)
class Outcome:
    """How one task ended: `staged` (its result, to commit) with the notes
    for the user, or a one-line `failure`; neither when it was cancelled."""

    task: Task
    staged: Path | None = None
    notes: tuple[str, ...] = ()
    failure: str | None = None


def run_batch(
    recipe: Recipe,
    plan: Plan,
    journal: Journal,
    progress: Progress,
    device: str = "cpu",
    quality: int = 92,
    jobs: int = 1,
    one_line: Callable[[str], str] = str,
    cluster: str | None = None,
) -> Summary:
    """Run the plan's tasks; every finished output is added to the journal.

    A file that fails is reported on one line and the rest go on. Ctrl+C
    (KeyboardInterrupt) cancels the files in hand at their next step (their
    results are staged under temporary names and only the finished ones are
    renamed into place, each with its journal line) and returns with
    `cancelled` set; no temporary file is left. `one_line` makes a message
    one line (file names may hold newlines).

    `cluster` (a Dask scheduler's address, or "local" for `jobs` worker
    processes on this machine) runs the files on that cluster's workers;
    `device` is then each worker's own choice ("auto", "cuda", ...). Raises
    BadInputError when the `cluster` extra is not installed or the cluster
    cannot be used.
    """
    from warpaint.engine.io.atomic import remove_stale_temp_files

    run_on_cluster = _cluster_runner() if cluster is not None else None
    summary = Summary(skipped=len(plan.skipped) + plan.resumed)
    for text in plan.notes:
        progress.line(f"warpaint: {one_line(text)}")
    for text in plan.skipped:
        progress.line(f"warpaint: skipped: {one_line(text)}")
    if plan.resumed:
        progress.line(f"warpaint: skipped {plan.resumed} file(s) done earlier (the journal)")
    progress.show()
    # What an earlier batch that was killed left half-written.
    for folder in {task.output.parent for task in plan.tasks}:
        remove_stale_temp_files(folder)
    journal.open()
    try:
        if run_on_cluster is not None and cluster is not None and plan.tasks:
            run_on_cluster(
                recipe, plan, journal, progress, device, quality, cluster, jobs, summary, one_line
            )
        elif jobs > 1 and len(plan.tasks) > 1:
            _run_parallel(recipe, plan, journal, progress, device, quality, jobs, summary, one_line)
        else:
            _run_serial(recipe, plan, journal, progress, device, quality, summary, one_line)
    except KeyboardInterrupt:
        summary.cancelled = True
    finally:
        journal.close()
    return summary


def _cluster_runner() -> Callable[..., None]:
    """`cluster.run_on_cluster`, imported only for a batch on a cluster: the
    core install has no Dask."""
    try:
        from warpaint.engine.runtime.cluster import run_on_cluster
    except ImportError as err:
        if (err.name or "").startswith("warpaint"):
            raise
        raise BadInputError(
            f"--cluster needs the 'cluster' extra (pip install 'warpaint[cluster]'): {err}"
        ) from None
    return run_on_cluster


def _failure(error: BaseException | None, fallback: str) -> str:
    if isinstance(error, WarpaintError):
        return str(error)
    if error is None:
        return fallback
    return f"internal error: {type(error).__name__}: {error}"


def _finish(
    outcome: Outcome,
    journal: Journal,
    progress: Progress,
    summary: Summary,
    one_line: Callable[[str], str],
) -> None:
    """Commit a finished task's output and report it; report a failure."""
    task = outcome.task
    failure = outcome.failure
    if outcome.staged is not None:
        try:
            commit(task, outcome.staged, journal)
        except WarpaintError as err:
            failure = str(err)
        else:
            summary.done += 1
            progress.finished(task)
            for note in outcome.notes:
                progress.line(f"warpaint: {one_line(f'{task.source}: {note}')}")
            return
    if failure is not None:
        summary.failed += 1
        progress.finished(task, one_line(failure))


def _run_serial(
    recipe: Recipe,
    plan: Plan,
    journal: Journal,
    progress: Progress,
    device: str,
    quality: int,
    summary: Summary,
    one_line: Callable[[str], str],
) -> None:
    from warpaint.engine.runtime.jobs import JobContext, JobRunner, JobState

    runner = JobRunner(device)
    # Staged results by task index until committed: a job cancelled after its
    # last check, or Ctrl+C before the commit, leaves one to remove.
    staged: dict[int, Path] = {}

    def outcome(task: Task, job: Any) -> Outcome:
        if job.state is JobState.DONE:
            return Outcome(task, staged[task.index], tuple(job.result))
        if job.state is JobState.FAILED:
            return Outcome(task, failure=_failure(job.error, job.error_message))
        return Outcome(task)

    try:
        for task in plan.tasks:

            def work(ctx: JobContext, task: Task = task) -> list[str]:
                path, notes = process_file(recipe, task, device, quality, ctx.check)
                staged[task.index] = path
                return notes

            job = runner.submit(work, str(task.source))
            try:
                while not job.wait(0.1):
                    pass
            except KeyboardInterrupt:
                runner.cancel(job)
                stopped = job.wait(CANCEL_GRACE_S)
                if stopped:
                    _finish(outcome(task, job), journal, progress, summary, one_line)
                summary.cancelled = True
                summary.stuck = not stopped
                return
            _finish(outcome(task, job), journal, progress, summary, one_line)
            staged.pop(task.index, None)
    finally:
        runner.shutdown(wait=None if summary.stuck else 1.0)
        for path in staged.values():
            with contextlib.suppress(OSError):
                path.unlink()


# -- worker processes ----------------------------------------------------------

_worker: dict[str, Any] = {}


# `--jobs` left out: worker processes on a CPU, one per core up to this many
# (each holds its own torch and models, a few hundred MB), and only when each
# has this many files to pay for its start (importing torch, loading models:
# 2-4 s, several files' worth). On the 2-core development machine, quiet, two
# workers beat one process by 1.23x (fast style) and 1.6x (splining) over 200
# photos (`warpaint bench batch`, docs/benchmarks.md).
AUTO_JOBS_MAX = 4
AUTO_FILES_PER_WORKER = 8


def auto_jobs(device: str, files: int, cores: int | None = None) -> int:
    """Worker processes for a batch of `files` on `device` when the user did not
    say: one process on a GPU (one device, one model), else one per core, at
    most `AUTO_JOBS_MAX` and one per `AUTO_FILES_PER_WORKER` files."""
    if device != "cpu":
        return 1
    count = cores if cores is not None else len(os.sched_getaffinity(0))
    return max(1, min(count, AUTO_JOBS_MAX, files // AUTO_FILES_PER_WORKER))


def worker_threads(jobs: int, cores: int | None = None) -> int:
    """torch threads for each of `jobs` worker processes: the cores shared out."""
    count = cores if cores is not None else len(os.sched_getaffinity(0))
    return max(1, count // jobs)


def _init_worker(recipe: Recipe, device: str, quality: int, threads: int, cancel: Any) -> None:
    import torch

    # Ctrl+C reaches the whole process group: the parent alone decides, and
    # tells the workers through `cancel`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _worker.update(recipe=recipe, device=device, quality=quality, cancel=cancel)


def _check_cancel() -> None:
    if _worker["cancel"].is_set():
        raise JobCancelled("batch")


def _work(task: Task) -> Outcome:
    return work(task, _worker["recipe"], _worker["device"], _worker["quality"], _check_cancel)


def work(
    task: Task, recipe: Recipe, device: str | None, quality: int, check: Callable[[], None]
) -> Outcome:
    """Run one task in a worker (a process of `jobs` or of a cluster): its
    staged result, its failure, or nothing when the batch was cancelled
    before it was written."""
    try:
        staged, notes = process_file(recipe, task, device, quality, check)
    except JobCancelled:
        return Outcome(task)
    except Exception as err:  # noqa: BLE001 - reported as the file's one line, the rest go on
        return Outcome(task, failure=_failure(err, ""))
    return Outcome(task, staged, tuple(notes))


def _run_parallel(
    recipe: Recipe,
    plan: Plan,
    journal: Journal,
    progress: Progress,
    device: str,
    quality: int,
    jobs: int,
    summary: Summary,
    one_line: Callable[[str], str],
) -> None:
    """Workers run the files and stage their results; this process alone
    commits them (rename and journal line), so a worker stopped at any point
    leaves at most a temporary file, removed here once it is gone."""
    import multiprocessing

    from warpaint.engine.io.atomic import remove_stale_temp_files

    context = multiprocessing.get_context("spawn")
    cancel = context.Event()
    pool = context.Pool(
        min(jobs, len(plan.tasks)),
        _init_worker,
        (recipe, device, quality, worker_threads(jobs), cancel),
    )
    outcomes = pool.imap_unordered(_work, plan.tasks)
    try:
        for outcome in outcomes:
            _finish(outcome, journal, progress, summary, one_line)
    except KeyboardInterrupt:
        summary.cancelled = True
        cancel.set()
        # The workers stop at their next check; what they finish meanwhile is
        # committed. A second Ctrl+C stops waiting.
        deadline = time.monotonic() + CANCEL_GRACE_S
        with contextlib.suppress(KeyboardInterrupt):
            while (left := deadline - time.monotonic()) > 0:
                try:
                    outcome = outcomes.next(left)
                except (StopIteration, multiprocessing.TimeoutError):
                    break
                _finish(outcome, journal, progress, summary, one_line)
    finally:
        with _interrupts_deferred():
            pool.terminate()
            pool.join()
            # Staged results no one committed, and writes the stop cut short.
            for folder in {task.output.parent for task in plan.tasks}:
                remove_stale_temp_files(folder)


def stderr_progress(total: int) -> Progress:
    """Progress on stderr, drawn as a bar on a terminal or wherever
    WARPAINT_PROGRESS=always."""
    tty = sys.stderr.isatty() or os.environ.get("WARPAINT_PROGRESS") == "always"
    return Progress(sys.stderr, total, tty)
