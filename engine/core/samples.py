"""The bundled sample document, built from scikit-image's offline sample photos.

Three layers show what the editor does with a real picture: the astronaut
portrait at the bottom, the coffee photo in an elliptical, feathered mask at
80 % opacity, and a colour wash in 'screen' mode.
"""

from __future__ import annotations

import numpy as np

from warpaint.engine.core.document import DocMeta, DocState, Document, Layer
from warpaint.engine.core.selection import Selection
from warpaint.engine.core.tiles import TiledImage, from_float


def _rgba(rgb: np.ndarray) -> np.ndarray:
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([rgb.astype(np.uint8), alpha], axis=2)


def sample_document() -> Document:
    """A 512 x 512, three-layer document (no file on disk; clean, untitled)."""
    from skimage import data

    portrait = _rgba(data.astronaut())
    coffee = _rgba(data.coffee())[:400, 100:500]
    h, w = portrait.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    wash = np.stack(
        [0.9 * xs / w, 0.3 + 0.3 * ys / h, 0.9 - 0.7 * xs / w, np.full_like(xs, 0.4)], axis=2
    )
    mask = Selection("ellipse", 40, 40, 320, 320, feather=40).mask(400, 400)[..., None]
    layers = (
        Layer.from_array("Astronaut", portrait),
        Layer(
            "Coffee (masked)",
            TiledImage.from_array(coffee),
            opacity=0.8,
            mask=TiledImage.from_array(from_float(mask, np.uint8)),
            x=232,
            y=232,
        ),
        Layer(
            "Colour wash", TiledImage.from_array(from_float(wash, np.uint8)), blend_mode="screen"
        ),
    )
    return Document(DocState(w, h, layers, DocMeta(source_format="sample")), label="Sample")
