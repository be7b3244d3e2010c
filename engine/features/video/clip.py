"""`warpaint batch R.json clip.mp4 -o out.mp4`: a recipe over a video's frames.

Each frame becomes a one-layer document, gets the recipe's steps
(`run_recipe`, as an image in a batch does) and is flattened; when the recipe
has a style step the result goes through `temporal.Stabilizer` (the previous
output carried along the optical flow where it is reliable), so the clip does
not flicker; a one-step fast-style recipe on the CPU runs the network on
whole frames only at keyframes, and between them only where the motion does
not carry the previous output (`repaint.Repainter`). The frame rate is kept
and the source's audio copied.

Frames are done in chunks (`CHUNK_FRAMES`), each encoded as the output is
(its codec, `--crf`; its last frame kept exactly in a PNG) into a work
folder beside the output, `.<output name>.warpaint-video`, under its final
name only once complete. The output is joined from the chunks' encoded
frames at the end (no second encoding) into a temporary name and renamed
over the target, so a cancelled or failed run leaves no half-written
video; `--resume` goes on after the last finished chunk, when the recipe,
the input and the settings are those the chunks were made with (a key file
in the work folder), and a finished video is recorded in the output
folder's batch journal like an image.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from warpaint.engine.features.video.repaint import (
    BOX_HALO,
    FastStyleRunner,
    Repainter,
    fast_style_step,
)
from warpaint.engine.features.video.temporal import Stabilizer
from warpaint.engine.io.video import (
    ENCODERS,
    VIDEO_EXTENSIONS,
    VideoWriter,
    count_frames,
    is_video,
    probe,
    read_frames,
)
from warpaint.engine.runtime.batch import (
    Journal,
    Summary,
    Task,
    commit,
    file_hash,
    recipe_hash,
)
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.recipes import Recipe

CHUNK_FRAMES = 30
# Between keyframes the fast-style network repaints only what the motion does
# not carry (docs/video.md has the figures that chose the interval).
KEY_INTERVAL = 10
WORK_SUFFIX = ".warpaint-video"
# Effects whose per-frame results flicker: `temporal="auto"` stabilizes recipes using them.
STYLE_EFFECTS = frozenset({"fast-style", "arbitrary-style"})
TEMPORAL = ("auto", "on", "off")


class Cancelled(Exception):
    """Raised by a `check` callback to stop a clip between frames."""


@dataclass(frozen=True)
class VideoSettings:
    """How a clip is processed and written.

    temporal: "on" stabilizes every recipe's output, "off" none, "auto" those
        with a style step (`STYLE_EFFECTS`).
    blend: the stabilizer's weight of the previous output where the flow is
        reliable (docs/video.md has the figures that chose it).
    max_side: run the recipe on frames reduced to this long side and scale the
        result back up (faster, coarser marks); None runs at full size.
    crf: the encoder's quality (H.264 and VP9; lower is better).
    full_frames: run the network on every whole frame; by default a stabilized
        fast-style recipe on the CPU repaints, between keyframes, only what
        the motion cannot carry (`repaint.Repainter`).
    """

    temporal: str = "auto"
    blend: float = 0.7
    max_side: int | None = None
    crf: int = 18
    full_frames: bool = False

    def check(self) -> None:
        if self.temporal not in TEMPORAL:
            raise BadInputError(f"--temporal {self.temporal!r} is not one of {', '.join(TEMPORAL)}")
        if not 0.0 <= self.blend < 1.0:
            raise BadInputError(f"--temporal-blend must be in [0, 1), got {self.blend}")
        if self.max_side is not None and self.max_side < 16:
            raise BadInputError(f"--max-side must be at least 16, got {self.max_side}")
        if not 0 <= self.crf <= 51:
            raise BadInputError(f"--crf must be in 0..51, got {self.crf}")

    def stabilizes(self, recipe: Recipe) -> bool:
        if self.temporal == "auto":
            return any(step.effect_id in STYLE_EFFECTS for step in recipe.steps)
        return self.temporal == "on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The batch command's options that only videos use."""
    group = parser.add_argument_group("video inputs (mp4, mov, mkv, webm; needs warpaint[video])")
    group.add_argument(
        "--temporal",
        choices=TEMPORAL,
        default="auto",
        help="carry the previous output along the motion so styles do not flicker "
        "(auto: when the recipe has a style step; default: %(default)s)",
    )
    group.add_argument(
        "--max-side",
        type=int,
        help="run the recipe on frames reduced to this long side (faster); default: full size",
    )
    group.add_argument("--crf", type=int, default=18, help="video quality, lower is better")
    group.add_argument(
        "--full-frames",
        action="store_true",
        help="run fast style on every whole frame (slower); by default, between keyframes, "
        "only what the motion does not carry is repainted",
    )


def recipe_frame(
    recipe: Recipe,
    frame: np.ndarray,
    device: str | None,
    check: Callable[[], None] | None = None,
) -> np.ndarray:
    """One (H, W, 3) uint8 frame through the recipe: a one-layer document,
    its steps, its flatten over black -> (H, W, 3) uint8. `check` is called
    between steps (it raises to cancel)."""
    from warpaint.engine.core.compositing import flatten
    from warpaint.engine.core.document import Document
    from warpaint.engine.runtime.recipes import run_recipe

    rgba = np.empty((*frame.shape[:2], 4), np.uint8)
    rgba[..., :3] = frame
    rgba[..., 3] = 255
    doc = Document.from_array(rgba)
    run_recipe(doc, recipe, device=device, check=check)
    flat = flatten(doc.state)
    if (flat[..., 3] == 255).all():
        return np.ascontiguousarray(flat[..., :3])
    alpha = flat[..., 3:].astype(np.uint16)
    return ((flat[..., :3] * alpha + 127) // 255).astype(np.uint8)


class FrameProcessor:
    """Frames through the recipe (at `max_side`) and the stabilizer, in order.

    A stabilized fast-style recipe on the CPU at full size goes through a
    `repaint.Repainter` unless `settings.full_frames`: a keyframe every
    `KEY_INTERVAL` frames and at every chunk's start (so a resumed clip's
    frames are those of an uninterrupted run), only what the motion does not
    carry repainted between them.
    """

    def __init__(
        self,
        recipe: Recipe,
        settings: VideoSettings,
        device: str | None,
        check: Callable[[], None] | None = None,
    ) -> None:
        from warpaint.engine.runtime.device import choose_device

        self.recipe = recipe
        self.settings = settings
        self.device = device
        self.check = check
        self.stabilizer = Stabilizer(settings.blend) if settings.stabilizes(recipe) else None
        self.index = 0
        self.repainter: Repainter | None = None
        step = fast_style_step(recipe)
        if (
            self.stabilizer is not None
            and step is not None
            and not settings.full_frames
            and settings.max_side is None
            and choose_device(device) == "cpu"
        ):
            # On a GPU the whole network costs milliseconds: nothing to save.
            self.repainter = Repainter(FastStyleRunner(step, "cpu", BOX_HALO), self.stabilizer)

    def resume(self, content: np.ndarray, output: np.ndarray, index: int = 0) -> None:
        """Go on after a frame whose content and output are given; `index`
        is the next frame's number in the clip."""
        self.index = index
        if self.repainter is not None:
            self.repainter.resume(content, output)
        elif self.stabilizer is not None:
            self.stabilizer.resume(content, output)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        index, self.index = self.index, self.index + 1
        if self.repainter is not None:
            key = index % KEY_INTERVAL == 0 or index % CHUNK_FRAMES == 0
            return self.repainter(frame, key)
        h, w = frame.shape[:2]
        side = self.settings.max_side
        if side is not None and max(h, w) > side:
            scale = side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            styled = recipe_frame(self.recipe, small, self.device, self.check)
            out = cv2.resize(styled, (w, h), interpolation=cv2.INTER_CUBIC)
        else:
            out = recipe_frame(self.recipe, frame, self.device, self.check)
        if self.stabilizer is not None:
            out = self.stabilizer(frame, out)
        return out  # type: ignore[no-any-return]


class FrameProgress:
    """A clip's progress on a stream: a bar redrawn in place on a terminal
    (frames done, frames per second, time left), a line per chunk elsewhere."""

    def __init__(self, stream: TextIO, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.name = ""
        self.total = 0
        self.done = 0
        self.counted = 0
        self.start = time.monotonic()

    def begin(self, name: str, total: int, done: int) -> None:
        self.name, self.total, self.done, self.counted = name, total, done, 0
        self.start = time.monotonic()
        if done:
            self.line(f"warpaint: {name}: resuming after frame {done}")

    def status(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.counted / elapsed if elapsed > 0 else 0.0
        eta = f"{(self.total - self.done) / rate:.0f}s" if rate > 0 else "?"
        return f"{self.done}/{self.total} frames {rate:.2f} frames/s ETA {eta}"

    def frame(self, chunk_end: bool) -> None:
        self.done += 1
        self.counted += 1
        if self.tty:
            filled = int(30 * self.done / self.total) if self.total else 30
            bar = "#" * filled + "-" * (30 - filled)
            self.stream.write(f"\r[{bar}] {self.status()} {self.name}\x1b[K")
            self.stream.flush()
        elif chunk_end:
            self.line(f"[{self.status()}] {self.name}")

    def line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()


def work_folder(output: Path) -> Path:
    """Where a clip's finished chunks are kept until its output is written."""
    return output.with_name(f".{output.name}{WORK_SUFFIX}")


def _chunk_path(folder: Path, index: int) -> Path:
    # MP4 keeps each packet's decoding time, which joining the chunks needs
    # (Matroska leaves it to the reader); it holds H.264 and VP9 alike.
    return folder / f"chunk-{index:05d}.mp4"


def _last_path(folder: Path, index: int) -> Path:
    """A chunk's last output frame, kept exactly: a resumed clip's stabilizer
    goes on from it."""
    return folder / f"chunk-{index:05d}.last.png"


def clip_key(recipe_key: str, source: Path, output: Path, settings: VideoSettings) -> str:
    """The journal key of a clip's output: recipe, input, format and settings."""
    data = {
        "recipe": recipe_key,
        "input": file_hash(source),
        "format": output.suffix.lower().lstrip("."),
        **asdict(settings),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _finished_chunks(folder: Path, key: str) -> int:
    """How many chunks from the first one are done for `key` (0 when the
    folder holds another key's chunks)."""
    try:
        if (folder / "key").read_text(encoding="utf-8").strip() != key:
            return 0
    except OSError:
        return 0
    count = 0
    while _chunk_path(folder, count).is_file():
        count += 1
    return count


def _save_last(path: Path, frame: np.ndarray) -> None:
    from PIL import Image

    from warpaint.engine.io.atomic import atomic_write

    with atomic_write(path) as fh:
        Image.fromarray(frame).save(fh, format="PNG", compress_level=1)


def _load_last(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as err:
        raise BadInputError(f"{path}: unreadable ({err}); run without --resume") from None


def process_clip(
    recipe: Recipe,
    source: Path,
    output: Path,
    key: str,
    settings: VideoSettings,
    device: str | None = None,
    check: Callable[[], None] = lambda: None,
    progress: FrameProgress | None = None,
    resume: bool = False,
    place: Callable[[Path], None] | None = None,
) -> int:
    """Run the recipe over `source`'s frames and write `output` (the source's
    rate and audio kept); returns the number of frames written. `check` is
    called before each frame and between recipe steps (it raises to cancel).
    With `resume`, the chunks finished by an earlier run with the same `key`
    are kept. `place` puts the finished file, written under a temporary name
    and synced, in place as `output` (default: a rename; a batch renames
    and journals it with `batch.commit`)."""
    info = probe(source)
    total = count_frames(source)
    if total == 0:
        raise BadInputError(f"{source}: has no frames")
    folder = work_folder(output)
    done_chunks = _finished_chunks(folder, key) if resume else 0
    if done_chunks == 0 and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(exist_ok=True)
    (folder / "key").write_text(key + "\n", encoding="utf-8")
    start = min(done_chunks * CHUNK_FRAMES, total)
    processor = FrameProcessor(recipe, settings, device, check)
    frames = read_frames(source, max(0, start - 1))
    if start > 0:
        processor.resume(next(frames), _load_last(_last_path(folder, done_chunks - 1)), start)
    if progress is not None:
        progress.begin(str(source), total, start)
    index = start
    pending = next(frames, None)
    while pending is not None:
        part = index // CHUNK_FRAMES
        with VideoWriter(
            _chunk_path(folder, part),
            info.width,
            info.height,
            info.rate,
            codec=ENCODERS[output.suffix.lower().lstrip(".")],
            crf=settings.crf,
        ) as chunk:
            while pending is not None:
                check()
                last = processor(pending)
                chunk.write(last)
                index += 1
                pending = next(frames, None)
                end = index % CHUNK_FRAMES == 0
                if progress is not None:
                    progress.frame(end or pending is None)
                if end:
                    break
            # The frame before the chunk: a chunk counts as done once it is there.
            _save_last(_last_path(folder, part), last)
            chunk.finish()
    check()
    with VideoWriter(
        output,
        info.width,
        info.height,
        info.rate,
        audio_from=source,
        like=_chunk_path(folder, 0),
    ) as writer:
        part = 0
        while _chunk_path(folder, part).is_file():
            writer.append(_chunk_path(folder, part))
            part += 1
        staged = writer.finish_staged()
    try:
        (place or (lambda path: os.replace(path, output)))(staged)
    finally:
        staged.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    return writer.count


def video_outputs(
    inputs: Sequence[str],
    output: str,
    name: str,
    existing: str,
    ours: Callable[[Path], bool] = lambda _path: False,
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(input, output) pairs and skipped inputs' reasons. `output` is the
    video file for one input, or a folder where each input's output is named
    by `name` (`{stem}`, `{ext}`: the input's suffix, `{index}`). A name
    that exists is settled by `existing` (skip, overwrite, rename), except
    one that `ours` says a resumed batch made (it is kept or made again)."""
    from warpaint.engine.runtime.batch import check_name_pattern, output_name

    sources = [Path(n) for n in inputs]
    for path in sources:
        if not is_video(path):
            raise BadInputError(
                f"{path}: not a video ({', '.join(sorted(VIDEO_EXTENSIONS))}); "
                "run videos and images in separate batches"
            )
        if not path.is_file():
            raise BadInputError(f"{path}: no such file")
    target = Path(output)
    if is_video(target) and not target.is_dir():
        if len(sources) != 1:
            raise BadInputError(f"-o {output}: one output file takes one input video")
        if not target.parent.is_dir():
            raise BadInputError(f"{target.parent}: no such folder")
        named = [(sources[0], target)]
    else:
        check_name_pattern(name)
        if target.exists() and not target.is_dir():
            raise BadInputError(f"{target}: not a folder")
        if not target.exists() and not target.parent.is_dir():
            raise BadInputError(f"{target.parent}: no such folder")
        named = []
        for index, source in enumerate(sources, 1):
            ext = source.suffix.lstrip(".")
            out = target / output_name(name, source, index, ext)
            if not is_video(out):
                raise BadInputError(f"--name gives {out.name!r}: not a video name")
            named.append((source, out))
    pairs: list[tuple[Path, Path]] = []
    skipped: list[str] = []
    taken: set[Path] = set()
    for source, out in named:
        if out in taken or (out.exists() and not ours(out)):
            if existing == "skip":
                skipped.append(f"{source}: {out} exists")
                continue
            if existing == "rename":
                n = 2
                while (fresh := out.with_name(f"{out.stem} ({n}){out.suffix}")) in taken or (
                    fresh.exists()
                ):
                    n += 1
                out = fresh
        taken.add(out)
        pairs.append((source, out))
    return pairs, skipped


def run_video_batch(
    args: argparse.Namespace, recipe: Recipe, one_line: Callable[[str], str] = str
) -> int:
    """The batch command for video inputs: exit 0 all done (or skipped), 1 some
    failed, 130 cancelled with Ctrl+C (finished chunks kept for --resume)."""
    from warpaint.engine.io.video import load_av
    from warpaint.engine.runtime.device import choose_device

    load_av()
    settings = VideoSettings(
        args.temporal,
        max_side=args.max_side,
        crf=args.crf,
        full_frames=bool(getattr(args, "full_frames", False)),
    )
    settings.check()
    if args.format is not None:
        raise BadInputError("--format is for images; a video's output name gives its format")
    journals: dict[Path, Journal] = {}

    def journal_of(output: Path) -> Journal:
        if output.parent not in journals:
            journals[output.parent] = Journal(output.parent)
        return journals[output.parent]

    def ours(output: Path) -> bool:
        return bool(args.resume) and journal_of(output).knows(output.name)

    pairs, skipped = video_outputs(args.inputs, args.output, args.name, args.existing, ours)
    recipe_key = recipe_hash(args.recipe, recipe)
    device = choose_device(args.device)
    tty = sys.stderr.isatty() or os.environ.get("WARPAINT_PROGRESS") == "always"
    progress = FrameProgress(sys.stderr, tty)
    summary = Summary(skipped=len(skipped))
    if (getattr(args, "jobs", None) or 1) > 1:
        progress.line("warpaint: --jobs is for images; a video's frames run in order")
    for text in skipped:
        progress.line(f"warpaint: skipped: {one_line(text)}")
    try:
        for index, (source, output) in enumerate(pairs, 1):
            output.parent.mkdir(exist_ok=True)
            journal = journal_of(output)
            key = clip_key(recipe_key, source, output, settings)
            if args.resume and journal.done(key, output):
                summary.skipped += 1
                progress.line(
                    f"warpaint: skipped {one_line(str(source))}: done earlier (the journal)"
                )
                continue
            task = Task(index, source, output, key)
            journal.open()
            try:
                process_clip(
                    recipe,
                    source,
                    output,
                    key,
                    settings,
                    device,
                    progress=progress,
                    resume=args.resume,
                    place=functools.partial(commit, task, journal=journal),
                )
            except BadInputError as err:
                summary.failed += 1
                progress.line(f"warpaint: failed: {one_line(str(err))}")
                continue
            finally:
                journal.close()
            summary.done += 1
            progress.line(f"warpaint: {one_line(f'{source} -> {output}')}")
    except (KeyboardInterrupt, Cancelled):
        summary.cancelled = True
        progress.line("warpaint: cancelled; finished chunks are kept for --resume")
    progress.line(summary.line())
    if summary.cancelled:
        return 130
    return 1 if summary.failed else 0
