"""`warpaint train gaze`: data, a short run lowering the loss, checkpoints and resume."""

import argparse
import json

import numpy as np
import pytest
import torch

from warpaint.engine.features.eyes import train_gaze
from warpaint.engine.features.eyes.deepwarp import DeepWarp, model_from_file
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import load_model


def args_for(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    train_gaze.add_arguments(parser)
    return parser.parse_args(
        ["-o", str(tmp_path / "g.safetensors"), "--batch", "8", "--pool", "48", "--width", "8",
         "--eval-count", "6", "--threads", "1", "--device", "cpu", "--quiet", *extra]
    )  # fmt: skip  # argv: flags beside their values


def test_batches_are_deterministic_per_seed_and_step():
    pool = train_gaze.PairPool(0, 8)
    a = train_gaze.training_batch(0, 3, 4, pool)
    b = train_gaze.training_batch(0, 3, 4, pool)
    c = train_gaze.training_batch(0, 4, 4, pool)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["source"], c["source"])
    assert a["source"].shape == (4, 3, 48, 64) and a["angle"].shape == (4, 2)


def test_held_out_pairs_have_the_asked_redirection_and_are_fixed():
    pairs = train_gaze.eval_pairs(15.0, 3)
    for p in pairs:
        assert np.hypot(*p["angle"]) == pytest.approx(15.0, abs=1e-6)
    again = train_gaze.eval_pairs(15.0, 3)
    assert all(np.array_equal(p["source"], q["source"]) for p, q in zip(pairs, again, strict=True))


@pytest.mark.slow
def test_a_short_training_run_lowers_the_held_out_error(tmp_path):
    args = args_for(tmp_path, "--steps", "60", "--lr", "3e-3")
    record = train_gaze.train(args, log=lambda s: None)
    torch.manual_seed(args.seed)
    untrained = DeepWarp(width=8).eval()
    trained = model_from_file(args.output)
    batch = train_gaze.stack_pairs(train_gaze.eval_pairs(10.0, 6))
    before = train_gaze.learned_mse(untrained, batch)
    after = train_gaze.learned_mse(trained, batch)
    # Deterministic (seeded data, one thread): 60 steps give about 5 % lower error.
    assert after < 0.97 * before
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved["steps"] == 60 and saved["seed"] == 0
    assert (
        saved["held_out"]["mse"]["10"]["learned_mse"]
        == record["held_out"]["mse"]["10"]["learned_mse"]
    )
    _, meta = load_model(args.output, "gaze")
    assert meta["width"] == 8


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(tmp_path):
    logs: list[str] = []
    train_gaze.train(args_for(tmp_path, "--steps", "4", "--checkpoint-every", "2"), logs.append)
    ckpt = train_gaze.checkpoint_path(tmp_path / "g.safetensors")
    _, meta = load_model(ckpt, "gaze-checkpoint")
    assert meta["step"] == 4
    args = args_for(tmp_path, "--steps", "6", "--resume")
    args.quiet = False
    train_gaze.train(args, logs.append)
    assert "resumed at step 4" in logs
    _, meta = load_model(ckpt, "gaze-checkpoint")
    assert meta["step"] == 6
    with pytest.raises(BadInputError, match="another --width or --seed"):
        train_gaze.train(args_for(tmp_path, "--steps", "8", "--resume", "--seed", "5"))


@pytest.mark.slow
def test_a_pool_rendered_by_several_processes_equals_a_serial_one():
    serial = train_gaze.PairPool(1, 4)
    parallel = train_gaze.PairPool(1, 4, workers=2)
    a = train_gaze.training_batch(1, 0, 4, serial)
    b = train_gaze.training_batch(1, 0, 4, parallel)
    assert all(np.array_equal(a[k], b[k]) for k in a)
