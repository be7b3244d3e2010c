"""`warpaint bench video`: fast style over a generated moving scene, per frame
and stabilized: flicker, judged quality and frames per second."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark
from warpaint.engine.runtime.device import machine_info

PRESETS = ("swirls", "pointillism")
BLENDS = (0.5, 0.7, 0.85)
JUDGE_SIDE = 256  # as `bench fast-style` prepares judged pairs


def _host(x: Any) -> np.ndarray:
    return (x[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def _judged(
    outputs: list[np.ndarray], contents: list[np.ndarray], style: np.ndarray
) -> dict[str, Any]:
    """Mean judged style distance and luminance SSIM over every 6th frame from
    the 4th (the first is the same in both paths: nothing is carried yet)."""
    from warpaint.engine.neural.bench_images import fit_rgb
    from warpaint.engine.neural.style_judge import judge

    rows = [
        judge(fit_rgb(out, JUDGE_SIDE), style, fit_rgb(content, JUDGE_SIDE))
        for out, content in zip(outputs[3::6], contents[3::6], strict=True)
    ]
    return {
        "style_distance": round(statistics.mean(r["style_distance"] for r in rows), 4),
        "content_ssim": round(statistics.mean(r["content_ssim"] for r in rows), 4),
    }


def _strip(
    contents: list[np.ndarray],
    rows: list[list[np.ndarray]],
    path: Path,
    start: int | None = None,
) -> None:
    """Three consecutive frames from `start` (default: the middle of the
    clip), a 1:1 crop of each, one row per list in `rows` under a row of the
    content."""
    from PIL import Image

    h, w = contents[0].shape[:2]
    ch, cw = min(h, 180), min(w, 320)
    y, x = (h - ch) // 2, (w - cw) // 2
    t = len(contents) // 2 if start is None else start
    grid = [contents, *rows]
    sheet = np.concatenate(
        [
            np.concatenate([frames[i][y : y + ch, x : x + cw] for i in (t, t + 1, t + 2)], axis=1)
            for frames in grid
        ],
        axis=0,
    )
    Image.fromarray(sheet).save(path, quality=85)


def _clip_speed(
    frames: list[np.ndarray],
    device: str,
    settings: Any,
    judge_style: np.ndarray | None = None,
    pairs: list[Any] | None = None,
    written: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Frames per second of `warpaint batch`'s video path (decode, recipe
    (fast style, swirls), stabilizer, chunks, encode) with `settings`
    (`clip.VideoSettings`) over `frames` written as an H.264 clip; with
    `judge_style` the written frames' judged quality (`_judged`), with
    `pairs` (the content's motion) their flicker. The written frames are
    added to `written` when given. The reason instead when the `video`
    extra is not installed."""
    from fractions import Fraction

    from warpaint.engine.features.video.clip import process_clip
    from warpaint.engine.features.video.temporal import flicker
    from warpaint.engine.io.video import VideoWriter, read_frames, video_available
    from warpaint.engine.runtime.recipes import parse_recipe

    if not video_available():
        return {"skipped": "PyAV is not installed (pip install 'warpaint[video]')"}
    recipe = parse_recipe(
        {"warpaint_recipe": 1, "steps": [{"effect": "fast-style", "params": {"preset": "swirls"}}]}
    )
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "scene.mp4"
        with VideoWriter(source, w, h, Fraction(30)) as writer:
            for frame in frames:
                writer.write(frame)
            writer.finish()
        start = time.perf_counter()
        count = process_clip(
            recipe,
            source,
            Path(folder) / "out.mp4",
            "bench",
            settings,
            device,
        )
        elapsed = time.perf_counter() - start
        outputs = list(read_frames(Path(folder) / "out.mp4"))
    row: dict[str, Any] = {
        "frames": count,
        "seconds": round(elapsed, 1),
        "frames_per_s": round(count / elapsed, 2),
    }
    if pairs is not None:
        row["flicker"] = round(flicker(outputs, pairs[: len(outputs) - 1]), 3)
    if judge_style is not None:
        row.update(_judged(outputs, frames, judge_style))
    if written is not None:
        written.extend(outputs)
    return row


def _compare(
    name: str,
    per_frame: list[np.ndarray],
    net_times: list[float],
    frames: list[np.ndarray],
    pairs: list[Any],
    style: np.ndarray,
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Flicker and judged quality of `per_frame` and of its stabilized
    versions at each of `BLENDS`; the row and the stable frames at 0.7."""
    from warpaint.engine.features.video.temporal import Stabilizer, flicker

    count = len(per_frame)
    base = flicker(per_frame, pairs[: count - 1])
    row: dict[str, Any] = {
        "style": name,
        "frames": count,
        "network_s_per_frame": round(statistics.median(net_times), 3),
        "per_frame": {"flicker": round(base, 3), **_judged(per_frame, frames, style)},
    }
    kept: list[np.ndarray] = []
    for blend in BLENDS:
        stabilizer = Stabilizer(blend)
        stable, times = [], []
        for content, out in zip(frames, per_frame, strict=False):
            start = time.perf_counter()
            stable.append(stabilizer(content, out))
            times.append(time.perf_counter() - start)
        value = flicker(stable, pairs[: count - 1])
        row[f"stable_{blend}"] = {
            "flicker": round(value, 3),
            "flicker_ratio": round(value / base, 3),
            **_judged(stable, frames, style),
            "stabilizer_s_per_frame": round(statistics.median(times[1:]), 3),
        }
        if blend == 0.7:
            kept = stable
    return row, kept


@benchmark(
    "video",
    "fast and arbitrary style on a moving 720p scene: flicker, judged quality "
    "(per frame, stable), frames/s",
)
def bench_video(quick: bool, device: str | None) -> dict[str, Any]:
    """The scene (`scene.moving_scene`, 1280x720, 60 frames; quick: 320x180,
    12) through two shipped fast-style presets and, on its first 20 frames
    (quick: 6), arbitrary style (AdaIN, the shipped decoder) with the
    "strokes" preset's source as the style image, each frame on its own (the
    effects' `stylize`) and then through `temporal.Stabilizer` at several
    blends. Flicker: `temporal.flicker` with the content's DIS flow
    ("medium", full size) and its forward-backward mask. Quality: the style
    judge's distance to the style's source image and luminance SSIM to the
    content, every 6th frame from the 4th at 256 px. Speed: per-frame medians of the
    network (tensor in to tensor out) and of the stabilizer, and the whole
    batch path (fast style) on the first 20 frames (quick: 12) at full size
    (the default path, which on a CPU repaints between keyframes only what
    the motion does not carry, and `--full-frames`) and with the recipe at
    640 px, each with its written frames' flicker and judged quality. With
    $WARPAINT_BENCH_IMAGES set, writes video-strip.jpg there (content, per
    frame, stable; three frames) and video-strip-partial.jpg (content, per
    frame, the batch path's full-frame and default outputs, three frames
    before a keyframe)."""
    import torch

    from warpaint.engine.features.arbitrary_style import effect as adain
    from warpaint.engine.features.fast_style.effect import load_generator, style_mix, stylize
    from warpaint.engine.features.video.clip import KEY_INTERVAL, VideoSettings
    from warpaint.engine.features.video.scene import moving_scene
    from warpaint.engine.features.video.temporal import flicker, frame_pair
    from warpaint.engine.neural.bench_images import to_batch
    from warpaint.engine.neural.style_samples import PRESET_STYLES
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    width, height, count = (320, 180, 12) if quick else (1280, 720, 60)
    frames = moving_scene(width, height, count)
    pairs = [frame_pair(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    result: dict[str, Any] = {
        "device": dev,
        "machine": machine_info(dev),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "scene": {"width": width, "height": height, "frames": count},
        "reliable_fraction": round(statistics.mean(float(p.mask.mean()) for p in pairs), 3),
        "content_flicker": round(flicker(frames, pairs), 3),
    }

    def timed(fn: Any, x: Any) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        y = fn(x)
        if dev == "cuda":
            torch.cuda.synchronize()
        return _host(y), time.perf_counter() - start

    def run(fn: Any, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
        outs, times = [], []
        with torch.inference_mode():
            for frame in inputs:
                out, seconds = timed(fn, to_batch(frame.astype(np.float32) / 255.0, dev))
                outs.append(out)
                times.append(seconds)
        return outs, times

    gen, styles = load_generator(None, dev)
    presets = [p for p in PRESETS if p in styles][: 1 if quick else None]
    rows = []
    strip_rows: list[list[np.ndarray]] = []
    for preset in presets:
        mix = style_mix(styles, preset)
        per_frame, times = run(lambda x, mix=mix: stylize(gen, x, mix), frames)
        row, stable = _compare(
            preset, per_frame, times, frames, pairs, PRESET_STYLES[preset](JUDGE_SIDE)
        )
        rows.append(row)
        if not strip_rows:
            strip_rows = [per_frame, stable]
    result["fast_style"] = rows
    if adain.default_model_path().is_file():
        decoder = adain.load_decoder(None, dev)
        style = to_batch(PRESET_STYLES["strokes"](512), dev)
        some = frames[: 6 if quick else 20]
        per_frame, times = run(lambda x: adain.stylize(decoder, x, [(style, 1.0)]), some)
        row, _ = _compare(
            "strokes", per_frame, times, some, pairs, PRESET_STYLES["strokes"](JUDGE_SIDE)
        )
        result["arbitrary_style"] = row
    else:
        result["arbitrary_style"] = {"skipped": "the AdaIN decoder is not installed"}
    clip_frames = frames[: 12 if quick else 20]
    # Judged against the swirls source, as the per-frame swirls row above
    # (`per_frame_judged` here: the same frames stylized one by one at full size).
    swirls = PRESET_STYLES["swirls"](JUDGE_SIDE)
    swirls_frames: list[np.ndarray] = []
    if "swirls" in styles:
        with torch.inference_mode():
            swirls_mix = style_mix(styles, "swirls")
            for frame in clip_frames:
                x = to_batch(frame.astype(np.float32) / 255.0, dev)
                swirls_frames.append(_host(stylize(gen, x, swirls_mix)))
    clip_pairs = pairs[: len(clip_frames) - 1]
    per_frame_row: dict[str, Any] | None = None
    if swirls_frames:
        per_frame_row = {
            "flicker": round(flicker(swirls_frames, clip_pairs), 3),
            **_judged(swirls_frames, clip_frames, swirls),
        }
    # The default path (on a CPU: keyframes, and between them only what the
    # motion does not carry repainted), every frame whole, and the network at 640 px.
    partial: list[np.ndarray] = []
    whole: list[np.ndarray] = []
    paths = {
        "full_size": _clip_speed(clip_frames, dev, VideoSettings(), swirls, clip_pairs, partial),
        "full_size_full_frames": _clip_speed(
            clip_frames, dev, VideoSettings(full_frames=True), swirls, clip_pairs, whole
        ),
        "max_side_640": _clip_speed(
            clip_frames, dev, VideoSettings(max_side=640), swirls, clip_pairs
        ),
    }
    if per_frame_row is not None:
        for row in paths.values():
            if row.get("flicker") is not None:
                row["flicker_ratio"] = round(row["flicker"] / per_frame_row["flicker"], 3)
    result["batch_path"] = {"per_frame_judged": per_frame_row, **paths}
    folder = os.environ.get("WARPAINT_BENCH_IMAGES")
    if folder and strip_rows:
        _strip(frames, strip_rows, Path(folder) / "video-strip.jpg")
    if folder and swirls_frames and partial and whole:
        # The frames before a keyframe, where the carried output is oldest.
        start = max(0, min(len(clip_frames) - 3, 2 * KEY_INTERVAL - 3))
        _strip(
            clip_frames,
            [swirls_frames, whole, partial],
            Path(folder) / "video-strip-partial.jpg",
            start,
        )
    return result
