"""User presets: a tiny preset trains end to end from a style image into the
user's model folder, the fast-style effect and recipes find it by name and
hash, a cancelled job resumes from its saved step, and bad input is refused."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.features.fast_style import distill, preset_job, user_presets
from warpaint.engine.features.fast_style.effect import model_file, preset_thumbnail
from warpaint.engine.features.fast_style.preset_job import PresetBudget, train_preset
from warpaint.engine.io import open_document
from warpaint.engine.runtime.apply import commit_effect, effect_job
from warpaint.engine.runtime.errors import BadInputError, JobCancelled
from warpaint.engine.runtime.jobs import Job, JobContext
from warpaint.engine.runtime.models import load_model
from warpaint.engine.runtime.recipes import load_recipe, save_recipe

TINY = PresetBudget(
    size=32,
    crops=2,
    gatys_evaluations=4,
    gatys_batch=1,
    steps=6,
    batch=2,
    gatys_network="vgg19-random-slim",
    loss_network="vgg19-random-slim",
    half=8,
    quarter=16,
    blocks=2,
)


@pytest.fixture(autouse=True)
def user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "warpaint" / "models"


@pytest.fixture
def style(tmp_path):
    """Diagonal red and blue stripes."""
    ys, xs = np.mgrid[0:48, 0:64]
    on = ((xs + ys) // 6) % 2 == 0
    rgb = np.where(on[..., None], [220, 40, 30], [30, 60, 200]).astype(np.uint8)
    path = tmp_path / "stripes.png"
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture
def photo(tmp_path):
    ys, xs = np.mgrid[0:40, 0:56]
    rgb = np.stack([xs * 4, ys * 6, np.full_like(xs, 128)], axis=2).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Cancelling:
    """A job context cancelled once `stop` is set (as the GUI's Cancel does)."""

    def __init__(self) -> None:
        self.stop = False
        self.reports: list[tuple[float, object]] = []

    def check(self) -> None:
        if self.stop:
            raise JobCancelled("preset")

    def report(self, fraction, preview=None, data=None):
        self.check()
        self.reports.append((fraction, data))


def run_effect(doc, params):
    layer = doc.layers[0]
    ctx = JobContext(Job(lambda c: None))
    return commit_effect(doc, effect_job(doc.state, layer.id, "fast-style", params)(ctx))


def test_a_tiny_preset_trains_into_the_user_folder_and_the_effect_runs_it(style, photo):
    ctx = Cancelling()
    out = train_preset("stripes", style, TINY, ctx)

    assert out == user_presets.presets_dir() / "stripes.safetensors" and out.is_file()
    assert not user_presets.work_dir("stripes").exists(), "the work state is gone once done"
    [listed] = user_presets.user_presets()
    assert (listed.name, listed.path) == ("stripes", out)
    assert listed.record["style_sha256"] == sha256(style)
    assert listed.record["style_file"] == "stripes.png"
    assert listed.record["budget"] == TINY.to_json()
    assert listed.seconds is not None and listed.seconds > 0
    fractions = [f for f, _ in ctx.reports]
    assert fractions == sorted(fractions) and fractions[-1] > 0.8
    phases = [d.phase for _, d in ctx.reports]
    assert phases[0] == "targets" and phases[-1] == "training"
    assert all(d.eta_s >= 0 for _, d in ctx.reports)

    # The effect finds it by file and, on the command line, by name.
    assert model_file("stripes") == out
    doc = open_document(photo)
    before = doc.layers[0].pixels.read_float()
    layer = run_effect(doc, {"model": str(out)})
    after = layer.pixels.read_float()
    assert after.shape == before.shape and np.abs(after - before).mean() > 0.02
    by_name = run_effect(open_document(photo), {"model": "stripes"}).pixels.read_float()
    np.testing.assert_array_equal(by_name, after)
    thumb = preset_thumbnail("stripes", 32, model=str(out))
    assert thumb.shape == (32, 32, 3) and thumb.dtype == np.uint8 and thumb.std() > 1


def test_cancel_then_resume_continues_from_the_saved_step(style, monkeypatch):
    gatys_batches = []
    real = distill.stylize_batch
    monkeypatch.setattr(
        distill, "stylize_batch", lambda *a, **k: gatys_batches.append(1) or real(*a, **k)
    )
    ctx, steps = Cancelling(), []

    def on_step(step):
        steps.append(step)
        ctx.stop = step == 3  # the user presses Cancel during step 3

    with pytest.raises(JobCancelled):
        train_preset("stripes", style, TINY, ctx, on_step=on_step)
    state = user_presets.read_job_state(user_presets.work_dir("stripes"))
    assert state is not None and state["step"] == 3 and state["crops_done"] == TINY.crops
    [unfinished] = user_presets.unfinished_presets()
    assert (unfinished.name, unfinished.step, unfinished.steps) == ("stripes", 3, TINY.steps)
    assert not user_presets.preset_path("stripes").exists()
    assert len(gatys_batches) == TINY.crops

    resumed: list[int] = []
    out = train_preset("stripes", None, None, Cancelling(), on_step=resumed.append)
    assert resumed == [4, 5, 6], "steps continue from the saved one, not from 0"
    assert len(gatys_batches) == TINY.crops, "the cached targets are not computed again"
    assert user_presets.unfinished_presets() == []

    # The resumed preset is the one an uninterrupted job makes.
    whole = train_preset("whole", style, TINY, Cancelling())
    a, _ = load_model(out, "fast-style")
    b, _ = load_model(whole, "fast-style")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-5)


def test_a_cancel_during_the_targets_keeps_the_finished_batches(style, monkeypatch):
    ctx = Cancelling()
    real = distill.stylize_batch
    done = []

    def counted(*args, **kwargs):
        out = real(*args, **kwargs)
        done.append(1)
        ctx.stop = True  # cancelled right after the first batch of crops
        return out

    monkeypatch.setattr(distill, "stylize_batch", counted)
    with pytest.raises(JobCancelled):
        train_preset("stripes", style, TINY, ctx)
    state = user_presets.read_job_state(user_presets.work_dir("stripes"))
    assert state["crops_done"] == 1 and state["step"] == 0
    ctx.stop = False
    monkeypatch.setattr(distill, "stylize_batch", lambda *a, **k: done.append(1) or real(*a, **k))
    train_preset("stripes", style, TINY, Cancelling())
    assert len(done) == TINY.crops, "only the missing crop's target is computed on resume"


def test_a_resume_with_another_image_or_budget_is_refused_until_restart(style, tmp_path):
    ctx = Cancelling()
    ctx.stop = True
    with pytest.raises(JobCancelled):
        train_preset("stripes", style, TINY, ctx)
    other = tmp_path / "other.png"
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(other)
    with pytest.raises(BadInputError, match="started from another image"):
        train_preset("stripes", other, TINY)
    with pytest.raises(BadInputError, match="started with other settings"):
        train_preset("stripes", style, PresetBudget(**(TINY.to_json() | {"steps": 9})))
    out = train_preset("stripes", other, TINY, restart=True)
    assert user_presets.find_user_preset("stripes").record["style_sha256"] == sha256(other)
    with pytest.raises(BadInputError, match="a preset named 'stripes' exists"):
        train_preset("stripes", other, TINY)
    assert out.is_file()


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "", " lead", "x" * 49, "swirls", "a\nb"])
def test_names_that_cannot_name_a_preset_are_refused(name):
    with pytest.raises(BadInputError, match="preset name"):
        user_presets.check_name(name)


def test_bad_style_files_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, style):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    monkeypatch.setattr(preset_job, "MAX_STYLE_PIXELS", 100)  # stripes.png has 3072
    cases = [
        [str(text), "--name", "a"],
        [str(fifo), "--name", "a"],
        [str(style), "--name", "a"],
        [str(tmp_path / "missing.png"), "--name", "a"],
        [str(style), "--name", "a/b"],
    ]
    for args in cases:
        assert main(["train", "preset", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("warpaint: error: ") and err.count("\n") == 1, err
    assert user_presets.unfinished_presets() == [] and user_presets.user_presets() == []


def test_the_command_trains_lists_resumes_after_ctrl_c_and_removes(style, capsys, monkeypatch):
    args = ["train", "preset", str(style), "--name", "s", "--size", "32", "--crops", "1"]
    args += ["--gatys-evaluations", "2", "--steps", "4", "--network", "vgg19-random-slim"]
    args += ["--device", "cpu"]
    real, calls = distill.distill_step, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(distill, "distill_step", interrupted)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "run the same command to continue" in err
    assert user_presets.read_job_state(user_presets.work_dir("s"))["step"] == 2

    assert main(["train", "preset", "--list"]) == 0
    assert "unfinished: step 2 of 4" in capsys.readouterr().out

    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "resuming the unfinished job" in err
    assert len(calls) == 3 + 2, "steps 3 and 4 only"
    assert out.strip() == str(user_presets.preset_path("s"))

    assert main(["train", "preset", "--list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("s\tfrom stripes.png") and "unfinished" not in listed
    assert main(["train", "preset", "--remove", "s"]) == 0
    assert user_presets.user_presets() == [] and not user_presets.preset_path("s").exists()
    assert main(["train", "preset", "--remove", "s"]) == 2


def test_a_recipe_names_a_user_preset_by_file_name_and_hash(style, photo, tmp_path, user_folder):
    out = train_preset("stripes", style, TINY)
    doc = open_document(photo)
    run_effect(doc, {"model": str(out)})
    recipe = tmp_path / "look.json"
    save_recipe(recipe, doc.history)
    step = json.loads(recipe.read_text())["steps"][0]
    assert step["params"]["model"] == {"model": "stripes.safetensors", "sha256": sha256(out)}
    assert load_recipe(recipe).steps[0].params["model"] == str(out)

    with open(out, "ab") as fh:
        fh.write(b"\0")  # retrained, or edited: no longer the recipe's preset
    with pytest.raises(BadInputError, match="differs from the file this recipe was made with"):
        load_recipe(recipe)
    out.unlink()
    with pytest.raises(BadInputError, match="'stripes.safetensors' is not installed"):
        load_recipe(recipe)


def test_quitting_with_a_job_running_keeps_its_step_for_the_next_start(style):
    """The editor shuts its runner down on quit: the job's state is on disk."""
    from warpaint.engine.runtime.jobs import JobRunner

    runner = JobRunner("cpu")
    steps: list[int] = []
    budget = PresetBudget(**(TINY.to_json() | {"steps": 10_000}))
    job = runner.submit(
        lambda ctx: train_preset("stripes", style, budget, ctx, on_step=steps.append)
    )
    while len(steps) < 2:
        assert not job.wait(0.01), job.error_message
    runner.shutdown(wait=30.0)
    assert job.wait(0)
    state = user_presets.read_job_state(user_presets.work_dir("stripes"))
    assert state is not None and state["step"] == steps[-1] >= 2
    assert (user_presets.work_dir("stripes") / "checkpoint.safetensors").is_file()
