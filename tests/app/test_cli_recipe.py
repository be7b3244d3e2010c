"""`warpaint apply --recipe`: a recipe's steps on a file, its errors and exit codes."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.core.compositing import flatten
from warpaint.engine.io import open_document, read_state
from warpaint.engine.runtime.recipes import run_recipe

BLUR_TWICE = {
    "warpaint_recipe": 1,
    "steps": [
        {"effect": "gaussian-blur", "params": {"sigma": 2.0}},
        {"effect": "gaussian-blur", "params": {"sigma": 1.0}, "target": "replace", "opacity": 0.5},
    ],
}


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "in.png"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "look.json"
    path.write_text(json.dumps(BLUR_TWICE))
    return path


def run(args, capsys):
    code = main([str(a) for a in args])
    _out, err = capsys.readouterr()
    return code, err


def assert_one_line_error(code, err, fragment):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0]


def test_apply_recipe_writes_the_recipes_result(photo, recipe, tmp_path, capsys):
    out = tmp_path / "out.ora"
    code, err = run(["apply", "--recipe", recipe, photo, "-o", out], capsys)
    assert code == 0, err
    expected = run_recipe(open_document(photo), json.loads(recipe.read_text()), device="cpu")
    state = read_state(out)
    assert [lay.name for lay in state.layers] == ["in", "in · Gaussian blur"]
    assert state.layers[1].opacity == 0.5
    np.testing.assert_array_equal(flatten(state, np.uint8), flatten(expected.state, np.uint8))


def test_apply_recipe_exports_flat_images(photo, recipe, tmp_path, capsys):
    out = tmp_path / "out.png"
    code, err = run(["apply", "--recipe", recipe, photo, "-o", out], capsys)
    assert code == 0, err
    expected = run_recipe(open_document(photo), json.loads(recipe.read_text()), device="cpu")
    written = np.asarray(Image.open(out).convert("RGBA"))
    np.testing.assert_array_equal(written, flatten(expected.state, np.uint8))


def test_a_bad_step_is_one_line_exit_2_and_nothing_written(photo, tmp_path, capsys):
    bad = {"warpaint_recipe": 1, "steps": [{"effect": "fast-style", "params": {"strength": 3}}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    out = tmp_path / "out.png"
    code, err = run(["apply", "--recipe", path, photo, "-o", out], capsys)
    assert_one_line_error(code, err, "step 1 (fast-style): strength: 3 is outside 0..1")
    assert not out.exists()


def test_a_step_that_fails_while_running_writes_nothing(photo, tmp_path, capsys):
    data = {"warpaint_recipe": 1, "steps": [{"effect": "gaussian-blur", "layer": {"name": "Sky"}}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out.png"
    code, err = run(["apply", "--recipe", path, photo, "-o", out], capsys)
    assert_one_line_error(code, err, "step 1 (gaussian-blur): no layer named 'Sky'")
    assert not out.exists()


def test_a_fifo_as_the_recipe_is_refused(photo, tmp_path, capsys):
    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    code, err = run(["apply", "--recipe", fifo, photo, "-o", tmp_path / "o.png"], capsys)
    assert_one_line_error(code, err, "named pipe")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["gaussian-blur", "{photo}"], "give an effect or --recipe, not both"),
        ([], "apply --recipe needs an INPUT file"),
        (["{photo}", "--set", "sigma=2"], "--set, --layer and --target go with an effect"),
        (["{photo}", "--layer", "in"], "--set, --layer and --target go with an effect"),
    ],
)
def test_recipe_usage_errors_exit_2(photo, recipe, tmp_path, capsys, args, fragment):
    args = [str(photo) if a == "{photo}" else a for a in args]
    out = tmp_path / "out.png"
    code, err = run(["apply", "--recipe", recipe, *args, "-o", out], capsys)
    assert_one_line_error(code, err, fragment)
    assert not out.exists()


def test_an_effect_without_an_input_is_a_usage_error(tmp_path, capsys):
    code, err = run(["apply", "gaussian-blur", "-o", tmp_path / "o.png"], capsys)
    assert_one_line_error(code, err, "apply needs an EFFECT and an INPUT")
