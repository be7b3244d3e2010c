"""A result put on a new layer shows as its source layer does."""

from __future__ import annotations

import numpy as np

from warpaint.engine.core.document import Document
from warpaint.engine.runtime.apply import EffectResult, place_result


def test_a_new_layer_takes_its_sources_blend_mode_opacity_and_visibility() -> None:
    doc = Document.from_array(np.full((8, 8, 4), 200, np.uint8))
    source = doc.layers[0].with_(blend_mode="difference", opacity=0.4, visible=False)
    state = doc.state.replace_layer(source)
    result = EffectResult("gaussian-blur", source.id, {}, np.zeros((8, 8, 4), np.float32))
    placed, layer, _ = place_result(state, result, "new_layer")
    assert placed.layers[1] is layer and layer.id != source.id
    assert (layer.blend_mode, layer.opacity, layer.visible) == ("difference", 0.4, False)
