"""Effect steps in the history, recipes made from them, checked when loaded and
replayed on another picture."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import Document, Layer
from warpaint.engine.io import open_document
from warpaint.engine.runtime.apply import EffectResult, commit_effect, effect_job
from warpaint.engine.runtime.errors import BadInputError, JobCancelled
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.recipes import (
    MAX_RECIPE_BYTES,
    load_recipe,
    parse_recipe,
    recipe_from_history,
    run_recipe,
    save_recipe,
)


def run(doc, layer, effect_id, params, **commit):
    result = effect_job(doc.state, layer.id, effect_id, params)(JobContext(Job(lambda c: None)))
    return commit_effect(doc, result, **commit)


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path)
    return path


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def blur_step(**extra):
    return {"effect": "gaussian-blur", "params": {"sigma": 1.5}, **extra}


# -- the history records effect steps ------------------------------------------


def test_commit_effect_records_the_effect_its_parameters_and_placement(photo):
    doc = open_document(photo)
    source = doc.layers[0]
    layer = run(doc, source, "gaussian-blur", {"sigma": 2.0})
    ((index, step),) = doc.history.effect_steps()
    assert index == 1
    assert step.effect_id == "gaussian-blur" and step.params["sigma"] == 2.0
    assert (step.target, step.layer, step.restricted) == ("new_layer", "current", False)
    assert (step.source_layer, step.result_layer) == (source.id, layer.id)


def test_a_selection_is_recorded_as_a_restriction_and_a_mask_is_not_kept(photo):
    doc = open_document(photo)
    mask = np.ones((40, 56), np.float32)
    run(doc, doc.layers[0], "gaussian-blur", {"sigma": 1.0}, target="replace", mask=mask)
    ((_, step),) = doc.history.effect_steps()
    assert step.restricted and step.target == "replace"
    data = recipe_from_history(doc.history)
    assert data["steps"][0]["restricted"] is True


def test_other_edits_record_no_effect_and_undo_redo_keep_the_records(photo):
    doc = open_document(photo)
    run(doc, doc.layers[0], "gaussian-blur", {"sigma": 1.0})
    doc.rename_layer(doc.layers[0].id, "Base")
    assert [i for i, _ in doc.history.effect_steps()] == [1]
    doc.undo()
    doc.undo()
    assert doc.history.effect_steps() == []
    doc.redo()
    assert [s.effect_id for _, s in doc.history.effect_steps()] == ["gaussian-blur"]


def test_a_recording_that_pushes_nothing_leaves_no_record_for_the_next_step(photo):
    doc = open_document(photo)
    from warpaint.engine.core.history import EffectStep

    with doc.history.recording(EffectStep("gaussian-blur", {"sigma": 1.0})):
        doc.commit("nothing", doc.state)  # the same state: no step
    doc.rename_layer(doc.layers[0].id, "Base")
    assert doc.history.effect_steps() == []


def test_commit_effect_sets_a_given_blend_mode_and_opacity_in_the_same_step(photo):
    doc = open_document(photo)
    layer = run(
        doc, doc.layers[0], "gaussian-blur", {"sigma": 1.0}, blend_mode="screen", opacity=0.5
    )
    assert (layer.blend_mode, layer.opacity) == ("screen", 0.5)
    assert doc.history.labels == ["Open", "Gaussian blur"]


# -- history -> recipe -> the same pixels ---------------------------------------


def test_a_saved_recipe_gives_the_same_pixels_on_a_fresh_open_of_the_input(photo, tmp_path):
    doc = open_document(photo)
    blurred = run(doc, doc.layers[0], "gaussian-blur", {"sigma": 2.0})
    run(doc, blurred, "fast-style", {"strength": 0.6, "preset": "mosaic"}, target="replace")
    written = save_recipe(tmp_path / "look.json", doc.history)
    assert written == [tmp_path / "look.json"]

    again = open_document(photo)
    run_recipe(again, load_recipe(tmp_path / "look.json"), device="cpu")
    np.testing.assert_array_equal(flatten(again.state, np.float32), flatten(doc.state, np.float32))
    assert [lay.name for lay in again.layers] == [lay.name for lay in doc.layers]
    # Replaying records the same steps, so the result saves as the same recipe.
    assert recipe_from_history(again.history) == recipe_from_history(doc.history)


def test_a_recipe_keeps_the_blend_mode_and_opacity_set_after_the_step(photo, tmp_path):
    doc = open_document(photo)
    layer = run(doc, doc.layers[0], "gaussian-blur", {"sigma": 2.0})
    doc.set_layer_props(layer.id, blend_mode="multiply", opacity=0.25)
    data = recipe_from_history(doc.history)
    assert (data["steps"][0]["blend_mode"], data["steps"][0]["opacity"]) == ("multiply", 0.25)
    again = run_recipe(open_document(photo), data, device="cpu")
    np.testing.assert_array_equal(flatten(again.state, np.float32), flatten(doc.state, np.float32))


def test_only_steps_up_to_the_current_one_are_saved(photo):
    doc = open_document(photo)
    run(doc, doc.layers[0], "gaussian-blur", {"sigma": 1.0})
    run(doc, doc.layers[-1], "gaussian-blur", {"sigma": 4.0})
    doc.undo()
    steps = recipe_from_history(doc.history)["steps"]
    assert [s["params"]["sigma"] for s in steps] == [1.0]


def test_a_layer_used_as_an_image_is_written_beside_the_recipe(photo, tmp_path):
    doc = open_document(photo)
    rng = np.random.default_rng(8)
    style = doc.add_layer(
        Layer.from_array("Style", rng.integers(0, 256, (24, 24, 4), dtype=np.uint8)), index=0
    )
    run(doc, doc.layers[-1], "arbitrary-style", {"style": style.id, "strength": 0.7})
    written = save_recipe(tmp_path / "r.json", doc.history)
    assert [p.name for p in written] == ["r.step1.style.png", "r.json"]
    np.testing.assert_array_equal(np.asarray(Image.open(written[0])), style.pixels.to_array())
    data = json.loads(written[1].read_text())
    assert data["steps"][0]["params"]["style"] == "r.step1.style.png"

    # Another "Style" layer in the new document: the recipe's own picture is used.
    again = open_document(photo)
    again.add_layer(Layer.from_array("Style", np.zeros((24, 24, 4), np.uint8)), index=0)
    run_recipe(again, load_recipe(tmp_path / "r.json"), device="cpu")
    np.testing.assert_array_equal(flatten(again.state, np.float32), flatten(doc.state, np.float32))


def test_an_array_given_as_an_image_is_written_in_16_bits(photo, tmp_path):
    doc = open_document(photo)
    style = np.random.default_rng(4).random((12, 10, 4), dtype=np.float32)
    result = EffectResult(
        "arbitrary-style", doc.layers[0].id, {"style": style}, np.zeros((40, 56, 4), np.float32)
    )
    commit_effect(doc, result)
    written = save_recipe(tmp_path / "r.json", doc.history)
    assert written[0].name == "r.step1.style.png"
    from warpaint.engine.io import read_image_array

    np.testing.assert_allclose(read_image_array(written[0]), style, atol=0.5 / 65535)


def test_file_paths_are_stored_relative_to_the_recipe(photo, tmp_path):
    doc = open_document(photo)
    (tmp_path / "styles").mkdir()
    style = tmp_path / "styles" / "s.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(style)
    result = EffectResult(
        "arbitrary-style",
        doc.layers[0].id,
        {"style": str(style)},
        np.zeros((40, 56, 4), np.float32),
    )
    commit_effect(doc, result)
    (tmp_path / "recipes").mkdir()
    save_recipe(tmp_path / "recipes" / "r.json", doc.history)
    data = json.loads((tmp_path / "recipes" / "r.json").read_text())
    assert data["steps"][0]["params"]["style"] == "../styles/s.png"
    (step,) = load_recipe(tmp_path / "recipes" / "r.json").steps
    assert os.path.samefile(step.params["style"], style)


def test_parameters_that_belong_to_one_picture_are_not_saved_and_dropped_on_load(photo):
    doc = open_document(photo)
    eyes = ((10.0, 12.0), (20.0, 12.0), (30.0, 12.0), (40.0, 12.0))
    params = {"horizontal": 5.0, "eyes": eyes}
    commit_effect(doc, EffectResult("gaze", doc.layers[0].id, params, np.zeros((40, 56, 4))))
    saved = recipe_from_history(doc.history)["steps"][0]["params"]
    assert "eyes" not in saved and saved["horizontal"] == 5.0
    raw = {"horizontal": 5.0, "eyes": [list(point) for point in eyes]}
    loaded = parse_recipe({"warpaint_recipe": 1, "steps": [{"effect": "gaze", "params": raw}]})
    assert dict(loaded.steps[0].params) == {"horizontal": 5.0}


def test_a_mask_from_the_document_is_not_saved(photo):
    doc = open_document(photo)
    layer = doc.layers[0]
    params = {"strength": 0.5, "mask": layer.id}
    commit_effect(doc, EffectResult("fast-style", layer.id, params, np.zeros((40, 56, 4))))
    assert recipe_from_history(doc.history)["steps"][0]["params"] == {"strength": 0.5}


def test_a_mask_named_by_a_file_is_kept_relative_to_the_recipe(photo, tmp_path):
    mask = tmp_path / "masks" / "half.png"
    mask.parent.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(mask)
    doc = open_document(photo)
    params = {"strength": 0.5, "mask": str(mask)}
    commit_effect(doc, EffectResult("fast-style", doc.layers[0].id, params, np.zeros((40, 56, 4))))
    save_recipe(tmp_path / "r.json", doc.history)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["steps"][0]["params"]["mask"] == "masks/half.png"
    (step,) = load_recipe(tmp_path / "r.json").steps
    assert os.path.samefile(step.params["mask"], mask)


def test_a_splining_recipe_names_its_other_image_and_mask_beside_it(photo, tmp_path):
    rng = np.random.default_rng(9)
    other = tmp_path / "other.png"
    Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(other)
    mask = np.zeros((20, 28), np.uint8)
    mask[:, :14] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    step = {"effect": "splining", "params": {"other": "other.png", "mask": "mask.png"}}
    path = write(tmp_path / "r.json", {"warpaint_recipe": 1, "steps": [step]})

    doc = run_recipe(open_document(photo), load_recipe(path), device="cpu")
    expected = open_document(photo)
    given = {"other": str(other), "mask": str(tmp_path / "mask.png")}
    run(expected, expected.layers[0], "splining", given)
    np.testing.assert_array_equal(flatten(doc.state, np.uint8), flatten(expected.state, np.uint8))
    # The layer shows where the mask is white, the other image where it is black.
    result = doc.layers[-1].pixels.to_array()
    source = expected.layers[0].pixels.to_array()
    assert np.abs(result[:, :4].astype(int) - source[:, :4]).max() <= 40
    assert np.abs(result[:, -4:].astype(int) - source[:, -4:]).mean() > 40


def test_a_history_that_dropped_effect_steps_refuses_to_make_a_recipe():
    pixels = np.random.default_rng(1).integers(0, 256, (300, 300, 4), dtype=np.uint8)
    doc = Document.from_array(pixels, history_limit_bytes=1)
    for sigma in (1.0, 2.0, 3.0):
        run(doc, doc.layers[0], "gaussian-blur", {"sigma": sigma}, target="replace")
    assert doc.history.dropped_effects >= 1
    with pytest.raises(BadInputError, match="dropped from the history"):
        recipe_from_history(doc.history)


# -- running ------------------------------------------------------------------


def test_named_and_top_layer_rules_pick_their_layers(photo):
    doc = open_document(photo)
    doc.add_layer(Layer.from_array("Sky", np.full((40, 56, 4), 200, np.uint8)))
    doc.add_layer(Layer.from_array("Top", np.full((40, 56, 4), 10, np.uint8)))
    data = {
        "warpaint_recipe": 1,
        "steps": [
            blur_step(layer={"name": "Sky"}, target="replace"),
            blur_step(layer="top", target="replace"),
        ],
    }
    run_recipe(doc, data, device="cpu")
    assert [lay.name for lay in doc.layers] == ["photo", "Sky", "Top"]
    assert [s.layer for _, s in doc.history.effect_steps()] == ["named", "top"]


def test_current_is_the_layer_the_previous_step_made(photo):
    doc = open_document(photo)
    data = {"warpaint_recipe": 1, "steps": [blur_step(), blur_step()]}
    run_recipe(doc, data, device="cpu")
    assert [lay.name for lay in doc.layers] == [
        "photo",
        "photo · Gaussian blur",
        "photo · Gaussian blur · Gaussian blur",
    ]


def test_a_restricted_step_runs_on_the_whole_layer_with_a_note(photo):
    doc = open_document(photo)
    notes = []
    run_recipe(
        doc, {"warpaint_recipe": 1, "steps": [blur_step(restricted=True)]}, "cpu", notes.append
    )
    assert notes == [
        "step 1 (gaussian-blur) was restricted to a selection; it runs on the whole layer"
    ]
    assert not doc.history.effect_steps()[0][1].restricted


def test_a_missing_named_layer_names_the_step(photo):
    data = {"warpaint_recipe": 1, "steps": [blur_step(), blur_step(layer={"name": "Sky"})]}
    with pytest.raises(BadInputError, match=r"^step 2 \(gaussian-blur\): no layer named 'Sky'$"):
        run_recipe(open_document(photo), data, device="cpu")


def test_a_recipe_cancelled_after_its_first_step_runs_no_second_step(photo):
    doc = open_document(photo)
    data = {"warpaint_recipe": 1, "steps": [blur_step(), blur_step(), blur_step()]}
    checked_with_steps = []

    def check():
        # The cancel flag goes up once the first step is in the document.
        done = len(doc.history.effect_steps())
        checked_with_steps.append(done)
        if done >= 1:
            raise JobCancelled("recipe")

    with pytest.raises(JobCancelled):
        run_recipe(doc, data, device="cpu", check=check)
    assert len(doc.history.effect_steps()) == 1
    assert [lay.name for lay in doc.layers] == ["photo", "photo · Gaussian blur"]
    assert checked_with_steps[-1] == 1


def test_a_recipes_cancellation_reaches_inside_each_effect(photo):
    doc = open_document(photo)
    calls = []

    def check():
        # The first call is the one before step 1; the next comes from inside its effect.
        calls.append(len(doc.history.effect_steps()))
        if len(calls) == 2:
            raise JobCancelled("recipe")

    with pytest.raises(JobCancelled):
        run_recipe(doc, {"warpaint_recipe": 1, "steps": [blur_step()]}, "cpu", check=check)
    assert calls == [0, 0]
    assert doc.history.effect_steps() == [] and len(doc.layers) == 1


# -- checking -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"effect": "fast-style", "params": {"strength": 3}},
            "step 2 (fast-style): strength: 3 is outside 0..1",
        ),
        ({"effect": "no-such"}, "step 2 (no-such): unknown effect 'no-such'"),
        (
            {"effect": "gaussian-blur", "params": {"radius": 2}},
            "step 2 (gaussian-blur): gaussian-blur has no parameter 'radius'",
        ),
        (
            {"effect": "fast-style", "params": {"seed": 2.5}},
            "step 2 (fast-style): seed: 2.5 is not a whole number",
        ),
        (
            {"effect": "fast-style", "params": {"preset": "nope"}},
            "step 2 (fast-style): preset: 'nope' is not one of",
        ),
        (
            {"effect": "gaussian-blur", "params": {"sigma": "3"}},
            "step 2 (gaussian-blur): sigma: expected a number",
        ),
        (
            {"effect": "gaussian-blur", "target": "elsewhere"},
            "step 2 (gaussian-blur): target: 'elsewhere' is not one of",
        ),
        (
            {"effect": "gaussian-blur", "blend_mode": "glow"},
            "step 2 (gaussian-blur): blend_mode: 'glow' is not a blend mode",
        ),
        (
            {"effect": "gaussian-blur", "opacity": 1.5},
            "step 2 (gaussian-blur): opacity: 1.5 is outside 0..1",
        ),
        (
            {"effect": "gaussian-blur", "layer": "bottom"},
            "step 2 (gaussian-blur): layer: 'bottom' is not",
        ),
        (
            {"effect": "gaussian-blur", "colour": "red"},
            "step 2 (gaussian-blur): unknown field 'colour'",
        ),
        (
            {"effect": "arbitrary-style", "params": {"style": "gone.png"}},
            "step 2 (arbitrary-style): style: gone.png: no such file",
        ),
    ],
)
def test_schema_errors_are_one_line_naming_the_step(tmp_path, step, message):
    path = write(tmp_path / "r.json", {"warpaint_recipe": 1, "steps": [blur_step(), step]})
    with pytest.raises(BadInputError) as info:
        load_recipe(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}")
    assert "\n" not in text


def test_a_fifo_named_as_an_image_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "style.png")
    step = {"effect": "arbitrary-style", "params": {"style": "style.png"}}
    path = write(tmp_path / "r.json", {"warpaint_recipe": 1, "steps": [step]})
    with pytest.raises(
        BadInputError, match=r"step 1 \(arbitrary-style\): style: style.png: is a named pipe"
    ):
        load_recipe(path)


def test_a_fifo_given_as_the_recipe_is_refused(tmp_path):
    os.mkfifo(tmp_path / "r.json")
    with pytest.raises(BadInputError, match="named pipe"):
        load_recipe(tmp_path / "r.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a recipe (invalid JSON"),
        ("[1, 2]", "not a Warpaint recipe"),
        ('{"warpaint_recipe": 2, "steps": []}', "recipe version 2 is not one this Warpaint reads"),
        ('{"warpaint_recipe": 1, "steps": {}}', "a recipe's 'steps' must be a list"),
        ('{"warpaint_recipe": 1, "steps": [3]}', "step 1: expected an object"),
    ],
)
def test_files_that_are_not_recipes_are_refused(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(BadInputError) as info:
        load_recipe(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_an_oversized_recipe_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(" " * (MAX_RECIPE_BYTES + 1))
    with pytest.raises(BadInputError, match="too big for a recipe"):
        load_recipe(path)


def test_a_missing_recipe_is_one_line(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        load_recipe(tmp_path / "absent.json")
