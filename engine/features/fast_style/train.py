"""`warpaint train style`: a feed-forward generator for one or many styles.

The recipe is distillation (see `warpaint.engine.features.fast_style.distill` and
docs/fast-style.md): Gatys targets for a pool of content crops, computed once
per style and cached, then the conditional-instance-norm generator learns to
reproduce them. Checkpoints (safetensors with JSON metadata, never pickles)
every `--checkpoint-every` steps; `--resume` continues from the last one.

Several processes: run under `torchrun` (DistributedDataParallel, gloo on
CPUs, NCCL on GPUs); each process computes the targets of its share of the
crops and trains on them, gradients are averaged across processes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KIND = "style"
HELP = "train a fast (feed-forward) style network: one or many styles in one model"
MODEL_KIND = "fast-style"
CHECKPOINT_KIND = "fast-style-checkpoint"
TARGETS_KIND = "fast-style-targets"
FORMAT = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "styles",
        nargs="*",
        metavar="STYLE_IMAGE",
        help="style images (one style each, named by the file name)",
    )
    parser.add_argument(
        "--presets",
        nargs="?",
        const="all",
        default=None,
        metavar="NAMES",
        help="train the shipped presets (the project's procedural styles), "
        "all or a comma-separated list",
    )
    parser.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    parser.add_argument(
        "--content", default=None, help="folder of content images (default: offline sample photos)"
    )
    # The defaults are the shipped presets' recipe (resources/models/MODELS.md,
    # docs/fast-style.md: "What drew the texture").
    parser.add_argument(
        "--steps",
        type=int,
        default=4000,
        help="generator training steps (4000 of batch 8: about 55 min on a 2-core CPU)",
    )
    parser.add_argument("--size", type=int, default=256, help="side of the content crops")
    parser.add_argument(
        "--crops",
        type=int,
        default=16,
        help="content crops stylised by Gatys per style (shared by all styles)",
    )
    parser.add_argument("--batch", type=int, default=8, help="generator batch per process")
    parser.add_argument(
        "--gatys-evaluations",
        type=int,
        default=96,
        help="Gatys loss evaluations per target (at the crop size)",
    )
    parser.add_argument("--gatys-batch", type=int, default=8, help="crops optimised at once")
    parser.add_argument(
        "--gatys-network",
        default="efficientnet-lite0",
        help="loss network of the Gatys targets (see --loss-network for the training losses); "
        "efficientnet-lite0 needs warpaint[efficientnet]",
    )
    parser.add_argument(
        "--loss-network",
        default="efficientnet-lite0",
        help="loss network of the generator's feature and Gram losses; "
        "efficientnet-lite0 needs warpaint[efficientnet]",
    )
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    parser.add_argument(
        "--feature-weight",
        type=float,
        default=1.0,
        help="weight of the feature loss (pixel L1 is 1; relu2_1 and relu3_1 on a VGG, "
        "the content layer on other networks)",
    )
    parser.add_argument(
        "--pixel-scale",
        type=int,
        default=4,
        metavar="K",
        help="compare pixels after K x K average pooling: colours and layout from the "
        "targets, texture from the Gram loss (and --noise)",
    )
    parser.add_argument(
        "--style-weight",
        type=float,
        default=0.0,
        help="weight of the Gram (style) loss against the style image",
    )
    parser.add_argument(
        "--target-style-weight",
        type=float,
        default=4.0,
        help="weight of a Gram loss against each target's own Gram (texture, not dot positions)",
    )
    parser.add_argument("--half", type=int, default=16, help="generator channels at 1/2 size")
    parser.add_argument(
        "--quarter",
        type=int,
        default=32,
        help="generator channels of the residual blocks at 1/4 size",
    )
    parser.add_argument("--blocks", type=int, default=5, help="residual blocks")
    parser.add_argument(
        "--noise",
        type=int,
        default=1,
        help="noise input channels tied to pixel coordinates (lets flat areas get texture)",
    )
    parser.add_argument(
        "--noise-head",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="feed the noise channels to the full-size head too (fine texture)",
    )
    parser.add_argument(
        "--coarse-noise",
        type=int,
        default=None,
        metavar="N",
        help="channels of smooth noise (blobs --coarse-cell px wide) added at 1/4 size: "
        "seeds for big marks such as mosaic cells (default: 4 where --seed-marks seeds "
        "a style, else 0)",
    )
    parser.add_argument(
        "--coarse-cell",
        type=int,
        default=32,
        metavar="PX",
        help="width of the coarse noise's blobs",
    )
    parser.add_argument(
        "--seed-marks",
        default=None,
        metavar="A | NAME=A,...",
        help="start the Gatys targets of every style (A) or of the named ones from the photo "
        "plus A times the generator's coarse noise at each crop's place (needs "
        "--coarse-noise 3 or more), so where the targets' big marks form is something the "
        "generator sees (default: the presets with big marks, 0.5 each; 0: none)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--checkpoint-every", type=int, default=500, metavar="N")
    parser.add_argument(
        "--work",
        default=None,
        metavar="DIR",
        help="folder for checkpoints and cached targets (default: next to the "
        "output; the targets are big, keep them out of resources/)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the output's checkpoint and cached targets",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _paths(output: Path, work: Path) -> dict[str, Path]:
    return {
        "model": output,
        "record": output.with_suffix(".json"),
        "checkpoint": work / f"{output.stem}.ckpt.safetensors",
    }


def _targets_path(output: Path, work: Path, rank: int, world: int) -> Path:
    return work / f"{output.stem}.targets-{rank}of{world}.safetensors"


def _mark_place(crop: int, cell: int) -> tuple[int, int]:
    """Top-left pixel of content crop `crop` in the virtual image of the noise:
    crops far apart on whole noise cells (a generator's tiles start on them too)."""
    return (cell * 64 * (crop // 16), cell * 64 * (crop % 16))


def _load_styles(args: argparse.Namespace) -> tuple[list[str], list[Any]]:
    """Style names and (h, w, 3) float32 arrays."""
    import numpy as np

    from warpaint.engine.runtime.errors import BadInputError

    names: list[str] = []
    images: list[Any] = []
    if args.presets:
        from warpaint.engine.neural.style_samples import PRESET_STYLES

        wanted = list(PRESET_STYLES) if args.presets == "all" else args.presets.split(",")
        unknown = [n for n in wanted if n not in PRESET_STYLES]
        if unknown:
            raise BadInputError(
                f"unknown preset {unknown[0]!r} (choose from {', '.join(PRESET_STYLES)})"
            )
        for name in wanted:
            fn = PRESET_STYLES[name]
            names.append(name)
            images.append(fn(args.size))
    for file in args.styles:
        from warpaint.engine.io import read_image_array

        a = read_image_array(str(file))
        names.append(Path(file).stem)
        images.append(np.clip(a[..., :3] * a[..., 3:] + (1 - a[..., 3:]), 0, 1))
    if not names:
        raise BadInputError("train style: give style images or --presets")
    if len(set(names)) != len(names):
        raise BadInputError(f"train style: two styles share a name ({', '.join(names)})")
    return names, images


def parse_seed_marks(text: str, names: Sequence[str]) -> list[float]:
    """'A' (every style) or 'name=A,name=A' -> one amplitude per style (0: unseeded)."""
    from warpaint.engine.runtime.errors import BadInputError

    text = text.strip()
    if not text:
        return [0.0] * len(names)
    try:
        if "=" not in text:
            amplitude = float(text)
            pairs = {name: amplitude for name in names}
        else:
            pairs = {}
            for part in filter(None, (p.strip() for p in text.split(","))):
                name, _, value = part.partition("=")
                if name.strip() not in names:
                    raise BadInputError(
                        f"--seed-marks: no style {name.strip()!r} (styles: {', '.join(names)})"
                    )
                pairs[name.strip()] = float(value)
    except ValueError:
        raise BadInputError(f"--seed-marks: {text!r} is not A or NAME=A,...") from None
    if any(not (a >= 0 and math.isfinite(a)) for a in pairs.values()):
        raise BadInputError("--seed-marks: amplitudes must be 0 or more")
    return [pairs.get(name, 0.0) for name in names]


def _seed_marks(args: argparse.Namespace, names: Sequence[str]) -> list[float]:
    """Each style's --seed-marks amplitude; by default the presets' own
    (`PRESET_MARK_SEEDS`) for styles trained with --presets, none for images."""
    if args.seed_marks is not None:
        return parse_seed_marks(args.seed_marks, names)
    if not args.presets:
        return [0.0] * len(names)
    from warpaint.engine.neural.style_samples import PRESET_MARK_SEEDS

    presets = set(names[: len(names) - len(args.styles)])  # presets come first
    return [PRESET_MARK_SEEDS.get(name, 0.0) if name in presets else 0.0 for name in names]


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    import torch.distributed as dist

    from warpaint.engine.features.fast_style.distill import (
        DistillLoss,
        content_pool,
        distill_step,
        generator_tensors,
        mark_seeds,
        pool_images,
        random_views,
        style_grams,
        stylize_batch,
    )
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.neural.loss_networks import feature_network
    from warpaint.engine.neural.style_losses import resize_to_side
    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import load_model, save_model

    output = Path(args.output)
    if output.suffix.lower() != ".safetensors":
        raise BadInputError(f"{output}: the model file must end in .safetensors")
    if args.size < 16 or args.size % 4:
        raise BadInputError("--size must be a multiple of 4, at least 16")
    if (args.coarse_noise or 0) < 0 or args.coarse_cell < 4:
        raise BadInputError("--coarse-noise must be 0 or more and --coarse-cell at least 4 px")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = choose_device(args.device)
    if world > 1:
        backend = "nccl" if device == "cuda" else "gloo"
        if device == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        dist.init_process_group(backend)
    work = Path(args.work) if args.work else output.parent
    paths = _paths(output, work)
    output.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda *_a: None) if (args.quiet or rank != 0) else _printer()
    started = time.perf_counter()
    try:
        names, style_arrays = _load_styles(args)
        seed_marks = _seed_marks(args, names)
        # The coarse noise input is on by default where marks are seeded: it is what they grew from.
        coarse_noise = (
            (4 if any(seed_marks) else 0) if args.coarse_noise is None else args.coarse_noise
        )
        if any(seed_marks) and coarse_noise < 3:
            raise BadInputError("--seed-marks needs --coarse-noise 3 or more")
        styles = [
            resize_to_side(
                torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float(), args.size
            ).to(device)
            for a in style_arrays
        ]
        n_styles = len(names)
        # The targets and the generator's losses may each use another loss network
        # (e.g. ImageNet features, whose Gatys results carry more of a style's texture).
        net = feature_network(args.loss_network, device)
        target_net = feature_network(args.gatys_network, device)
        # -- targets: this process's share of the crops, cached per process ----
        mine = [i for i in range(args.crops) if i % world == rank]
        if not mine:
            raise BadInputError(f"--crops {args.crops} leaves process {rank} without crops")
        # Where each crop sits in the virtual image the noise is tied to (whole cells apart).
        places = [_mark_place(i, args.coarse_cell) for i in mine]
        tpath = _targets_path(output, work, rank, world)
        settings = {
            "styles": names,
            "size": args.size,
            "crops": args.crops,
            "seed": args.seed,
            "gatys_evaluations": args.gatys_evaluations,
            "content": args.content,
            "gatys_network": args.gatys_network,
        }
        if any(seed_marks):  # absent when off: older caches stay valid
            settings["seed_marks"] = [seed_marks, args.coarse_cell]
        contents = targets = None
        if args.resume and tpath.is_file():
            tensors, meta = load_model(tpath, TARGETS_KIND)
            if meta.get("settings") == settings:
                contents, targets = tensors["contents"], tensors["targets"]
                say(f"targets: reused {tpath}")
        if contents is None or targets is None:
            pool = content_pool(pool_images(args.content), args.crops, args.size, args.seed)
            contents = pool[mine].to(device)
            stylised = []
            t0 = time.perf_counter()
            with torch.enable_grad():
                for k, style in enumerate(styles):
                    for b in range(0, len(mine), args.gatys_batch):
                        chunk = contents[b : b + args.gatys_batch]
                        start = None
                        if seed_marks[k]:
                            seeds = mark_seeds(
                                args.size,
                                places[b : b + args.gatys_batch],
                                args.coarse_cell,
                                device,
                            )
                            start = (chunk + seed_marks[k] * seeds).clamp(0, 1)
                        stylised.append(
                            stylize_batch(
                                target_net,
                                chunk,
                                style,
                                start=start,
                                evaluations=args.gatys_evaluations,
                            )
                        )
                    say(
                        f"targets: style {k + 1}/{n_styles} ({names[k]}) done, "
                        f"{time.perf_counter() - t0:.0f} s"
                    )
            targets = torch.cat(stylised).reshape(n_styles, len(mine), *contents.shape[1:])
            save_model(
                tpath,
                {"contents": contents, "targets": targets},
                {"kind": TARGETS_KIND, "format": FORMAT, "settings": settings},
            )
        contents, targets = contents.to(device), targets.to(device)
        targets_s = time.perf_counter() - started
        # -- the generator ------------------------------------------------------
        config = GeneratorConfig(
            styles=n_styles,
            half=args.half,
            quarter=args.quarter,
            blocks=args.blocks,
            noise=args.noise,
            noise_head=args.noise_head,
            coarse_noise=coarse_noise,
            coarse_cell=args.coarse_cell,
        )
        torch.manual_seed(args.seed)
        gen = StyleGenerator(config).to(device)
        optimizer = torch.optim.Adam(gen.parameters(), lr=args.lr)
        start_step = 0
        history: list[float] = []
        if args.resume and paths["checkpoint"].is_file():
            start_step, history = load_checkpoint(
                paths["checkpoint"], gen, optimizer, names, config
            )
            say(f"resumed at step {start_step}")
        model: torch.nn.Module = gen
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(gen)
        grams = [style_grams(net, s, args.size)[0] for s in styles]
        weights = DistillLoss(
            feature=args.feature_weight,
            style=args.style_weight,
            pixel_scale=args.pixel_scale,
            target_style=args.target_style_weight,
        )
        crop = max(16, (args.size * 3 // 4) // 4 * 4)
        # Seeded views start on the generator's stride grid, where its coarse noise is sampled.
        grid = StyleGenerator.STRIDE if any(seed_marks) else 1
        t0 = time.perf_counter()
        parts_sum: dict[str, float] = {}
        counted = 0
        for step in range(start_step, args.steps):
            # Cosine decay set from the step itself, so a resumed run continues it exactly.
            for group in optimizer.param_groups:
                group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / max(1, args.steps)))
            rng = torch.Generator().manual_seed(args.seed * 1_000_003 + 7919 * step + rank)
            style_index = torch.randint(0, n_styles, (args.batch,), generator=rng)
            crop_index = torch.randint(0, len(mine), (args.batch,), generator=rng)
            seeded = [seed_marks[i] > 0 for i in style_index.tolist()]
            c, t, corners = random_views(
                contents[crop_index],
                targets[style_index, crop_index],
                crop,
                rng,
                flip=[not x for x in seeded],
                grid=grid,
            )
            # Random places in a virtual big image, so the noise is never the same twice;
            # seeded targets' views at their crop's place: the noise their marks grew from.
            spots = torch.randint(0, 1 << 14, (args.batch, 2), generator=rng).tolist()
            origins = [(a, b) for a, b in spots] if gen.reads_origin else None
            if origins is not None and any(seeded):
                for i, (k, (y, x)) in enumerate(zip(crop_index.tolist(), corners, strict=True)):
                    if seeded[i]:
                        origins[i] = (places[k][0] + y, places[k][1] + x)
            with torch.enable_grad():
                parts = distill_step(
                    model,
                    net,
                    optimizer,
                    c,
                    t,
                    style_index.to(device),
                    grams,
                    weights,
                    n_styles,
                    origins,
                )
            history.append(parts["total"])
            for key, v in parts.items():
                parts_sum[key] = parts_sum.get(key, 0.0) + v
            counted += 1
            done = step + 1
            if done % 50 == 0 or done == args.steps:
                n = done - start_step
                rate = (time.perf_counter() - t0) / max(1, n)
                mean = {k: v / counted for k, v in parts_sum.items()}
                parts_sum, counted = {}, 0
                say(
                    f"step {done}/{args.steps} loss {mean.get('total', 0):.4f} (pixel "
                    f"{mean.get('pixel', 0):.4f}, feature {mean.get('feature', 0):.4f}, style "
                    f"{mean.get('style', 0):.4f}) {rate * 1000:.0f} ms/step, "
                    f"eta {rate * (args.steps - done):.0f} s"
                )
            if rank == 0 and (done % args.checkpoint_every == 0 or done == args.steps):
                save_checkpoint(paths["checkpoint"], gen, optimizer, done, history, names, config)
        in_sync = _ranks_in_sync(gen) if world > 1 else True
        if rank == 0:
            meta = {
                "kind": MODEL_KIND,
                "format": FORMAT,
                "styles": names,
                "config": config.to_json(),
                "size": args.size,
            }
            save_model(output, generator_tensors(gen), meta)
            tenth = max(1, len(history) // 10)
            gatys_record: dict[str, Any] = {
                "network": args.gatys_network,
                "evaluations": args.gatys_evaluations,
            }
            if any(seed_marks):  # absent when off, like the targets cache's setting
                gatys_record["seed_marks"] = dict(zip(names, seed_marks, strict=True))
            record = {
                "model": output.name,
                "command": "warpaint train style " + " ".join(sys.argv[3:])
                if sys.argv[1:3] == ["train", "style"]
                else " ".join(sys.argv),
                "styles": names,
                "seed": args.seed,
                "steps": args.steps,
                "size": args.size,
                "crops": args.crops,
                "gatys": gatys_record,
                "training_loss_network": args.loss_network,
                "loss_weights": {
                    "pixel": 1.0,
                    "pixel_scale": args.pixel_scale,
                    "feature": args.feature_weight,
                    "style": args.style_weight,
                    "target_style": args.target_style_weight,
                },
                "gram_layers": dict(zip(net.style_layers, net.style_weights, strict=True)),
                "config": config.to_json(),
                "device": str(device),
                "world_size": world,
                "ranks_in_sync": in_sync,
                "seconds_total": round(time.perf_counter() - started, 1),
                "seconds_targets": round(targets_s, 1),
                "loss_first": round(float(np.mean(history[:tenth])), 5) if history else None,
                "loss_last": round(float(np.mean(history[-tenth:])), 5) if history else None,
                "torch": torch.__version__,
            }
            from warpaint.engine.io.atomic import atomic_write

            with atomic_write(paths["record"]) as f:
                f.write(json.dumps(record, indent=2).encode())
            say(f"wrote {output} and {paths['record'].name} ({record['seconds_total']} s)")
        if world > 1:
            # Leave together: a process that tears its gloo pairs down while a peer still
            # finishes can make the peer's transport thread abort on the closed socket.
            dist.barrier()
            del model
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return 0


def _printer() -> Any:
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    return say


def save_checkpoint(
    path: Path,
    gen: Any,
    optimizer: Any,
    step: int,
    history: list[float],
    names: list[str],
    config: Any,
) -> None:
    """Write the generator, its Adam state, the loss history and `step` to `path`."""
    import torch

    from warpaint.engine.runtime.models import save_model

    tensors = {f"gen.{k}": v for k, v in gen.state_dict().items()}
    state = optimizer.state_dict()
    for i, s in state["state"].items():
        for key, value in s.items():
            tensors[f"opt.{i}.{key}"] = (
                torch.as_tensor(value).reshape(-1).float() if key == "step" else value
            )
    tensors["history"] = torch.tensor(history, dtype=torch.float32)
    save_model(
        path,
        tensors,
        {
            "kind": CHECKPOINT_KIND,
            "format": FORMAT,
            "step": step,
            "styles": names,
            "config": config.to_json(),
        },
    )


def load_checkpoint(
    path: Path, gen: Any, optimizer: Any, names: list[str], config: Any
) -> tuple[int, list[float]]:
    """Restore `gen` and `optimizer` from `path`; returns (step, loss history).
    BadInputError when the checkpoint is of other styles or another network size."""
    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import load_model

    tensors, meta = load_model(path, CHECKPOINT_KIND)
    if meta.get("styles") != names or meta.get("config") != config.to_json():
        raise BadInputError(f"{path}: checkpoint of other styles or another network size")
    device = next(gen.parameters()).device
    gen.load_state_dict({k[4:]: v.to(device) for k, v in tensors.items() if k.startswith("gen.")})
    state = optimizer.state_dict()
    for i in range(len(state["param_groups"][0]["params"])):
        entry = {}
        for key in ("step", "exp_avg", "exp_avg_sq"):
            name = f"opt.{i}.{key}"
            if name in tensors:
                v = tensors[name]
                entry[key] = v.reshape(()) if key == "step" else v.to(device)
        if entry:
            state["state"][i] = entry
    optimizer.load_state_dict(state)
    step = int(meta.get("step", 0))  # type: ignore[call-overload]
    return step, [float(v) for v in tensors["history"].tolist()]


def _ranks_in_sync(gen: Any) -> bool:
    """Whether every process ends with the same weights (DDP kept them in step)."""
    import torch
    import torch.distributed as dist

    flat = torch.cat([p.detach().reshape(-1).double() for p in gen.parameters()])
    mine = torch.stack([flat.sum(), flat.square().sum()])
    gathered = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    return all(torch.allclose(g, gathered[0], rtol=0, atol=1e-9) for g in gathered)
