"""The content/style pairs the Gatys recipes are tuned and judged on.

TUNING pairs chose the settings; HELD-OUT pairs (other photos, other
styles) were only judged; HELD_OUT_2 and HELD_OUT_3 were added later
(below). All offline: scikit-image's photographs, the project's procedural
styles (`style_samples`) and the arbitrary-style corpus (`corpus-<index>`).
"""

from __future__ import annotations

import numpy as np

TUNING_CONTENTS = ("astronaut", "chelsea", "coffee")
TUNING_STYLES = ("mosaic", "strokes", "waves", "ihc-photo")
HELD_OUT_CONTENTS = ("rocket", "camera", "coins")
HELD_OUT_STYLES = ("tiles", "pointillism", "swirls", "watercolour")
TUNING = tuple((c, s) for c in TUNING_CONTENTS for s in TUNING_STYLES)
HELD_OUT = tuple((c, s) for c in HELD_OUT_CONTENTS for s in HELD_OUT_STYLES)
# A second held-out set, made in December 2026 before the search for the
# EfficientNet-Lite1/2 and softmax recipes, because the HELD-OUT pairs had
# already been looked at once: photographs and styles used nowhere else in
# stylize (the left view of scikit-image's stereo motorcycle pair, the clock
# and the moon, both grey; the two fast-style preset sources in neither set
# and two held-out styles of the arbitrary-style corpus: geometric +
# hatching, mosaic + dots + grain). Candidates are judged on it once, at
# the end.
HELD_OUT_2_CONTENTS = ("stereo_motorcycle", "clock", "moon")
HELD_OUT_2_STYLES = ("ink-wash", "cubist", "corpus-0", "corpus-64")
HELD_OUT_2 = tuple((c, s) for c in HELD_OUT_2_CONTENTS for s in HELD_OUT_2_STYLES)
# A third held-out set, made before the search for the recipe after
# `efficientnet-lite0-128`, because both earlier held-out sets had been
# looked at: scikit-image photographs used nowhere else in stylize (the
# Hubble eXtreme Deep Field, NASA, public domain; a fundus photograph of a
# retina, CC0; the grey photograph of handwritten text on paper, `text`,
# public domain) x four arbitrary-style corpus styles no benchmark or test
# uses (88: wash + dots, 104: wash + strokes, 152: geometric + dots, 184:
# wash + hatching). Candidates are judged on it once, at the end.
HELD_OUT_3_CONTENTS = ("hubble_deep_field", "retina", "text")
HELD_OUT_3_STYLES = ("corpus-88", "corpus-104", "corpus-152", "corpus-184")
HELD_OUT_3 = tuple((c, s) for c in HELD_OUT_3_CONTENTS for s in HELD_OUT_3_STYLES)


def content_image(name: str, side: int) -> np.ndarray:
    """A scikit-image photograph, (h, w, 3) float32, long side `side`
    (the grey ones, camera, coins, clock, moon and text, as three equal
    channels)."""
    from skimage import data

    from warpaint.engine.neural.bench_images import fit_rgb

    image = getattr(data, name)()
    if isinstance(image, tuple):
        image = image[0]  # a stereo pair's left view
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return fit_rgb(image, side)


def style_image(name: str, side: int) -> np.ndarray:
    """A procedural style (`style_samples`), 'ihc-photo' (scikit-image's
    immunohistochemistry photograph) or 'corpus-<index>' (the arbitrary-style
    corpus), (h, w, 3) float32, long side `side`."""
    from skimage import data

    from warpaint.engine.neural.bench_images import fit_rgb
    from warpaint.engine.neural.style_samples import PRESET_STYLES, STYLES

    if name == "ihc-photo":
        return fit_rgb(data.immunohistochemistry(), side)
    if name.startswith("corpus-"):
        from warpaint.engine.features.arbitrary_style import corpus

        return fit_rgb(corpus.style_image(int(name.removeprefix("corpus-")), side), side)
    return fit_rgb((STYLES.get(name) or PRESET_STYLES[name])(side), side)
