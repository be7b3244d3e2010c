"""Loss networks compared under the stylize effect's settings.

`warpaint bench stylize-networks --json`: `vgg19-random-slim` and the
default `efficientnet-lite0` (ImageNet) on the stylize benchmark's 12 TUNING
pairs (3 contents x 4 styles), 256 px, each network with the stylize
effect's recipe for it (`recipes.recipe_for`). With $WARPAINT_BENCH_IMAGES set it also writes
`stylize-networks.jpg` there for the three main pairs: one row per pair,
content | style | one column per network.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark

NETWORKS = ("vgg19-random-slim", "efficientnet-lite0")
CONTENTS = ("astronaut", "chelsea", "coffee")
STYLE_NAMES = ("mosaic", "strokes", "waves", "ihc-photo")
# The pairs docs/stylization.md shows (and the reference run was made on).
SHOWN = (("astronaut", "mosaic"), ("chelsea", "strokes"), ("coffee", "ihc-photo"))


@benchmark("stylize-networks", "Gatys stylization per loss network: judged style, SSIM, time")
def bench_stylize_networks(quick: bool, device: str | None) -> dict[str, Any]:
    """Start: `stylize_image` called with tensors on the device (networks
    built and warmed up before). Stop: the result is back on the host.
    Each network runs the stylize effect's recipe for it; each
    result is scored by `style_judge.judge` (fixed, non-neural, never a loss).
    Quick: 128 px, astronaut x mosaic only."""
    import torch
    from skimage import data, transform

    from warpaint.engine.features.stylize.optim import stylize_image
    from warpaint.engine.features.stylize.recipes import recipe_for
    from warpaint.engine.neural.bench_images import fit_rgb, to_batch
    from warpaint.engine.neural.style_judge import judge
    from warpaint.engine.neural.style_samples import STYLES
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    side = 128 if quick else 256
    pairs = SHOWN[:1] if quick else [(c, s) for c in CONTENTS for s in STYLE_NAMES]

    def fit(a: np.ndarray) -> np.ndarray:
        return fit_rgb(a, side)

    def t(a: np.ndarray) -> torch.Tensor:
        return to_batch(a, dev)

    def image(name: str) -> np.ndarray:
        if name in STYLES:
            return fit(STYLES[name](side))
        return fit(data.immunohistochemistry() if name == "ihc-photo" else getattr(data, name)())

    recipes = {name: recipe_for(name) for name in NETWORKS}
    nets = {name: recipes[name].loss_network(dev) for name in NETWORKS}

    def stylise(name: str, c: np.ndarray, s: np.ndarray, evaluations: int) -> tuple:
        recipe = recipes[name]
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = stylize_image(
            nets[name],
            t(c),
            [(t(s), 1.0)],
            side=side,
            evaluations=evaluations,
            style_weight=recipe.style_weight,
            scales=recipe.scales,
            style_transform=recipe.transform,
        )
        result = out[0].permute(1, 2, 0).cpu().numpy()
        return result, time.perf_counter() - t0

    first = image(pairs[0][0]), image(pairs[0][1])
    for name in nets:  # warm-ups
        stylise(name, *first, 2)
    rows: list[dict[str, Any]] = []
    strips: list[np.ndarray] = []
    for cname, sname in pairs:
        c, s = image(cname), image(sname)
        content_only = judge(c, s, c)["style_distance"]
        strip = [c, transform.resize(s, c.shape[:2], anti_aliasing=True)]
        for name in nets:
            result, seconds = stylise(name, c, s, recipes[name].iterations)
            strip.append(result)
            verdict = judge(result, s, c)
            rows.append(
                {"network": name, "content": cname, "style": sname, "seconds": round(seconds, 2)}
                | verdict
                | {
                    "content_only_style_distance": content_only,
                    "ratio_to_content": round(verdict["style_distance"] / content_only, 3),
                }
            )
        if (cname, sname) in SHOWN:
            strips.append(np.concatenate(strip, axis=1))
    picture_dir = os.environ.get("WARPAINT_BENCH_IMAGES")
    if picture_dir:
        from PIL import Image

        os.makedirs(picture_dir, exist_ok=True)
        width = max(s.shape[1] for s in strips)
        sheet = np.concatenate(
            [
                np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=1.0)
                for s in strips
            ]
        )
        path = os.path.join(picture_dir, "stylize-networks.jpg")
        # JPEG: the noisy textures make a PNG of this sheet over 1 MB.
        pixels = (np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    summary = {}
    for name in nets:
        mine = [r for r in rows if r["network"] == name]
        summary[name] = {
            "median_seconds": round(statistics.median(r["seconds"] for r in mine), 2),
            "median_ratio_to_content": round(
                statistics.median(r["ratio_to_content"] for r in mine), 3
            ),
            "mean_style_distance": round(statistics.mean(r["style_distance"] for r in mine), 4),
            "mean_content_ssim": round(statistics.mean(r["content_ssim"] for r in mine), 4),
        }
    return {
        "device": dev,
        "size": side,
        "recipes": {name: recipe.settings() for name, recipe in recipes.items()},
        "results": rows,
        "summary": summary,
    }
