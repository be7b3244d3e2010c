"""The pictures of docs/attributes.md, from a model file.

    python -m warpaint.engine.features.eyes.attribute_pictures OUT_DIR \
        [--model eye-attributes.safetensors]

writes `attributes-rendered.png` (three rendered eyes the model never saw:
each row of slider edits above the renderer's truth for the same change),
`attributes-astronaut.png` (both of the astronaut's eyes, detected and
framed by `eye_region`, edited together) and
`attributes-astronaut-closeup.png` (the image-right eye, 5x, stronger
edits). Seeds and crops are fixed, so two models give comparable pictures.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

# (label, slider values, the renderer's change for the truth row)
RENDERED_EDITS: tuple[tuple[str, dict[str, float], dict[str, Any]], ...] = (
    ("original", {}, {}),
    ("gaze left", {"gaze_horizontal": -1.0}, {"yaw": -15.0}),
    ("gaze right", {"gaze_horizontal": 1.0}, {"yaw": 15.0}),
    ("gaze up", {"gaze_vertical": 1.0}, {"pitch": 10.0}),
    ("gaze down", {"gaze_vertical": -1.0}, {"pitch": -10.0}),
    ("blink", {"openness": -2.0}, {"openness": -1.0}),
    ("pupil +1", {"pupil": 1.0}, {"pupil": 0.2}),
    ("pupil -1", {"pupil": -1.0}, {"pupil": -0.2}),
    ("blue iris", {"iris_colour": 1.0}, {"iris": (0.35, 0.45, 0.55)}),
)
CLOSEUP_EDITS: tuple[dict[str, float], ...] = (
    {},
    {"gaze_horizontal": -1.0},
    {"gaze_horizontal": 1.0},
    {"gaze_vertical": 1.0},
    {"gaze_vertical": -1.0},
    {"openness": -1.0},
    {"openness": -2.0},
    {"pupil": 1.25},
    {"pupil": -1.25},
    {"iris_colour": 1.0},
)
# The astronaut's eyes in skimage's 512x512 picture (rows, columns).
ASTRONAUT_EYES = (slice(85, 122), slice(178, 282))


def _rgba(rgb: np.ndarray) -> Any:
    import torch

    x = torch.from_numpy(np.ascontiguousarray(rgb[..., :3], np.float32)).permute(2, 0, 1)[None]
    return torch.cat([x, torch.ones_like(x[:, :1])], dim=1)


def _rgb(x: Any) -> np.ndarray:
    return x[0, :3].permute(1, 2, 0).numpy()


def _save(grid: np.ndarray, path: Path, zoom: int, smooth: bool) -> Path:
    from PIL import Image

    img = Image.fromarray((np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8))
    method = Image.Resampling.LANCZOS if smooth else Image.Resampling.NEAREST
    img.resize((img.width * zoom, img.height * zoom), method).save(path)
    return path


def rendered_grid(model: Any, path: Path, identities: int = 3, seed: int = 4242) -> Path:
    """Edits of rendered eyes (one row) above the renderer's truth (the next row)."""
    import torch

    from warpaint.engine.features.eyes.attributes import edit_region
    from warpaint.engine.features.eyes.render import EyeAppearance, render_eye
    from warpaint.engine.features.eyes.train_autoencoder import _base_look

    h, w = model.config.height, model.config.width
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    for _ in range(identities):
        app = EyeAppearance.random(rng)
        look = replace(_base_look(rng), yaw=0.0, pitch=0.0, openness=1.0, pupil=0.45)
        noise = int(rng.integers(1000))
        eye = render_eye(app, look, (h, w), noise)[0]
        edits, truths = [], []
        for _label, values, change in RENDERED_EDITS:
            with torch.inference_mode():
                edited = edit_region(model, _rgba(eye), (0, 0, w, h), values)
            edits.append(_rgb(edited))
            if "iris" in change:
                truth_app, truth_look = replace(app, iris_colour=change["iris"]), look
            else:
                truth_app = app
                truth_look = replace(
                    look, **{k: max(0.0, getattr(look, k) + d) for k, d in change.items()}
                )
            truths.append(render_eye(truth_app, truth_look, (h, w), noise)[0])
        rows += [np.concatenate(edits, 1), np.concatenate(truths, 1)]
        rows.append(np.ones((4, w * len(RENDERED_EDITS), 3), np.float32))
    return _save(np.concatenate(rows[:-1], 0), path, 2, smooth=False)


def astronaut_grids(model: Any, out_dir: Path) -> list[Path]:
    """Both eyes edited together (two rows), and a 5x close-up of the image-right eye."""
    import torch
    from skimage import data

    from warpaint.engine.features.eyes.attributes import edit_region, eye_region
    from warpaint.engine.features.eyes.detect import detect_faces

    photo = data.astronaut().astype(np.float32) / 255.0
    image = _rgba(photo)
    eyes = [eye_region(e.corners.tolist()) for e in detect_faces(photo)[0].eyes]
    tiles = []
    for _label, values, _change in RENDERED_EDITS:
        out = image
        with torch.inference_mode():
            for region, mirror in eyes:
                out = edit_region(model, out, region, values, mirror=mirror)
        tiles.append(_rgb(out)[ASTRONAUT_EYES])
    tiles.append(np.ones_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[:5], 1), np.concatenate(tiles[5:], 1)], 0)
    both = _save(grid, out_dir / "attributes-astronaut.png", 3, smooth=True)

    (x, y, w, h), mirror = eyes[1]
    rows, cols = slice(int(y) - 2, int(y + h) + 2), slice(int(x) - 2, int(x + w) + 2)
    close = []
    for values in CLOSEUP_EDITS:
        with torch.inference_mode():
            out = edit_region(model, image, (x, y, w, h), values, mirror=mirror)
        close.append(_rgb(out)[rows, cols])
    grid = np.concatenate([np.concatenate(close[:5], 1), np.concatenate(close[5:], 1)], 0)
    return [both, _save(grid, out_dir / "attributes-astronaut-closeup.png", 5, smooth=True)]


def main(argv: list[str] | None = None) -> int:
    import torch

    from warpaint.engine.features.eyes.attributes import default_model_path
    from warpaint.engine.features.eyes.autoencoder import load_attribute_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--model", default=None, help="model file (default: the built-in one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_attribute_model(args.model or default_model_path())
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [rendered_grid(model, out / "attributes-rendered.png"), *astronaut_grids(model, out)]
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
