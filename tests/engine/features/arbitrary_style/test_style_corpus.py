"""The procedural style corpus: deterministic, varied, colourful, with a held-out subset."""

import numpy as np
import pytest

from warpaint.engine.features.arbitrary_style.corpus import (
    BASES,
    HELD_OUT_EVERY,
    describe,
    held_out_indices,
    is_held_out,
    style_image,
    training_indices,
)


def test_an_index_always_draws_the_same_image():
    a = style_image(37, 64)
    b = style_image(37, 64)
    assert a.dtype == np.float32 and a.shape == (64, 64, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, style_image(38, 64))


def test_images_are_in_range_and_not_flat():
    for index in range(24):
        image = style_image(index, 48)
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert image.std() > 0.03, f"style {index} ({describe(index)}) is nearly flat"


def test_training_never_sees_a_held_out_style():
    train = training_indices(500)
    held = held_out_indices(20)
    assert len(set(train)) == 500 and not set(train) & set(held)
    assert all(is_held_out(i) for i in held)
    assert not any(is_held_out(i) for i in train)
    assert held[:3] == [0, HELD_OUT_EVERY, 2 * HELD_OUT_EVERY]


def test_training_indices_continue_from_a_start():
    first = training_indices(10)
    assert training_indices(5, start=first[5]) == first[5:10]


def test_the_corpus_is_varied_in_kind_and_colour():
    descriptions = [describe(i) for i in range(64)]
    bases = {d.split(" + ")[0] for d in descriptions}
    assert bases == set(BASES)
    assert any("strokes" in d for d in descriptions)
    # Mean colours spread over the colour cube, and most images are colourful
    # (channel spread per pixel), not grey.
    images = [style_image(i, 32) for i in range(64)]
    means = np.array([im.reshape(-1, 3).mean(0) for im in images])
    assert means.std(0).min() > 0.08
    chroma = [float((im.max(2) - im.min(2)).mean()) for im in images]
    assert np.median(chroma) > 0.15


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        style_image(-1)
    with pytest.raises(ValueError):
        style_image(0, side=4)
