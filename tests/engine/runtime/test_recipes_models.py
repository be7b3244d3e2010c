"""Recipes name a model from the user's model folder or the shipped ones by
file name and sha256, and find and check it where they are loaded."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from warpaint.engine.core.compositing import flatten
from warpaint.engine.io import open_document
from warpaint.engine.runtime.apply import commit_effect, effect_job
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.models import shipped_model_path, user_models_dir
from warpaint.engine.runtime.recipes import load_recipe, parse_recipe, run_recipe, save_recipe

SHIPPED = "fast-style.safetensors"
NAME = "my-style.safetensors"


def run(doc, layer, effect_id, params):
    result = effect_job(doc.state, layer.id, effect_id, params)(JobContext(Job(lambda c: None)))
    return commit_effect(doc, result)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path)
    return path


def machine(tmp_path, monkeypatch, label, with_model=True):
    """A fresh XDG_DATA_HOME, holding a copy of a shipped model as NAME."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / label))
    folder = user_models_dir()
    folder.mkdir(parents=True)
    if with_model:
        shutil.copyfile(shipped_model_path(SHIPPED), folder / NAME)
    return folder


@pytest.fixture
def saved(photo, tmp_path, monkeypatch):
    """A recipe made on a first machine with a fast-style model from its user
    folder, then a blur without a model; returns (recipe path, document)."""
    folder = machine(tmp_path, monkeypatch, "first")
    doc = open_document(photo)
    layer = run(doc, doc.layers[0], "fast-style", {"strength": 0.8, "model": str(folder / NAME)})
    run(doc, layer, "gaussian-blur", {"sigma": 1.0})
    (tmp_path / "recipes").mkdir()
    path = tmp_path / "recipes" / "look.json"
    save_recipe(path, doc.history)
    return path, doc


def test_a_user_model_is_saved_by_name_and_hash_without_its_path(saved, tmp_path):
    path, _doc = saved
    text = path.read_text()
    step = json.loads(text)["steps"][0]
    assert step["params"]["model"] == {
        "model": NAME,
        "sha256": sha256(shipped_model_path(SHIPPED)),
    }
    assert str(tmp_path) not in text and "first" not in text


def test_a_recipe_runs_on_another_machine_holding_the_same_model(
    saved, photo, tmp_path, monkeypatch
):
    path, doc = saved
    shutil.rmtree(tmp_path / "first")
    second = machine(tmp_path, monkeypatch, "second")
    recipe = load_recipe(path)
    assert recipe.steps[0].params["model"] == str(second / NAME)
    assert "model" not in recipe.steps[1].params

    again = run_recipe(open_document(photo), recipe, device="cpu")
    np.testing.assert_array_equal(flatten(again.state, np.float32), flatten(doc.state, np.float32))


def test_a_missing_model_is_one_line_naming_the_step_and_the_folder(saved, tmp_path, monkeypatch):
    path, _doc = saved
    folder = machine(tmp_path, monkeypatch, "second", with_model=False)
    with pytest.raises(BadInputError) as err:
        load_recipe(path)
    message = str(err.value)
    assert message == (
        f"{path}: step 1 (fast-style): model: {NAME!r} is not installed in {folder}; "
        "copy the model file there to run this step"
    )


def test_the_model_folder_is_shown_from_the_home_folder(saved, tmp_path, monkeypatch):
    path, _doc = saved
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(BadInputError, match="is not installed in ~/.local/share/warpaint/models;"):
        load_recipe(path)


def test_a_model_that_differs_from_the_recipes_is_refused(saved, tmp_path, monkeypatch):
    path, _doc = saved
    folder = machine(tmp_path, monkeypatch, "second")
    with open(folder / NAME, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BadInputError) as err:
        load_recipe(path)
    message = str(err.value)
    assert message.startswith(f"{path}: step 1 (fast-style): model: the installed {folder / NAME}")
    assert "differs from the file this recipe was made with" in message
    assert sha256(folder / NAME)[:12] in message and "\n" not in message


def test_a_shipped_model_is_saved_by_name_and_found_among_the_shipped(photo, tmp_path, monkeypatch):
    folder = machine(tmp_path, monkeypatch, "first", with_model=False)
    shipped = shipped_model_path(SHIPPED)
    # A same-named file in the user's folder that is another model: the
    # shipped one is the one with the recipe's hash.
    shutil.copyfile(shipped_model_path("gaze.safetensors"), folder / SHIPPED)
    doc = open_document(photo)
    run(doc, doc.layers[0], "fast-style", {"model": str(shipped)})
    save_recipe(tmp_path / "r.json", doc.history)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["steps"][0]["params"]["model"] == {"model": SHIPPED, "sha256": sha256(shipped)}
    (step,) = load_recipe(tmp_path / "r.json").steps
    assert step.params["model"] == str(shipped)


def test_a_model_elsewhere_is_stored_relative_to_the_recipe(photo, tmp_path, monkeypatch):
    machine(tmp_path, monkeypatch, "first", with_model=False)
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / NAME
    shutil.copyfile(shipped_model_path(SHIPPED), model)
    doc = open_document(photo)
    run(doc, doc.layers[0], "fast-style", {"model": str(model)})
    save_recipe(tmp_path / "r.json", doc.history)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["steps"][0]["params"]["model"] == f"models/{NAME}"
    (step,) = load_recipe(tmp_path / "r.json").steps
    assert step.params["model"] == str(tmp_path / "models" / NAME)


@pytest.mark.parametrize(
    "value",
    [
        {"model": "../my-style.safetensors", "sha256": "0" * 64},
        {"model": "sub/my-style.safetensors", "sha256": "0" * 64},
        {"model": NAME, "sha256": "0" * 63},
        {"model": NAME, "sha256": "0" * 64, "path": "/x"},
        {"model": NAME},
    ],
)
def test_a_malformed_model_reference_is_refused(tmp_path, monkeypatch, value):
    machine(tmp_path, monkeypatch, "first")
    data = {"warpaint_recipe": 1, "steps": [{"effect": "fast-style", "params": {"model": value}}]}
    with pytest.raises(BadInputError, match=r"^step 1 \(fast-style\): model: expected a file path"):
        parse_recipe(data)


def test_a_fifo_named_like_the_model_is_refused_without_blocking(saved, tmp_path, monkeypatch):
    path, _doc = saved
    folder = machine(tmp_path, monkeypatch, "second", with_model=False)
    os.mkfifo(folder / NAME)
    with pytest.raises(BadInputError, match="is a named pipe"):
        load_recipe(path)
