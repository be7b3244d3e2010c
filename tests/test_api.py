"""The Python API (`import warpaint`) and the examples of docs/recipes.md, run."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import warpaint
from warpaint.engine.core.compositing import flatten
from warpaint.engine.io import read_state
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.recipes import parse_recipe

DOC = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture
def photo(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "in.jpg")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "in.jpg"


def test_the_python_examples_of_the_docs_run_and_do_what_they_say(photo, tmp_path):
    code = blocks("python")
    assert len(code) == 3
    namespace: dict = {}
    for block in code:
        exec(compile(block, str(DOC), "exec"), namespace)
    doc, other, blank = namespace["doc"], namespace["other"], namespace["blank"]
    assert [layer.name for layer in doc.layers] == ["in", "in · Gaussian blur"]
    assert (tmp_path / "out.png").is_file() and (tmp_path / "soft-mosaic.json").is_file()
    assert [layer.name for layer in read_state(tmp_path / "out.ora").layers] == [
        "in",
        "in · Gaussian blur",
    ]
    np.testing.assert_array_equal(other.flatten(), doc.flatten())
    assert namespace["pixels"].shape == (48, 64, 4) and namespace["pixels"].dtype == np.uint8
    assert len(blank.layers) == 1 and blank.engine.history.can_redo


def test_the_recipe_shown_in_the_docs_is_a_valid_recipe():
    (example,) = blocks("json")
    import json

    recipe = parse_recipe(json.loads(example))
    assert [s.effect_id for s in recipe.steps] == ["gaussian-blur", "fast-style"]
    assert (recipe.steps[1].layer, recipe.steps[1].layer_name) == ("named", "Background")


def test_layers_expose_names_properties_and_pixels_at_their_precision():
    doc = warpaint.new(20, 10, background=(1.0, 0.0, 0.0, 1.0))
    (layer,) = doc.layers
    assert (layer.name, layer.size, layer.offset, layer.opacity) == (
        "Background",
        (20, 10),
        (0, 0),
        1.0,
    )
    pixels = layer.pixels()
    assert pixels.shape == (10, 20, 4) and pixels.dtype == np.uint8
    assert tuple(pixels[0, 0]) == (255, 0, 0, 255)
    pixels[0, 0] = 0  # a copy: the document is unchanged
    assert tuple(doc.layers[0].pixels()[0, 0]) == (255, 0, 0, 255)


def test_apply_runs_on_the_named_layer_and_records_the_rule(photo):
    doc = warpaint.open(photo)
    top = doc.apply("gaussian-blur", sigma=1.0)
    made = doc.apply("gaussian-blur", params={"sigma": 2.0}, on="in", target="replace")
    assert made.id == doc.layers[0].id and top.id == doc.layers[1].id
    rules = [(s.layer, s.layer_name) for _, s in doc.engine.history.effect_steps()]
    assert rules == [("top", None), ("named", "in")]


def test_an_image_parameter_takes_a_layer_of_the_document(photo):
    doc = warpaint.open(photo)
    style = doc.apply("gaussian-blur", sigma=4.0)
    made = doc.apply("arbitrary-style", style=style, strength=0.5, on="in")
    assert made.name == "in · Arbitrary style"
    assert doc.engine.history.effect_steps()[1][1].params["style"] == style.id


def test_errors_are_bad_input(photo):
    doc = warpaint.open(photo)
    with pytest.raises(BadInputError, match="sigma: 99.0 is outside 0..50"):
        doc.apply("gaussian-blur", sigma=99.0)
    with pytest.raises(BadInputError, match="no layer named 'Sky'"):
        doc.apply("gaussian-blur", on="Sky")
    with pytest.raises(BadInputError, match="save writes .ora"):
        doc.save("out.png")
    with pytest.raises(BadInputError, match="megapixels"):
        warpaint.new(100_000, 100_000)


def test_importing_warpaint_and_its_functions_load_neither_torch_nor_qt(photo):
    code = (
        "import sys, warpaint\n"
        "doc = warpaint.open('in.jpg')\n"
        "doc.export('copy.png')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PySide6'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=photo.parent
    )
    assert out.stdout.strip() == "[]"


def test_apply_recipe_takes_json_data(photo):
    doc = warpaint.open(photo)
    doc.apply_recipe({"warpaint_recipe": 1, "steps": [{"effect": "gaussian-blur", "opacity": 0.5}]})
    assert doc.layers[-1].opacity == 0.5
    reference = warpaint.open(photo)
    reference.apply("gaussian-blur")
    reference.engine.set_layer_props(reference.layers[-1].id, opacity=0.5)
    np.testing.assert_array_equal(
        flatten(doc.engine.state, np.uint8), flatten(reference.engine.state, np.uint8)
    )
