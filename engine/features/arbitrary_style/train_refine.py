"""`warpaint train adain-refine STYLE IMAGE`: refine the AdaIN decoder for one style.

Fine-tunes the shipped decoder on STYLE and IMAGE for `--seconds` of training
(`refine.refine_decoder`), printing a progress line every few seconds, and
saves the result in the user's model folder, where the arbitrary-style
effect finds it whenever STYLE is the style (unless `--set refined=false`).
Ctrl+C saves the state; the same command later resumes from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

KIND = "adain-refine"
HELP = "refine the arbitrary-style decoder for one style image on one photo (<= 60 s, resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from warpaint.engine.features.arbitrary_style.refine import RefineConfig

    d = RefineConfig()
    parser.add_argument("style", help="the style image")
    parser.add_argument("image", help="the photo to refine on (the image you will stylize)")
    parser.add_argument(
        "--name", default=None, help="the style's name in the model file (default: its file name)"
    )
    parser.add_argument("--seconds", type=float, default=d.seconds, help="training time budget")
    parser.add_argument("--steps", type=int, default=d.steps, help="stop after N steps (0: time)")
    parser.add_argument("--crop", type=int, default=d.crop, help="training crop side (px)")
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--style-weight", type=float, default=d.style_weight)
    parser.add_argument("--recon-weight", type=float, default=d.recon_weight)
    parser.add_argument("--detail-weight", type=float, default=d.detail_weight)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=None, help="folder (default: user model folder)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best)")


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from warpaint.engine.core.tensors import to_tensor
    from warpaint.engine.features.arbitrary_style.refine import RefineConfig, refine_decoder
    from warpaint.engine.io import read_image_array
    from warpaint.engine.neural.effect_helpers import rgb
    from warpaint.engine.runtime.device import choose_device

    config = RefineConfig(
        seconds=args.seconds,
        steps=args.steps,
        crop=args.crop,
        batch=args.batch,
        lr=args.lr,
        style_weight=args.style_weight,
        recon_weight=args.recon_weight,
        detail_weight=args.detail_weight,
        seed=args.seed,
    )
    config.check()
    device = choose_device(args.device)
    style = rgb(to_tensor(read_image_array(args.style), device))
    content = rgb(to_tensor(read_image_array(args.image), device))
    name = args.name or Path(args.style).stem
    shown = {"at": 0.0, "first": True}

    def progress(fraction: float, info: dict[str, object]) -> None:
        now = time.monotonic()
        if shown["first"] and info["resumed_from"]:
            print(f"resumed at step {info['resumed_from']}", flush=True)
        shown["first"] = False
        if now - shown["at"] < 2.0 and fraction < 1.0:
            return
        shown["at"] = now
        losses = info["losses"]
        last = losses[-1][1] if isinstance(losses, list) and losses else {}
        print(
            f"step {info['step']}  {fraction * 100:5.1f} %  {float(info['seconds']):5.1f} s  "  # type: ignore[arg-type]
            + "  ".join(f"{k} {v:.4f}" for k, v in last.items()),
            flush=True,
        )

    print(f"refining the AdaIN decoder for {name} on {device}: {config}", flush=True)
    try:
        result = refine_decoder(
            content,
            style,
            name,
            config,
            device=device,
            progress=progress,
            output_dir=args.output_dir,
        )
    except KeyboardInterrupt:
        print("interrupted: the state is saved; the same command resumes it", file=sys.stderr)
        return 130
    print(f"wrote {result.path} ({result.steps} steps, {result.seconds:.1f} s of training)")
    print(f"judged on the image: {result.summary()}")
    return 0
