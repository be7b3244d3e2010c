"""The content/style pairs the Gatys recipes are tuned and judged on.

TUNING pairs chose the settings; HELD-OUT pairs (other photos, other
styles) were only judged. All offline: scikit-image's photographs and the
project's procedural styles (`style_samples`).
"""

from __future__ import annotations

import numpy as np

TUNING_CONTENTS = ("astronaut", "chelsea", "coffee")
TUNING_STYLES = ("mosaic", "strokes", "waves", "ihc-photo")
HELD_OUT_CONTENTS = ("rocket", "camera", "coins")
HELD_OUT_STYLES = ("tiles", "pointillism", "swirls", "watercolour")
TUNING = tuple((c, s) for c in TUNING_CONTENTS for s in TUNING_STYLES)
HELD_OUT = tuple((c, s) for c in HELD_OUT_CONTENTS for s in HELD_OUT_STYLES)


def content_image(name: str, side: int) -> np.ndarray:
    """A scikit-image photograph, (h, w, 3) float32, long side `side`
    (the grey ones, camera and coins, as three equal channels)."""
    from skimage import data

    from warpaint.engine.neural.bench_images import fit_rgb

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return fit_rgb(image, side)


def style_image(name: str, side: int) -> np.ndarray:
    """A procedural style (`style_samples`) or 'ihc-photo' (scikit-image's
    immunohistochemistry photograph), (h, w, 3) float32, long side `side`."""
    from skimage import data

    from warpaint.engine.neural.bench_images import fit_rgb
    from warpaint.engine.neural.style_samples import PRESET_STYLES, STYLES

    if name == "ihc-photo":
        return fit_rgb(data.immunohistochemistry(), side)
    return fit_rgb((STYLES.get(name) or PRESET_STYLES[name])(side), side)
