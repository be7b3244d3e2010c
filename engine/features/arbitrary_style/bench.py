"""`warpaint bench arbitrary-style`: AdaIN against Gatys on styles the decoder never saw.

Also a gallery writer for the docs:
`python -m warpaint.engine.features.arbitrary_style.bench --gallery docs/images`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from warpaint.engine.neural.bench_images import fit_rgb as _fit
from warpaint.engine.neural.bench_images import to_batch as _t
from warpaint.engine.runtime.bench import benchmark

if TYPE_CHECKING:
    import torch

BENCH_SIDE = 256
SPEED_SIDE = 512
CONTENTS: tuple[str, ...] = ("astronaut", "chelsea", "coffee")
HELD_OUT_CORPUS = 4  # the first held-out corpus styles (indices 0, 8, 16, 24)
GOAL_STYLE_RATIO = 1.35
GOAL_CPU_512_SECONDS = 0.5
# The pinned Gatys results (the earlier stylize defaults, slim random VGG-19,
# 48 evaluations) the texture goal is measured against, and their pairs.
GATYS_REFERENCE = Path(__file__).resolve().parents[3] / "tests" / "data" / "stylize" / "slim-vgg-48"
REFERENCE_PAIRS: tuple[tuple[str, str], ...] = (
    ("astronaut", "mosaic"),
    ("chelsea", "strokes"),
    ("coffee", "ihc-photo"),
)
GOAL_TEXTURE_OVER_GATYS = 1.3


def bench_contents(side: int, quick: bool = False) -> dict[str, np.ndarray]:
    """The fixed content set (the stylize benchmark's photos), long side `side`."""
    from skimage import data

    names = CONTENTS[:1] if quick else CONTENTS
    return {name: _fit(getattr(data, name)(), side) for name in names}


def held_out_styles(side: int, quick: bool = False) -> dict[str, np.ndarray]:
    """Styles no decoder training sees: held-out corpus indices, the stylize
    benchmark's procedural samples and the immunohistochemistry photo."""
    from skimage import data

    from warpaint.engine.features.arbitrary_style.corpus import held_out_indices, style_image
    from warpaint.engine.neural.style_samples import mosaic, strokes, waves

    styles = {f"corpus-{i}": style_image(i, side) for i in held_out_indices(HELD_OUT_CORPUS)}
    styles |= {"mosaic": mosaic(side), "strokes": strokes(side), "waves": waves(side)}
    styles["ihc-photo"] = _fit(data.immunohistochemistry(), side)
    if quick:
        return {k: styles[k] for k in ("corpus-8", "mosaic")}
    return styles


def _np(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).float().cpu().numpy()


def adain_result(
    content: np.ndarray,
    style: np.ndarray,
    device: str = "cpu",
    strength: float = 1.0,
    model: str | None = None,
    texture: float | None = None,
    luma_share: float | None = None,
) -> np.ndarray:
    """The effect's core on numpy images (H, W, 3) -> (H, W, 3), style at the
    content's size; `texture` and `luma_share` None are the effect's defaults."""
    import torch

    from warpaint.engine.features.arbitrary_style.effect import (
        TEXTURE_DEFAULT,
        load_decoder,
        stylize,
    )
    from warpaint.engine.neural.style_losses import resize_to_side

    decoder = load_decoder(model, device)
    amount = TEXTURE_DEFAULT if texture is None else texture
    with torch.inference_mode():
        s = resize_to_side(_t(style, device), max(content.shape[:2]))
        out = stylize(
            decoder,
            _t(content, device),
            [(s, 1.0)],
            strength,
            texture=amount,
            luma_share=luma_share,
        )
        return _np(out)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def speed_512(dev: str, quick: bool = False) -> dict[str, Any]:
    """Median seconds for a 512x512 image (256 quick) with the shipped decoder:
    start with content and style tensors on the device (one warm-up run),
    stop when the result is back on the host; a new style every run (the
    style is encoded too) and the same style (its statistics remembered, as
    when a slider moves). Each with the default texture and without it
    (`_no_texture`), the two runs alternating so that other work on the
    machine weighs on both alike; `texture_ms_*` is the median difference."""
    import torch

    from warpaint.engine.features.arbitrary_style.effect import (
        _STYLE_CACHE,
        _TEXTURE_CACHE,
        TEXTURE_DEFAULT,
        load_decoder,
        stylize,
    )

    speed_side = 256 if quick else SPEED_SIDE
    runs = 3 if quick else 7
    decoder = load_decoder(None, dev)
    rng = np.random.default_rng(0)
    content_t = _t(rng.random((speed_side, speed_side, 3), dtype=np.float32), dev)
    style_t = _t(held_out_styles(speed_side, quick=True)["mosaic"], dev)
    speed: dict[str, Any] = {"side": speed_side, "runs": runs, "texture": TEXTURE_DEFAULT}
    with torch.inference_mode():
        for label, new_style in (("new_style", True), ("same_style", False)):
            times: dict[float, list[float]] = {TEXTURE_DEFAULT: [], 0.0: []}
            for i in range(runs + 1):
                for texture in times:
                    if new_style:
                        _STYLE_CACHE.clear()
                        _TEXTURE_CACHE.clear()
                    _sync(dev)
                    t0 = time.perf_counter()
                    stylize(decoder, content_t, [(style_t, 1.0)], texture=texture).cpu()
                    if i:  # the first run is the warm-up
                        times[texture].append(time.perf_counter() - t0)
            with_texture, without = times[TEXTURE_DEFAULT], times[0.0]
            speed[f"median_s_{label}"] = round(statistics.median(with_texture), 4)
            speed[f"min_s_{label}"] = round(min(with_texture), 4)
            speed[f"median_s_{label}_no_texture"] = round(statistics.median(without), 4)
            diffs = [a - b for a, b in zip(with_texture, without, strict=True)]
            speed[f"texture_ms_{label}"] = round(1000 * statistics.median(diffs), 1)
    speed["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):
        speed["load_average_1min"] = round(os.getloadavg()[0], 2)
    return speed


def big_style_step(dev: str, quick: bool = False) -> dict[str, Any]:
    """What a photo-sized style costs a slider step: the effect as a job runs
    it (`run_effect`, start: the resolved RGBA arrays, stop: the result
    array) on a 512x384 content with an opaque 4000x3000 style (quick:
    1000x750) against the same style shrunk to 1024x768 first, alternating,
    median of 5 (3 quick) after a warm-up each, the style's statistics
    remembered as when a slider moves. The effect resizes either to the
    content's side, so the difference is the big style's own handling."""
    import cv2

    from warpaint.engine.runtime.apply import run_effect
    from warpaint.engine.runtime.jobs import Job, JobContext
    from warpaint.engine.runtime.registry import get_effect

    spec = get_effect("arbitrary-style")
    rng = np.random.default_rng(3)
    content = rng.random((384, 512, 4), dtype=np.float32)
    content[..., 3] = 1.0
    side = 1000 if quick else 4000
    texture = held_out_styles(256, quick=True)["mosaic"]
    big = cv2.resize(texture, (side, side * 3 // 4), interpolation=cv2.INTER_CUBIC)
    big = np.concatenate([np.clip(big, 0.0, 1.0), np.ones(big.shape[:2] + (1,), np.float32)], 2)
    small = cv2.resize(big, (1024, 768), interpolation=cv2.INTER_AREA)
    runs = 3 if quick else 5
    times: dict[str, list[float]] = {"big": [], "small": []}
    for i in range(runs + 1):
        for label, style in (("big", big), ("small", small)):
            ctx = JobContext(Job(lambda c: None, device=dev))
            params = spec.resolve({"style": style})
            t0 = time.perf_counter()
            run_effect(ctx, spec, content, params)
            if i:  # the first run is the warm-up
                times[label].append(time.perf_counter() - t0)
    big_s, small_s = statistics.median(times["big"]), statistics.median(times["small"])
    return {
        "content": "512x384",
        "style": f"{side}x{side * 3 // 4} against 1024x768",
        "runs": runs,
        "median_s_big_style": round(big_s, 4),
        "median_s_small_style": round(small_s, 4),
        "big_style_extra_ms": round(1000 * (big_s - small_s), 1),
    }


def texture_goal(device: str = "cpu") -> dict[str, Any]:
    """The texture goal on the three reference pairs at 256 px: each result's
    high-pass texture ratio (`stylize.filter_judge`) over the pinned Gatys
    result's (goal <= 1.3) and its luminance SSIM minus Gatys' (goal >= 0),
    per pair and the worst, for the decoder alone (texture 0) and the
    effect's default texture. Empty with a note when the pinned results are
    not there (an installed copy without the tests)."""
    from PIL import Image

    from warpaint.engine.features.arbitrary_style.effect import TEXTURE_DEFAULT
    from warpaint.engine.features.stylize.filter_judge import filter_judge
    from warpaint.engine.features.stylize.pairs import content_image, style_image

    if not GATYS_REFERENCE.is_dir():
        return {"note": f"no pinned Gatys results at {GATYS_REFERENCE}"}
    settings = {"texture_0": 0.0, "texture_default": TEXTURE_DEFAULT}
    out: dict[str, Any] = {"reference": "slim-vgg-48", "size": BENCH_SIDE}
    pairs: dict[str, dict[str, Any]] = {name: {} for name in settings}
    for cname, sname in REFERENCE_PAIRS:
        c, s = content_image(cname, BENCH_SIDE), style_image(sname, BENCH_SIDE)
        with Image.open(GATYS_REFERENCE / f"{cname}-{sname}.png") as image:
            ref = np.asarray(image.convert("RGB"), np.float32) / 255.0
        judged_ref = filter_judge(ref, s, c)
        for name, texture in settings.items():
            judged = filter_judge(adain_result(c, s, device, texture=texture), s, c)
            pairs[name][f"{cname}-{sname}"] = {
                "high_pass_ratio": judged["high_pass_ratio"],
                "gatys_high_pass_ratio": judged_ref["high_pass_ratio"],
                "high_pass_over_gatys": round(
                    judged["high_pass_ratio"] / judged_ref["high_pass_ratio"], 3
                ),
                "content_ssim": judged["content_ssim"],
                "ssim_minus_gatys": round(judged["content_ssim"] - judged_ref["content_ssim"], 4),
            }
    for name, texture in settings.items():
        rows = pairs[name].values()
        worst_ratio = max(r["high_pass_over_gatys"] for r in rows)
        worst_ssim = min(r["ssim_minus_gatys"] for r in rows)
        out[name] = {
            "texture": texture,
            "pairs": pairs[name],
            "worst_high_pass_over_gatys": worst_ratio,
            "worst_ssim_minus_gatys": worst_ssim,
            "goal_met": worst_ratio <= GOAL_TEXTURE_OVER_GATYS and worst_ssim >= 0.0,
        }
    out["goal_high_pass_over_gatys_max"] = GOAL_TEXTURE_OVER_GATYS
    return out


@benchmark(
    "arbitrary-style",
    "AdaIN vs Gatys on held-out styles: judged style distance, content SSIM, 512 px speed; "
    "texture against the pinned Gatys results",
)
def bench_arbitrary_style(quick: bool, device: str | None) -> dict[str, Any]:
    """Quality: for every content x held-out style pair at 256 px (96 in quick
    mode), the AdaIN result (strength 1) and the Gatys result (`SLIM_VGG_48`, the
    earlier stylize defaults) are scored by `style_judge.judge`; `style_ratio` is
    AdaIN's style distance over Gatys' (goal <= 1.35) and `ssim_minus_gatys`
    the difference in content SSIM (goal >= 0). Speed: start with content and
    style tensors on the device (decoder loaded, one warm-up), stop when the
    result is back on the host; median of 7 runs at 512x512 (3 at 256 quick),
    with a new style every run (the style is encoded too) and with the same
    style (its statistics are remembered, as when a slider moves), each with
    and without the texture step; `big_style` (`big_style_step`): what a
    photo-sized style adds to a slider step. Texture goal (`texture_goal`): on the three
    reference pairs, the high-pass texture ratio over the pinned Gatys
    results' (goal <= 1.3) at SSIM >= theirs, for texture 0 and the default.
    The AdaIN results use the effect's default texture.
    """

    from warpaint.engine.features.stylize.recipes import SLIM_VGG_48
    from warpaint.engine.neural.style_judge import judge
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    side = 96 if quick else BENCH_SIDE
    contents = bench_contents(side, quick)
    styles = held_out_styles(side, quick)
    # The Gatys side is pinned by name (the earlier stylize defaults), so these
    # figures stay comparable when the stylize effect's defaults change.
    gatys = SLIM_VGG_48
    net = gatys.loss_network(dev)
    rows = []
    for cname, c in contents.items():
        for sname, s in styles.items():
            _sync(dev)
            t0 = time.perf_counter()
            a = adain_result(c, s, dev)
            adain_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            g = gatys.stylize(net, _t(c, dev), [(_t(s, dev), 1.0)], side=side)
            gatys_result = _np(g)
            gatys_s = time.perf_counter() - t0
            ja, jg = judge(a, s, c), judge(gatys_result, s, c)
            rows.append(
                {
                    "content": cname,
                    "style": sname,
                    "content_only_style_distance": judge(c, s, c)["style_distance"],
                    "adain": ja | {"seconds": round(adain_s, 3)},
                    "gatys": jg | {"seconds": round(gatys_s, 2)},
                    "style_ratio": round(ja["style_distance"] / jg["style_distance"], 3),
                    "ssim_minus_gatys": round(ja["content_ssim"] - jg["content_ssim"], 4),
                }
            )

    speed = speed_512(dev, quick)
    big_style = big_style_step(dev, quick)
    goal = texture_goal(dev)
    ratios = [r["style_ratio"] for r in rows]
    ssim_diffs = [r["ssim_minus_gatys"] for r in rows]
    return {
        "device": dev,
        "size": side,
        "contents": list(contents),
        "held_out_styles": list(styles),
        "gatys_settings": gatys.settings(),
        "results": rows,
        "median_style_ratio": round(statistics.median(ratios), 3),
        "mean_style_ratio": round(statistics.fmean(ratios), 3),
        "median_ssim_minus_gatys": round(statistics.median(ssim_diffs), 4),
        "mean_adain_ssim": round(statistics.fmean(r["adain"]["content_ssim"] for r in rows), 4),
        "mean_gatys_ssim": round(statistics.fmean(r["gatys"]["content_ssim"] for r in rows), 4),
        "speed": speed,
        "big_style": big_style,
        "texture_goal": goal,
        "goal_style_ratio_max": GOAL_STYLE_RATIO,
        "goal_cpu_512_seconds": GOAL_CPU_512_SECONDS,
    }


def texture_held_out(
    device: str = "cpu",
    contents: Sequence[str] | None = None,
    luma_shares: Sequence[float] = (),
) -> dict[str, Any]:
    """The texture goal on pairs the texture step was not chosen on: the
    held-out styles x `contents` (default `stylize.pairs.HELD_OUT_2_CONTENTS`)
    at 256 px, each AdaIN result (texture 0, the default, and the default
    texture at each of `luma_shares`, keyed `luma_<share>`) against
    `SLIM_VGG_48` run on the same pair, judged by `stylize.filter_judge`.
    Slow (a Gatys run per pair), so not part of `bench arbitrary-style`:
    `python -c "from warpaint.engine.features.arbitrary_style.bench import
    texture_held_out; print(texture_held_out())"`."""

    from warpaint.engine.features.arbitrary_style.effect import TEXTURE_DEFAULT
    from warpaint.engine.features.stylize.filter_judge import filter_judge
    from warpaint.engine.features.stylize.pairs import HELD_OUT_2_CONTENTS, content_image
    from warpaint.engine.features.stylize.recipes import SLIM_VGG_48

    styles = held_out_styles(BENCH_SIDE)
    net = SLIM_VGG_48.loss_network(device)
    settings: dict[str, tuple[float, float | None]] = {
        "texture_0": (0.0, None),
        "texture_default": (TEXTURE_DEFAULT, None),
        **{f"luma_{share:g}": (TEXTURE_DEFAULT, float(share)) for share in luma_shares},
    }
    rows = []
    for cname in HELD_OUT_2_CONTENTS if contents is None else contents:
        c = content_image(cname, BENCH_SIDE)
        for sname, s in styles.items():
            g = SLIM_VGG_48.stylize(net, _t(c, device), [(_t(s, device), 1.0)], side=BENCH_SIDE)
            judged_gatys = filter_judge(_np(g), s, c)
            row: dict[str, Any] = {"content": cname, "style": sname, "gatys": judged_gatys}
            for name, (texture, share) in settings.items():
                result = adain_result(c, s, device, texture=texture, luma_share=share)
                judged = filter_judge(result, s, c)
                row[name] = judged | {
                    "high_pass_over_gatys": round(
                        judged["high_pass_ratio"] / judged_gatys["high_pass_ratio"], 3
                    ),
                    "ssim_minus_gatys": round(
                        judged["content_ssim"] - judged_gatys["content_ssim"], 4
                    ),
                }
            rows.append(row)
    out: dict[str, Any] = {"results": rows}
    for name in settings:
        ratios = [r[name]["high_pass_over_gatys"] for r in rows]
        diffs = [r[name]["ssim_minus_gatys"] for r in rows]
        out[name] = {
            "pairs_meeting_goal": sum(
                a <= GOAL_TEXTURE_OVER_GATYS and b >= 0 for a, b in zip(ratios, diffs, strict=True)
            ),
            "pairs": len(rows),
            "median_high_pass_over_gatys": round(statistics.median(ratios), 3),
            "worst_high_pass_over_gatys": max(ratios),
            "median_ssim_minus_gatys": round(statistics.median(diffs), 4),
            "lowest_ssim_minus_gatys": min(diffs),
        }
    return out


# -- gallery -----------------------------------------------------------------------


GALLERY_STYLES = ("corpus-0", "mosaic", "strokes", "ihc-photo")


def write_gallery(out_dir: Path, side: int = 256, model: str | None = None) -> list[Path]:
    """Held-out style x content results as images for the docs, all with the
    effect's defaults unless said.

    Writes `adain-gallery.jpg` (a grid: four held-out styles across the top,
    the three contents down the left, results at strength 1 inside),
    `adain-texture.jpg` (per reference pair: style, texture 0, 0.5, 1),
    `adain-strength.jpg` (strength 0, 0.25, 0.5, 0.75, 1), `adain-colours.jpg`
    (content, result, result with preserved colours) and `adain-mix.jpg`
    (style A, mixes 0, 0.5, 1, style B). Returns the files written.
    """
    import torch
    from PIL import Image

    from warpaint.engine.features.arbitrary_style.effect import (
        TEXTURE_DEFAULT,
        load_decoder,
        stylize,
    )
    from warpaint.engine.neural.style_losses import with_chroma_of

    out_dir.mkdir(parents=True, exist_ok=True)
    contents = bench_contents(side)
    styles = {k: v for k, v in held_out_styles(side).items() if k in GALLERY_STYLES}
    written: list[Path] = []

    def save(image: np.ndarray, name: str) -> None:
        path = out_dir / name
        pixels = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
        pixels.save(path, quality=88)  # JPEG: the docs stay small
        written.append(path)

    def square(a: np.ndarray, cell: int) -> np.ndarray:
        from skimage.transform import resize

        return resize(a, (cell, cell), anti_aliasing=True).astype(np.float32)

    cell = 200
    gap = np.ones((cell, 4, 3), np.float32)
    top = [np.ones((cell, cell, 3), np.float32)] + [square(s, cell) for s in styles.values()]
    rows = [np.concatenate([x for t in top for x in (t, gap)][:-1], 1)]
    for c in contents.values():
        row = [square(c, cell)]
        for s in styles.values():
            result = adain_result(c, s, model=model)
            row.append(square(result, cell))
        rows.append(np.concatenate([x for t in row for x in (t, gap)][:-1], 1))
    hgap = np.ones((4, rows[0].shape[1], 3), np.float32)
    save(np.concatenate([x for r in rows for x in (r, hgap)][:-1], 0), "adain-gallery.jpg")

    from warpaint.engine.features.stylize.pairs import content_image, style_image

    rows = []
    for cname, sname in REFERENCE_PAIRS:
        c, s = content_image(cname, side), style_image(sname, side)
        row = [square(s, cell)]
        row += [square(adain_result(c, s, model=model, texture=t), cell) for t in (0.0, 0.5, 1.0)]
        rows.append(np.concatenate([x for t in row for x in (t, gap)][:-1], 1))
    hgap = np.ones((4, rows[0].shape[1], 3), np.float32)
    save(np.concatenate([x for r in rows for x in (r, hgap)][:-1], 0), "adain-texture.jpg")

    every = held_out_styles(side)
    c, s, s2 = contents["astronaut"], every["corpus-8"], every["mosaic"]
    strip = [adain_result(c, s, strength=a, model=model) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    save(np.concatenate(strip, 1), "adain-strength.jpg")
    full = adain_result(c, s2, model=model)
    kept = with_chroma_of(_t(full, "cpu"), _t(c, "cpu"))
    save(np.concatenate([c, full, _np(kept)], 1), "adain-colours.jpg")
    decoder = load_decoder(model)
    mixes = []
    with torch.inference_mode():
        ct, st, st2 = _t(c, "cpu"), _t(s, "cpu"), _t(s2, "cpu")
        for mix in (0.0, 0.5, 1.0):
            mix_styles = [(st, 1 - mix), (st2, mix)]
            mixes.append(_np(stylize(decoder, ct, mix_styles, texture=TEXTURE_DEFAULT)))
    save(np.concatenate([s, *mixes, s2], 1), "adain-mix.jpg")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gallery", type=Path, required=True, help="output folder")
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--model", default=None, help="decoder file (default: the shipped one)")
    args = parser.parse_args(argv)
    for path in write_gallery(args.gallery, args.side, args.model):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
