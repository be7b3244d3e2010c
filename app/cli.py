"""The `warpaint` command: the GUI, and the same engine headless.

    warpaint [FILES...]                     open the GUI (the sample document if no files)
    warpaint effects [--json]               list effects and their parameters
    warpaint apply EFFECT INPUT -o OUTPUT [--set NAME=VALUE ...] [--device D]
    warpaint apply --recipe RECIPE.json INPUT -o OUTPUT [--device D]
    warpaint batch RECIPE.json INPUTS... -o OUTDIR [--name P] [--format F] [--resume] ...
    warpaint info FILE [--json]
    warpaint bench NAME [--json]            (`warpaint bench list` lists them)
    warpaint demo [-o DIR] [--quick]
    warpaint recover [--restore N -o OUT.ora | --discard N]

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no
traceback), 1 internal error, 130 cancelled with Ctrl+C. The GUI is imported
only when asked for, so the headless commands never load Qt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from warpaint import __version__
from warpaint.engine.runtime.errors import BadInputError, WarpaintError

COMMANDS = ("effects", "apply", "batch", "info", "bench", "demo", "train", "recover", "gui")
RASTER_TARGET = "replace"  # a flat output file shows the effect alone
LAYERED_TARGET = "new_layer"  # an .ora output keeps the input as a layer below


class UsageError(WarpaintError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="warpaint", description="Warpaint image editor, headless commands.")
    parser.add_argument("--version", action="version", version=f"warpaint {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("gui", help="open the editor window")
    p.add_argument("files", nargs="*")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))

    p = sub.add_parser("effects", help="list effects and their parameters")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("apply", help="run one effect (or a recipe of steps) on a file")
    p.add_argument("effect", nargs="?")
    p.add_argument("input", nargs="?")
    p.add_argument("--recipe", help="apply the steps of this recipe instead of one effect")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="sets")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--layer", help="name of the layer to apply to (default: the top layer)")
    p.add_argument("--target", choices=("new_layer", "replace"), help="where the result goes")
    p.add_argument("--quality", type=int, default=92, help="JPEG/WebP quality (1-100)")

    p = sub.add_parser(
        "batch",
        help="run a recipe over many files",
        description="Run a recipe's steps over files, folders and globs, writing one output "
        "per input into OUTDIR. Progress, one line per failed or skipped file and a summary "
        "go to stderr.",
        epilog="Exit codes: 0 every file done (or skipped), 1 some files failed (the others "
        "were written), 2 bad arguments or a bad recipe (nothing run), 130 cancelled with Ctrl+C "
        "(finished files kept; --resume goes on).",
    )
    p.add_argument("recipe", help="the recipe (.json)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for outputs")
    p.add_argument(
        "--name",
        default="{stem}.{ext}",
        help="output name pattern: {stem}, {ext}, {index} (default: %(default)s)",
    )
    p.add_argument("--format", choices=("png", "jpg", "tif", "webp", "ora"), help="output format")
    p.add_argument("--quality", type=int, default=92, help="JPEG/WebP quality (1-100)")
    p.add_argument(
        "--existing",
        choices=("skip", "overwrite", "rename"),
        default="skip",
        help="an output name that exists or that two inputs share (default: %(default)s)",
    )
    p.add_argument("--recursive", action="store_true", help="folders' sub-folders too")
    p.add_argument(
        "--resume", action="store_true", help="skip inputs the journal in OUTDIR says are done"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes, each loading the models once (default: on a CPU one per "
        "core, at most 4, when there are 8 files or more for each; else 1)",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the files on a Dask cluster's workers: a scheduler (tcp://host:8786) or "
        "'local' (--jobs workers here); needs the 'cluster' extra (docs/cluster.md)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    from warpaint.engine.features.video import clip as video_clip

    video_clip.add_arguments(p)

    p = sub.add_parser("info", help="describe an image or document")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", help="run a benchmark ('list' lists them)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for smoke tests")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--cluster", metavar="ADDRESS", help="batch only: on a Dask cluster, or 'local'")

    p = sub.add_parser("demo", help="apply every effect to the sample and export the results")
    p.add_argument("-o", "--output", default="demo-out")
    p.add_argument("--quick", action="store_true", help="small sizes, for tests")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--no-screenshot", action="store_true")

    p = sub.add_parser("train", help="train a network the effects use (style, gaze, ...)")
    from warpaint.engine.runtime.training import add_parsers

    add_parsers(p.add_subparsers(dest="kind", required=True, parser_class=_Parser))

    p = sub.add_parser("recover", help="list, restore or discard autosaved documents")
    p.add_argument("--restore", type=int, metavar="N")
    p.add_argument("--discard", type=int, metavar="N")
    p.add_argument("-o", "--output", help="where to write the restored .ora")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in COMMANDS and not args_list[0].startswith("-")):
        args_list.insert(0, "gui")
    try:
        args = build_parser().parse_args(args_list)
        handler = globals()[f"cmd_{args.command}"]
        return int(handler(args) or 0)
    except WarpaintError as exc:
        print(f"warpaint: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _end_progress()
        print("warpaint: cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (`warpaint effects | head`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE
    except OSError as exc:
        if exc.filename is None:
            return _internal_error(exc)
        # The system refused a path the user gave (too long, a loop of links, ...).
        name = exc.filename if isinstance(exc.filename, str) else repr(exc.filename)
        reason = exc.strerror or type(exc).__name__
        print(f"warpaint: error: {one_line(name)}: {reason}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - last resort: one line, details on request
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    if os.environ.get("WARPAINT_DEBUG"):
        traceback.print_exception(exc)
    print(f"warpaint: internal error: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
    return 1


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped (a file or
    layer name may hold a newline), so that a message stays one line."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


# -- commands ------------------------------------------------------------


def cmd_gui(args: argparse.Namespace) -> int:
    from warpaint.engine.io.limits import check_regular_file

    for name in args.files:
        check_regular_file(name)
    from warpaint.gui.app import run_gui

    return int(run_gui(list(args.files), device=args.device))


def cmd_effects(args: argparse.Namespace) -> int:
    from warpaint.engine.runtime.registry import effects

    specs = effects()
    if args.json:
        print(json.dumps({eid: spec.to_json() for eid, spec in specs.items()}, indent=2))
        return 0
    for eid, spec in specs.items():
        print(f"{eid}  ({spec.title}) - {spec.description}")
        reason = spec.unavailable_reason()
        if reason is not None:
            print(f"    unavailable: {reason}")
        for p in spec.all_params({}):
            bounded = p.min is not None and p.max is not None
            rng = f" [{p.bound_text(p.min)}..{p.bound_text(p.max)}]" if bounded else ""
            choices = f" {{{', '.join(p.choices)}}}" if p.choices else ""
            print(f"    {p.name} ({p.type.value}{rng}{choices}) default {p.default!r}: {p.label}")
    return 0


def parse_sets(spec: Any, sets: list[str]) -> dict[str, Any]:
    """`--set NAME=VALUE` items parsed by their parameters. Declared parameters
    first, then the rest, looked up among the parameters those values derive
    (e.g. the sliders of the model given by `--set model=...`)."""
    items: list[tuple[str, str]] = []
    for item in sets:
        name, sep, text = item.partition("=")
        if not sep:
            raise BadInputError(f"--set {item!r}: expected NAME=VALUE")
        items.append((name.strip(), text))
    declared = {p.name: p for p in spec.params}
    values: dict[str, Any] = {}
    for name, text in items:
        if name in declared:
            values[name] = declared[name].parse(text)
    derived = {p.name: p for p in spec.all_params(values)}
    for name, text in items:
        if name not in declared:
            if name not in derived:
                raise BadInputError(f"{spec.id} has no parameter {name!r}")
            values[name] = derived[name].parse(text)
    return values


def cmd_apply(args: argparse.Namespace) -> int:
    from warpaint.engine.io import open_document
    from warpaint.engine.runtime.apply import commit_effect, effect_job
    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.jobs import JobRunner, JobState
    from warpaint.engine.runtime.registry import get_effect

    if args.recipe is not None:
        return _apply_recipe(args)
    if args.input is None:
        raise UsageError("apply needs an EFFECT and an INPUT, or --recipe and an INPUT")
    spec = get_effect(args.effect)
    params = parse_sets(spec, args.sets)
    spec.resolve(params)
    output = Path(args.output)
    layered = output.suffix.lower() == ".ora"
    _check_output(output)
    doc = open_document(args.input)
    layer = _pick_layer(doc, args.layer)
    runner = JobRunner(choose_device(args.device))
    try:
        job = runner.submit(
            effect_job(doc.state, layer.id, spec.id, params),
            spec.title,
            on_progress=_terminal_progress(spec.title),
        )
        try:
            while not job.wait(0.1):
                pass
        except KeyboardInterrupt:
            runner.cancel(job)
            stopped = job.wait(2.0)
            _end_progress()
            print("warpaint: cancelled, nothing written", file=sys.stderr)
            if not stopped:
                # The job is inside one long native operation and has not reached
                # its next check. Leaving through the interpreter's shutdown would
                # wait for it (torch's OpenMP runtime joins its threads at exit), so
                # leave now: nothing has been written, there is nothing to clean up.
                sys.stderr.flush()
                os._exit(130)
            return 130
    finally:
        runner.shutdown(wait=1.0)
    _end_progress()
    if job.state is JobState.FAILED:
        if isinstance(job.error, WarpaintError):
            raise job.error
        raise RuntimeError(job.error_message)
    for note in job.messages:
        print(f"warpaint: {one_line(note)}", file=sys.stderr)
    target = args.target or (LAYERED_TARGET if layered else RASTER_TARGET)
    commit_effect(doc, job.result, target=target)
    _write_result(doc, output, args.quality)
    return 0


def _apply_recipe(args: argparse.Namespace) -> int:
    """`apply --recipe R INPUT -o OUT`: the recipe's steps, each placed as it
    was recorded; nothing is written unless every step ran."""
    from warpaint.engine.io import open_document
    from warpaint.engine.runtime.recipes import load_recipe, run_recipe

    if args.input is not None:
        raise UsageError("give an effect or --recipe, not both")
    if args.effect is None:
        raise UsageError("apply --recipe needs an INPUT file")
    if args.sets or args.layer is not None or args.target is not None:
        raise UsageError("--set, --layer and --target go with an effect; a recipe holds its own")
    recipe = load_recipe(args.recipe)
    output = Path(args.output)
    _check_output(output)
    doc = open_document(args.effect)

    def note(text: str) -> None:
        print(f"warpaint: {one_line(text)}", file=sys.stderr)

    run_recipe(doc, recipe, device=args.device, on_message=note)
    _write_result(doc, output, args.quality)
    return 0


def _write_result(doc: Any, output: Path, quality: int) -> None:
    """`doc` saved as .ora, or its flatten exported, with notes on stderr."""
    from warpaint.engine.io import export_image, save_document

    if output.suffix.lower() == ".ora":
        notes = save_document(doc, str(output))
    else:
        notes = list(export_image(doc.state, str(output), quality=quality).notes)
    for note in notes:
        print(f"warpaint: {one_line(note)}", file=sys.stderr)


def cmd_batch(args: argparse.Namespace) -> int:
    """`batch R.json INPUTS... -o OUTDIR`: everything is checked and planned
    before the first file runs (exit 2 with nothing written otherwise)."""
    from warpaint.engine.io.video import is_video
    from warpaint.engine.runtime import batch
    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.recipes import load_recipe
    from warpaint.engine.runtime.registry import get_effect

    settings = batch.OutputSettings(args.name, args.format, args.quality, args.existing)
    settings.check()
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    recipe = load_recipe(args.recipe)
    for n, step in enumerate(recipe.steps, 1):
        reason = get_effect(step.effect_id).unavailable_reason()
        if reason is not None:
            raise BadInputError(f"{args.recipe}: step {n} ({step.effect_id}): {reason}")
    if any(map(is_video, [*args.inputs, args.output])):
        if args.cluster:
            raise UsageError("--cluster runs image batches; a video runs here")
        from warpaint.engine.features.video import clip

        return clip.run_video_batch(args, recipe, one_line)
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise BadInputError(f"{outdir}: not a folder")
    if not outdir.exists() and not outdir.parent.is_dir():
        raise BadInputError(f"{outdir.parent}: no such folder")
    files, skipped = batch.collect_inputs(args.inputs, args.recursive, exclude=outdir)
    journal = batch.Journal(outdir)
    recipe_key = batch.recipe_hash(args.recipe, recipe)
    plan = batch.plan_batch(files, outdir, settings, recipe_key, journal, args.resume)
    plan.skipped[:0] = skipped
    # On a cluster each worker picks its own device.
    device = (args.device or "auto") if args.cluster else choose_device(args.device)
    outdir.mkdir(exist_ok=True)
    progress = batch.stderr_progress(len(plan.tasks))
    jobs = args.jobs if args.jobs is not None else batch.auto_jobs(device, len(plan.tasks))
    summary = batch.run_batch(
        recipe, plan, journal, progress, device, args.quality, jobs, one_line, args.cluster
    )
    progress.end(summary)
    if summary.cancelled:
        if summary.stuck:
            # As in `apply`: the job is inside one long native operation; leaving
            # through the interpreter's shutdown would wait for it.
            sys.stderr.flush()
            os._exit(130)
        return 130
    return 1 if summary.failed else 0


def cmd_info(args: argparse.Namespace) -> int:
    from warpaint.engine.io import describe

    info = describe(args.file)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for key, value in info.items():
        if key == "layers":
            print(f"layers: {len(value)}")
            _print_tree(info["tree"])
        elif key == "tree":
            continue
        elif key == "warnings":
            for warning in value:
                print(f"warning: {one_line(warning)}")
        else:
            print(f"{key}: {value}")
    return 0


def _print_tree(tree: list[dict[str, Any]]) -> None:
    """Layers and groups top first, each group's children indented below it."""
    todo = [(node, 1) for node in reversed(tree)]
    while todo:
        node, depth = todo.pop()
        facts = {k: v for k, v in node.items() if k != "children"}
        print("  " * depth + "- " + ", ".join(f"{k}={one_line(str(v))}" for k, v in facts.items()))
        todo += [(child, depth + 1) for child in reversed(node.get("children", []))]


def cmd_bench(args: argparse.Namespace) -> int:
    # The editor's own benchmarks (slider to repainted canvas) register with the engine's;
    # the module imports Qt only when one of them runs.
    import warpaint.app.bench_contention  # noqa: F401
    import warpaint.gui.bench_canvas  # noqa: F401
    from warpaint.engine.runtime.bench import load_all, run_benchmark
    from warpaint.engine.runtime.device import machine_info

    if args.name == "list":
        for name, bench in load_all().items():
            print(f"{name}: {bench.description}")
        return 0
    if args.cluster and args.name != "batch":
        raise UsageError("--cluster is for `warpaint bench batch`")
    if args.cluster:
        from warpaint.engine.runtime.bench_batch import bench_batch_cluster

        result = {
            "benchmark": "batch",
            **bench_batch_cluster(args.quick, args.device, args.cluster),
        }
    else:
        result = run_benchmark(args.name, quick=args.quick, device=args.device)
    result["machine"] = machine_info(result.get("device"))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from warpaint.app.demo import run_demo

    written = run_demo(
        Path(args.output),
        quick=args.quick,
        device=args.device,
        screenshot=not args.no_screenshot,
        log=lambda line: print(line, file=sys.stderr),
    )
    for path in written:
        print(path)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import torch  # noqa: F401  (threads_for_job sets torch's count)

    from warpaint.engine.runtime.cpu_threads import start_monitor, threads_for_job

    start_monitor()
    # torch's threads for the cores other programs leave free when training starts.
    with threads_for_job():
        return int(args.train_run(args) or 0)


def cmd_recover(args: argparse.Namespace) -> int:
    from warpaint.engine.io import (
        discard_recovery,
        list_recoveries,
        restore_recovery,
        save_document,
    )
    from warpaint.engine.io.autosave import check_restore_target

    records = list_recoveries()
    if args.restore is None and args.discard is None:
        if not records:
            print("no recovery files")
        for i, rec in enumerate(records, 1):
            print(f"{i}: {one_line(str(rec))}")
        return 0
    index = args.restore if args.restore is not None else args.discard
    if not 1 <= index <= len(records):
        raise BadInputError(f"no recovery file number {index} (there are {len(records)})")
    record = records[index - 1]
    if args.discard is not None:
        discard_recovery(record)
        return 0
    if not args.output:
        raise BadInputError("--restore needs -o OUT.ora")
    check_restore_target(args.output)
    doc = restore_recovery(record)
    for note in save_document(doc, args.output):
        print(f"warpaint: {one_line(note)}", file=sys.stderr)
    discard_recovery(record)
    print(args.output)
    return 0


# -- helpers ---------------------------------------------------------------


def _check_output(output: Path) -> None:
    from warpaint.engine.io import EXPORT_FORMATS

    suffix = output.suffix.lower().lstrip(".")
    if suffix != "ora" and suffix not in EXPORT_FORMATS:
        known = ", ".join(sorted(["ora", *EXPORT_FORMATS]))
        raise BadInputError(f"{output}: unknown output format (use one of: {known})")
    if not output.parent.exists() and str(output.parent) != "":
        raise BadInputError(f"{output.parent}: no such folder")


def _pick_layer(doc: Any, name: str | None) -> Any:
    if not doc.layers:
        raise BadInputError("the document has no layers")
    if name is None:
        return doc.layers[-1]
    for layer in reversed(doc.layers):
        if layer.name == name:
            return layer
    raise BadInputError(f"no layer named {name!r}")


_progress_state = {"shown": False, "last": 0.0}


def _terminal_progress(title: str):  # type: ignore[no-untyped-def]
    """A progress callback drawing a bar on stderr: on a terminal, or wherever
    `WARPAINT_PROGRESS=always` (a program reading the bar through a pipe)."""
    tty = sys.stderr.isatty() or os.environ.get("WARPAINT_PROGRESS") == "always"

    def show(job: Any, fraction: float, preview: Any) -> None:
        now = time.monotonic()
        if not tty or now - _progress_state["last"] < 0.1:
            return
        _progress_state.update(shown=True, last=now)
        filled = int(fraction * 30)
        bar = "#" * filled + "-" * (30 - filled)
        sys.stderr.write(f"\r{title} [{bar}] {fraction * 100:5.1f}%")
        sys.stderr.flush()

    return show


def _end_progress() -> None:
    if _progress_state["shown"]:
        sys.stderr.write("\n")
        _progress_state["shown"] = False


if __name__ == "__main__":
    sys.exit(main())
