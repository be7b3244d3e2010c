"""`warpaint bench stylize`: Gatys stylization judged and timed, the effect's
default recipe against the earlier defaults (`recipes.EFFICIENTNET_LITE0_128`,
`recipes.SLIM_VGG_48`)."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark

# The goals the defaults are held to (docs/stylization.md).
GOALS = {
    "style_ratio_max": 0.2,
    "high_pass_ratio_max": 0.4,
    "content_ssim_min": 0.35,
    "cpu_256_seconds_max": 30.0,
    "cpu_512_seconds_max": 90.0,
}
TIMED_PAIR = ("astronaut", "mosaic")


@benchmark("stylize", "Gatys stylization: judged style, high-pass texture, content SSIM, time")
def bench_stylize(quick: bool, device: str | None) -> dict[str, Any]:
    """Every result is scored by `filter_judge` (fixed random filter banks,
    never a loss): style and high-pass ratios (the result's Gram distance to
    the style over the content photo's own) and luminance SSIM; plus
    `style_judge`'s style distance as a ratio to the content's own.

    Judged: the default recipe and the two pinned earlier defaults on the
    TUNING, HELD-OUT, HELD_OUT_2 and HELD_OUT_3 pairs (`pairs`) at 256 px,
    and the default recipe on the HELD-OUT and HELD_OUT_3 pairs at 512 px.
    Timed: the default recipe on astronaut x
    mosaic at 256 and 512 px, median of 3 after a warm-up; start:
    `stylize_image` called with tensors on the device (network built);
    stop: the result back on the host. The 1-minute load average before and
    after is reported (the CPU may be shared). Quick: 96 px, one pair per
    set, no 512 px. With $WARPAINT_BENCH_IMAGES set, writes every result as
    PNG there (`<recipe>/<size>/<content>-<style>.png`) and a contact sheet
    of the default recipe on each held-out set and size
    (`stylize-held-out[-2|-3]-<size>.jpg`).
    """
    import torch

    from warpaint.engine.features.stylize.pairs import (
        HELD_OUT,
        HELD_OUT_2,
        HELD_OUT_3,
        TUNING,
        content_image,
        style_image,
    )
    from warpaint.engine.features.stylize.recipes import (
        DEFAULT_RECIPE,
        EFFICIENTNET_LITE0_128,
        SLIM_VGG_48,
    )
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    side = 96 if quick else 256
    sets = {
        "tuning": TUNING[:1] if quick else TUNING,
        "held_out": HELD_OUT[:1] if quick else HELD_OUT,
        "held_out_2": HELD_OUT_2[:1] if quick else HELD_OUT_2,
        "held_out_3": HELD_OUT_3[:1] if quick else HELD_OUT_3,
    }
    recipes = tuple(dict.fromkeys((DEFAULT_RECIPE, EFFICIENTNET_LITE0_128, SLIM_VGG_48)))
    picture_dir = os.environ.get("WARPAINT_BENCH_IMAGES")
    load_before = os.getloadavg()[0]
    runs = [(r, name, side) for r in recipes for name in sets]
    if not quick:
        runs += [(DEFAULT_RECIPE, "held_out", 512), (DEFAULT_RECIPE, "held_out_3", 512)]
    rows: list[dict[str, Any]] = []
    for recipe, set_name, size in runs:
        net = recipe.loss_network(dev)
        _stylise(recipe, net, *_pair(TIMED_PAIR, 64, content_image, style_image), 2, dev)
        results = []
        for cname, sname in sets[set_name]:
            c, s = _pair((cname, sname), size, content_image, style_image)
            result, seconds = _stylise(recipe, net, c, s, recipe.iterations, dev)
            results.append(result)
            rows.append(
                {"recipe": recipe.name, "set": set_name, "size": size}
                | {"content": cname, "style": sname, "seconds": round(seconds, 2)}
                | _judged(result, s, c)
            )
            if picture_dir:
                _save_png(result, picture_dir, recipe.name, size, f"{cname}-{sname}")
        if picture_dir and recipe is DEFAULT_RECIPE and set_name != "tuning":
            name = f"stylize-{set_name.replace('_', '-')}-{size}.jpg"
            _save_sheet(sets[set_name], results, size, picture_dir, name)
    timing = {f"seconds_{size}px": _timed(DEFAULT_RECIPE, size, dev) for size in (side,)}
    if not quick:
        timing["seconds_512px"] = _timed(DEFAULT_RECIPE, 512, dev)
    return {
        "device": dev,
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "recipes": {r.name: r.settings() for r in recipes},
        "default_recipe": DEFAULT_RECIPE.name,
        "results": rows,
        "summary": _summary(rows),
        "timing": {"recipe": DEFAULT_RECIPE.name, "pair": "x".join(TIMED_PAIR)} | timing,
        "goals": GOALS,
    } | (_stylize_gpu_speed() if dev == "cuda" else {})


def _pair(
    pair: tuple[str, str], side: int, content_image: Any, style_image: Any
) -> tuple[np.ndarray, np.ndarray]:
    return content_image(pair[0], side), style_image(pair[1], side)


def _stylise(
    recipe: Any, net: Any, c: np.ndarray, s: np.ndarray, evaluations: int, dev: str
) -> tuple[np.ndarray, float]:
    import torch

    from warpaint.engine.neural.bench_images import to_batch

    content, style = to_batch(c, dev), to_batch(s, dev)
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = recipe.stylize(
        net, content, [(style, 1.0)], side=max(c.shape[:2]), evaluations=evaluations
    )
    result = out[0].permute(1, 2, 0).cpu().numpy()
    return result, time.perf_counter() - t0


def _judged(result: np.ndarray, style: np.ndarray, content: np.ndarray) -> dict[str, float]:
    from warpaint.engine.features.stylize.filter_judge import filter_judge
    from warpaint.engine.neural.style_judge import judge

    own = judge(content, style, content)["style_distance"]
    return filter_judge(result, style, content) | {
        "lbp_style_ratio": round(judge(result, style, content)["style_distance"] / own, 4)
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per recipe, set and size: medians, and how many pairs meet each goal."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys((r["recipe"], r["set"], r["size"]) for r in rows):
        mine = [r for r in rows if (r["recipe"], r["set"], r["size"]) == key]

        def median(field: str, mine: list[dict[str, Any]] = mine) -> float:
            return round(statistics.median(r[field] for r in mine), 4)

        out[f"{key[0]} {key[1]} {key[2]}px"] = {
            "pairs": len(mine),
            "median_style_ratio": median("style_ratio"),
            "median_high_pass_ratio": median("high_pass_ratio"),
            "median_content_ssim": median("content_ssim"),
            "median_lbp_style_ratio": median("lbp_style_ratio"),
            "median_seconds": median("seconds"),
            "pairs_meeting_style": sum(r["style_ratio"] <= GOALS["style_ratio_max"] for r in mine),
            "pairs_meeting_high_pass": sum(
                r["high_pass_ratio"] <= GOALS["high_pass_ratio_max"] for r in mine
            ),
            "pairs_meeting_ssim": sum(r["content_ssim"] >= GOALS["content_ssim_min"] for r in mine),
        }
    return out


def _timed(recipe: Any, size: int, dev: str) -> float:
    """Median of 3 runs of `recipe` on the timed pair at long side `size`."""
    from warpaint.engine.features.stylize.pairs import content_image, style_image

    net = recipe.loss_network(dev)
    c, s = _pair(TIMED_PAIR, size, content_image, style_image)
    times = [_stylise(recipe, net, c, s, recipe.iterations, dev)[1] for _ in range(3)]
    return round(statistics.median(times), 2)


def _save_png(result: np.ndarray, folder: str, recipe: str, size: int, name: str) -> None:
    from PIL import Image

    path = os.path.join(folder, recipe, str(size))
    os.makedirs(path, exist_ok=True)
    pixels = (np.clip(result, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(pixels).save(os.path.join(path, f"{name}.png"))


def _save_sheet(pairs: Any, results: list[np.ndarray], size: int, folder: str, name: str) -> None:
    """Rows: the contents; first column the photo, then one result per style
    (each style's thumbnail above its column); saved as `name` in `folder`."""
    from PIL import Image
    from skimage import transform

    from warpaint.engine.features.stylize.pairs import content_image, style_image

    contents = list(dict.fromkeys(c for c, _ in pairs))
    styles = list(dict.fromkeys(s for _, s in pairs))
    cell = min(size, 192)
    step = cell + 4

    def fit(a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        scale = cell / max(h, w)
        small = transform.resize(a, (round(h * scale), round(w * scale)), anti_aliasing=True)
        out = np.ones((cell, cell, 3))
        out[: small.shape[0], : small.shape[1]] = small
        return out

    sheet = np.ones((step * (len(contents) + 1), step * (len(styles) + 1), 3))
    for j, s in enumerate(styles):
        sheet[:cell, step * (j + 1) : step * (j + 1) + cell] = fit(style_image(s, cell))
    for i, c in enumerate(contents):
        y = step * (i + 1)
        sheet[y : y + cell, :cell] = fit(content_image(c, size))
        for (pc, ps), result in zip(pairs, results, strict=True):
            if pc == c:
                x = step * (styles.index(ps) + 1)
                sheet[y : y + cell, x : x + cell] = fit(result)
    pixels = (np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)
    # JPEG: the textures make a PNG of a sheet several times larger.
    Image.fromarray(pixels).save(os.path.join(folder, name), quality=88)


def _stylize_gpu_speed() -> dict[str, Any]:
    """The GPU goal: 512 px, 300 L-BFGS evaluations, one scale. Start:
    tensors on the device, network built; stop: result synchronised on the
    device. Median of 3 after a warm-up, per variant: the full random VGG-19
    (the network of the naive 5.1 s probe) planar and channels-last, and the
    effect's default recipe. Every variant runs as the effect does, with
    TF32 matrix products on CUDA (`optim.optimise`)."""
    import torch

    from warpaint.engine.features.stylize.optim import stylize_image
    from warpaint.engine.features.stylize.pairs import content_image, style_image
    from warpaint.engine.features.stylize.recipes import DEFAULT_RECIPE, recipe_for

    def t(a: np.ndarray, memory_format: Any) -> torch.Tensor:
        from skimage import transform

        a = transform.resize(a, (512, 512), anti_aliasing=True).astype(np.float32)
        x = torch.from_numpy(a).permute(2, 0, 1)[None].to("cuda")
        return x.contiguous(memory_format=memory_format)

    content, style = _pair(TIMED_PAIR, 512, content_image, style_image)
    variants = {
        "vgg19_random": (recipe_for("vgg19-random"), torch.contiguous_format),
        "vgg19_random_channels_last": (recipe_for("vgg19-random"), torch.channels_last),
        "default_recipe": (DEFAULT_RECIPE, torch.contiguous_format),
    }
    out: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "default_recipe": DEFAULT_RECIPE.name,
    }
    for name, (recipe, fmt) in variants.items():
        net = recipe.loss_network("cuda")
        c, s = t(content, fmt), t(style, fmt)
        times = []
        for i in range(4):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            stylize_image(
                net,
                c,
                [(s, 1.0)],
                side=512,
                evaluations=300 if i else 10,
                style_weight=recipe.style_weight,
                scales=1,
                style_transform=recipe.transform,
            )
            torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        out[f"gpu_512px_300_evals_s_{name}"] = round(statistics.median(times), 2)
    out["gpu_goal_512px_300_evals_s_max"] = 3.0
    return out
