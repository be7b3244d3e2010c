"""`warpaint train preset`: a fast-style preset from your own style image.

    warpaint train preset starry.jpg --name starry   # new, or resumes an unfinished "starry"
    warpaint train preset --name starry              # resume without the image
    warpaint train preset --list
    warpaint train preset --remove starry

The preset lands in the user's model folder (`user_presets.presets_dir`), where
the fast-style effect and the editor's gallery find it. Ctrl+C keeps the work
state; the same command continues from it (`preset_job`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from warpaint.engine.runtime.cpu_threads import revisit

KIND = "preset"
HELP = "a fast-style preset from your own style image (about 20 minutes on a 2-core CPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("style", nargs="?", metavar="STYLE_IMAGE", help="the style image")
    parser.add_argument(
        "--name", help="the preset's name (default: the image's file name without its extension)"
    )
    parser.add_argument(
        "--restart", action="store_true", help="discard an unfinished job of that name first"
    )
    parser.add_argument("--list", action="store_true", help="list your presets and unfinished jobs")
    parser.add_argument("--remove", metavar="NAME", help="delete a preset (and its work state)")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default 1800)")
    parser.add_argument("--crops", type=int, default=None, help="Gatys targets (default 16)")
    parser.add_argument(
        "--gatys-evaluations", type=int, default=None, help="evaluations per target (default 96)"
    )
    parser.add_argument("--size", type=int, default=None, help="side of the crops (default 256)")
    parser.add_argument(
        "--network",
        default=None,
        help="loss network of the targets and the training (default efficientnet-lite0)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from warpaint.engine.features.fast_style import user_presets
    from warpaint.engine.runtime.errors import BadInputError

    if args.list:
        _print_list()
        return 0
    if args.remove:
        for path in user_presets.remove_user_preset(args.remove):
            print(f"removed {path}")
        return 0
    if args.style is None and args.name is None:
        raise BadInputError("train preset: give a style image (and --name), or --name to resume")
    name = args.name if args.name is not None else Path(args.style).stem
    user_presets.check_name(name)
    return _train(args, name)


def _budget(args: argparse.Namespace) -> Any:
    from warpaint.engine.features.fast_style.preset_job import PresetBudget

    changes: dict[str, Any] = {}
    for option in ("steps", "crops", "gatys_evaluations", "size"):
        if getattr(args, option) is not None:
            changes[option] = getattr(args, option)
    if args.network is not None:
        changes.update(gatys_network=args.network, loss_network=args.network)
    return PresetBudget(**changes)


def _train(args: argparse.Namespace, name: str) -> int:
    from warpaint.engine.features.fast_style import preset_job, user_presets
    from warpaint.engine.runtime.device import choose_device

    resuming = user_presets.read_job_state(user_presets.work_dir(name)) is not None
    explicit = any(
        getattr(args, o) is not None
        for o in ("steps", "crops", "gatys_evaluations", "size", "network")
    )
    # Without settings on the command line a resume keeps the job's own.
    budget = _budget(args) if explicit or not resuming or args.restart else None
    say = _Terminal(name, quiet=args.quiet)
    if resuming and not args.restart:
        say.line(f"{name}: resuming the unfinished job in {user_presets.work_dir(name)}")
    try:
        out = preset_job.train_preset(
            name,
            args.style,
            budget,
            say,
            device=choose_device(args.device),
            restart=args.restart,
        )
    except KeyboardInterrupt:
        say.end()
        print(
            f"warpaint: {name}: stopped; the work so far is kept, run the same command to continue",
            file=sys.stderr,
        )
        raise
    say.end()
    print(out)
    return 0


class _Terminal:
    """A job context that prints the job's progress and ETA on stderr (a line
    every 15 s, or one updated in place on a terminal)."""

    EVERY_S = 15.0

    def __init__(self, name: str, quiet: bool) -> None:
        self.name = name
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.phase = ""
        self.open = False

    def check(self) -> None:
        # The thread count `warpaint train` chose at the start, chosen again
        # every few seconds (the lanes' contexts do the same).
        revisit()

    def report(self, fraction: float, preview: Any = None, data: Any = None) -> None:
        self.check()  # as a lane's context does
        if self.quiet or data is None:
            return
        now = time.monotonic()
        changed = data.phase != self.phase
        if not changed and now - self.last < (1.0 if self.tty else self.EVERY_S):
            return
        self.last, self.phase = now, data.phase
        text = f"{data.text(self.name)} ({fraction * 100:.0f} %)"
        if self.tty:
            sys.stderr.write("\r" + text.ljust(78))
            self.open = True
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def line(self, text: str) -> None:
        if not self.quiet:
            self.end()
            print(text, file=sys.stderr)

    def end(self) -> None:
        if self.open:
            sys.stderr.write("\n")
            self.open = False


def _print_list() -> None:
    from warpaint.engine.features.fast_style.preset_job import format_duration
    from warpaint.engine.features.fast_style.user_presets import (
        presets_dir,
        unfinished_presets,
        user_presets,
    )

    finished, unfinished = user_presets(), unfinished_presets()
    if not finished and not unfinished:
        print(f"no presets yet in {presets_dir()}")
        return
    for preset in finished:
        took = format_duration(preset.seconds) if preset.seconds is not None else "?"
        source = preset.record.get("style_file", "?")
        print(f"{preset.name}\tfrom {source}, {took}\t{preset.path}")
    for job in unfinished:
        print(f"{job.name}\tunfinished: step {job.step} of {job.steps}\t{job.folder}")
