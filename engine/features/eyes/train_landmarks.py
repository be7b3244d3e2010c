"""`warpaint train eye-landmarks`: train the eye-landmark regressor on renders.

Data: `--samples` eyes from the procedural renderer, each in a crop frame
that is off by a detector-sized error (`landmarks.training_sample`), rendered
once from seeds derived from `--seed` and kept as uint8. Batches draw from
them with a fresh brightness/contrast/gamma change each time, and a share
(`--small-eyes`) is degraded as the small eyes of real photos look: taken
down to an eye 4-20 px wide and back up, some grey with a skin tint, noisy,
lower in contrast (`_degrade`). A fixed,
seeded held-out set (seeds from EVAL_SEED, never used for training) measures
the mean corner and iris-centre errors in crop pixels.

The model goes to `--output` (safetensors, kind "eye-landmarks"), its
training record to `<output stem>.json`; `--checkpoint-every` writes
`<output>.ckpt.safetensors` (weights, Adam state, step) and `--resume`
continues from it on the same data.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

KIND = "eye-landmarks"
HELP = "train the eye-landmark regressor (corners, lids, iris) on rendered eyes"

EVAL_SEED = 7_000_000
EVAL_SAMPLES = 500
_TRAIN_SEED_BASE = 10**9


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="eye-landmarks.safetensors", help="model file")
    p.add_argument("--samples", type=int, default=12000, help="rendered training eyes")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--resume", action="store_true", help="continue from <output>.ckpt")
    p.add_argument("--eval-samples", type=int, default=EVAL_SAMPLES)
    p.add_argument("--workers", type=int, default=1, help="processes that render the data")
    p.add_argument(
        "--glasses",
        type=float,
        default=0.0,
        help="share of the rendered eyes behind glasses (0 = none)",
    )
    p.add_argument(
        "--loose-framing",
        type=float,
        default=0.0,
        help="share of the rendered eyes framed as loosely as a start from the face box (0 = none)",
    )
    p.add_argument(
        "--small-eyes",
        type=float,
        default=0.0,
        help="share of each batch degraded to look like a small eye of a real photo (0 = none)",
    )


def render_set(
    seeds: range | list[int],
    jitter: float = 1.0,
    log: Any = None,
    workers: int = 1,
    glasses: float = 0.0,
    loose: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """((N, H, W, 3) uint8 crops, (N, N_OUTPUTS) float32 targets) from `seeds`.

    With `workers` > 1 the renders are shared out to processes; the result is
    the same as with one (each sample depends on its seed only).
    """
    from warpaint.engine.features.eyes.landmarks import CROP_SIZE, N_OUTPUTS

    seeds = list(seeds)
    n = len(seeds)
    images = np.empty((n, *CROP_SIZE, 3), np.uint8)
    targets = np.empty((n, N_OUTPUTS), np.float32)
    t0 = time.perf_counter()
    chunks = [seeds[i : i + 500] for i in range(0, n, 500)]
    if workers > 1 and len(chunks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(
                _render_chunk,
                chunks,
                [jitter] * len(chunks),
                [glasses] * len(chunks),
                [loose] * len(chunks),
            )
            done = 0
            for imgs, vecs in results:
                images[done : done + len(imgs)] = imgs
                targets[done : done + len(imgs)] = vecs
                done += len(imgs)
                if log and done % 2000 < 500:
                    log(f"rendered {done}/{n} eyes ({time.perf_counter() - t0:.0f} s)")
        return images, targets
    done = 0
    for chunk in chunks:
        imgs, vecs = _render_chunk(chunk, jitter, glasses, loose)
        images[done : done + len(imgs)] = imgs
        targets[done : done + len(imgs)] = vecs
        done += len(imgs)
        if log and done % 2000 < 500:
            log(f"rendered {done}/{n} eyes ({time.perf_counter() - t0:.0f} s)")
    return images, targets


def _render_chunk(
    seeds: list[int], jitter: float, glasses: float = 0.0, loose: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    from warpaint.engine.features.eyes.landmarks import training_sample

    out = [training_sample(int(s), jitter=jitter, glasses=glasses, loose=loose) for s in seeds]
    imgs = np.stack([np.round(img * 255.0).astype(np.uint8) for img, _ in out])
    return imgs, np.stack([vec for _, vec in out])


def evaluate(network: torch.nn.Module, images: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Mean errors in crop pixels (48x64 crop) on a held-out set."""
    import torch

    from warpaint.engine.features.eyes.landmarks import CROP_SIZE, LID_POINTS, standardise

    w = CROP_SIZE[1]
    device = next(network.parameters()).device
    network.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(images), 256):
            x = torch.from_numpy(standardise(images[i : i + 256].astype(np.float32) / 255.0))
            preds.append(network(x.to(device)).cpu().numpy())
    network.train()
    pred = np.concatenate(preds)
    n_pts = (pred.shape[1] - 1) // 2
    dp = (pred[:, : 2 * n_pts] - targets[:, : 2 * n_pts]).reshape(len(pred), n_pts, 2) * w
    err = np.linalg.norm(dp, axis=2)
    k = LID_POINTS
    return {
        "corner_px": float(err[:, 0:2].mean()),
        "lid_px": float(err[:, 2 : 2 + 2 * k].mean()),
        "iris_centre_px": float(err[:, 2 + 2 * k].mean()),
        "iris_radius_px": float(np.abs(pred[:, -1] - targets[:, -1]).mean() * w),
    }


def _augment(x: torch.Tensor, gen: torch.Generator, small: float = 0.0) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1]: per-image gains and gamma; with `small` > 0, that
    share of the images is also degraded as a small real eye is (`_degrade`)."""
    import torch

    n = x.shape[0]
    gains = 0.85 + 0.3 * torch.rand(n, 3, 1, 1, generator=gen, device="cpu").to(x.device)
    gamma = torch.exp((torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.5).to(x.device)
    x = (x * gains).clamp(0, 1) ** gamma
    if small > 0:
        x = _degrade(x, torch.rand(n, DEGRADE_DRAWS, generator=gen), small)
    return x


# Random numbers `_degrade` takes per image (drawn whether or not it is degraded,
# so a resumed run replays the same stream).
DEGRADE_DRAWS = 5
# Eye widths (corner distance, px) a degraded crop is photographed at: the
# renderer's own small eyes go down to 15 px; faces 25-60 px wide in a group
# photo, upscaled, have eyes of 4-10 px.
SMALL_EYE_PX = (4.0, 20.0)


def _degrade(x: torch.Tensor, draws: torch.Tensor, share: float) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1], `draws` (N, DEGRADE_DRAWS) uniform: a `share` of the
    crops are made to look like small eyes of real photos, upscaled: taken down
    to an eye `SMALL_EYE_PX` wide (area) and back up (bicubic), some turned into
    a tinted grey picture (old or grey photos given a skin tone), with sensor
    noise at the small size and lower contrast."""
    import torch
    import torch.nn.functional as F

    from warpaint.engine.features.eyes.render import INNER_CORNER, OUTER_CORNER

    out = x.clone()
    h, w = x.shape[2:]
    eye_px = (OUTER_CORNER[0] - INNER_CORNER[0]) * w
    lo, hi = SMALL_EYE_PX
    for i in range(x.shape[0]):
        d = [float(v) for v in draws[i]]
        if d[0] >= share:
            continue
        img = x[i : i + 1]
        # Log-uniform eye width: as many very small eyes as moderately small ones.
        target = lo * (hi / lo) ** d[1]
        f = min(1.0, target / eye_px)
        size = (max(3, round(h * f)), max(4, round(w * f)))
        low = F.interpolate(img, size=size, mode="area")
        noise = torch.randn(low.shape, generator=torch.Generator().manual_seed(int(d[3] * 2**31)))
        low = low + 0.03 * d[3] * noise.to(x.device)
        img = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
        if d[2] < 0.35:
            luma = (
                img * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
            ).sum(1, keepdim=True)
            tint = torch.tensor([1.0, 0.8, 0.65], device=x.device).view(1, 3, 1, 1)
            img = luma * tint / tint.mean()
        mean = img.mean()
        img = mean + (img - mean) * (0.55 + 0.45 * d[4])
        out[i] = img[0].clamp(0, 1)
    return out


def _standardise_t(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False) + 0.02
    return (x - mean) / std


def run(args: argparse.Namespace) -> int:
    import torch

    from warpaint.engine.features.eyes.landmarks import CROP_SIZE, N_OUTPUTS, build_network
    from warpaint.engine.features.eyes.landmarks import KIND as MODEL_KIND
    from warpaint.engine.features.eyes.render import LID_POINTS
    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import load_model, save_model

    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0.0 <= args.small_eyes <= 1.0:
        raise BadInputError("--small-eyes must be a share from 0 to 1")
    if not (0.0 <= args.glasses <= 1.0 and 0.0 <= args.loose_framing <= 1.0):
        raise BadInputError("--glasses and --loose-framing must be shares from 0 to 1")
    if min(args.samples, args.steps, args.batch, args.eval_samples, args.workers) < 1:
        raise BadInputError(
            "--samples, --steps, --batch, --eval-samples and --workers must be positive"
        )
    out = Path(args.output)
    ckpt = out.with_name(out.stem + ".ckpt.safetensors")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise BadInputError(f"--device {args.device!r}: not a torch device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError("--device cuda: no CUDA device here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise BadInputError("--device mps: no MPS device here")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    seeds = range(
        _TRAIN_SEED_BASE * (args.seed + 1), _TRAIN_SEED_BASE * (args.seed + 1) + args.samples
    )
    images, targets = render_set(
        seeds, log=log, workers=args.workers, glasses=args.glasses, loose=args.loose_framing
    )
    eval_images, eval_targets = render_set(
        range(EVAL_SEED, EVAL_SEED + args.eval_samples), workers=args.workers
    )
    render_s = time.perf_counter() - t_start
    log(f"rendered {args.samples} + {args.eval_samples} eyes in {render_s:.0f} s")

    torch.manual_seed(args.seed)
    net = build_network().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    step = 0
    if args.resume:
        tensors, meta = load_model(ckpt, MODEL_KIND + "-checkpoint")
        net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        state = json.loads(str(meta["optimizer"]))
        opt_state = {
            "state": {
                int(i): {
                    "step": tensors[f"opt.{i}.step"],
                    "exp_avg": tensors[f"opt.{i}.exp_avg"].to(device),
                    "exp_avg_sq": tensors[f"opt.{i}.exp_avg_sq"].to(device),
                }
                for i in state["ids"]
            },
            "param_groups": state["param_groups"],
        }
        opt.load_state_dict(opt_state)
        step = int(str(meta["step"]))
        log(f"resumed at step {step}")

    def save_checkpoint() -> None:
        tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
        sd = opt.state_dict()
        for i, st in sd["state"].items():
            for name in ("step", "exp_avg", "exp_avg_sq"):
                tensors[f"opt.{i}.{name}"] = torch.as_tensor(st[name])
        meta = {
            "kind": MODEL_KIND + "-checkpoint",
            "step": step,
            "optimizer": json.dumps(
                {"ids": list(sd["state"].keys()), "param_groups": sd["param_groups"]}
            ),
        }
        save_model(ckpt, tensors, meta)

    images_t = torch.from_numpy(images)
    targets_t = torch.from_numpy(targets)
    gen = torch.Generator().manual_seed(args.seed)
    # Steps already taken by a resumed run drew from the same generator.
    for _ in range(step):
        torch.randint(0, len(images), (args.batch,), generator=gen)
        torch.rand(args.batch, 3, 1, 1, generator=gen)
        torch.rand(args.batch, 1, 1, 1, generator=gen)
        if args.small_eyes > 0:
            torch.rand(args.batch, DEGRADE_DRAWS, generator=gen)
    first_loss = None
    loss_value = float("nan")
    t_train = time.perf_counter()
    net.train()
    while step < args.steps:
        idx = torch.randint(0, len(images), (args.batch,), generator=gen)
        x = images_t[idx].to(device).permute(0, 3, 1, 2).float() / 255.0
        x = _standardise_t(_augment(x, gen, args.small_eyes))
        y = targets_t[idx].to(device)
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        loss = torch.nn.functional.smooth_l1_loss(net(x), y, beta=0.01)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_value = loss.item()
        if first_loss is None:
            first_loss = loss_value
        if step % 100 == 0 or step == args.steps:
            elapsed = time.perf_counter() - t_train
            log(f"step {step}/{args.steps} loss {loss_value:.5f} ({elapsed:.0f} s)")
        if args.checkpoint_every and step % args.checkpoint_every == 0 and step < args.steps:
            save_checkpoint()
    train_s = time.perf_counter() - t_train
    scores = evaluate(net, eval_images, eval_targets)
    log("held-out: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    net_cpu = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    save_model(
        out,
        net_cpu,
        {
            "kind": MODEL_KIND,
            "format": 1,
            "crop_size": list(CROP_SIZE),
            "outputs": N_OUTPUTS,
            "lid_points": LID_POINTS,
        },
    )
    record = {
        "kind": MODEL_KIND,
        "command": "warpaint train eye-landmarks " + " ".join(sys.argv[3:]),
        "seed": args.seed,
        "samples": args.samples,
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "small_eyes": args.small_eyes,
        "glasses": args.glasses,
        "loose_framing": args.loose_framing,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "render_seconds": round(render_s, 1),
        "train_seconds": round(train_s, 1),
        "first_loss": first_loss,
        "final_loss": loss_value,
        "held_out": {"samples": args.eval_samples, "seed": EVAL_SEED, **scores},
        "parameters": sum(int(v.numel()) for v in net_cpu.values()),
    }
    from warpaint.engine.io.atomic import atomic_write

    with atomic_write(out.with_suffix(".json")) as f:
        f.write((json.dumps(record, indent=2) + "\n").encode())
    log(f"wrote {out} and {out.with_suffix('.json')}")
    return 0
