"""Model files: safetensors with Warpaint metadata, loaded without running code."""

from __future__ import annotations

import pytest
import torch

from warpaint.engine.checkpoints import load_model, save_model
from warpaint.engine.errors import BadInputError


def test_model_round_trip_keeps_tensors_and_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, {"w": torch.arange(6.0).view(2, 3)}, {"kind": "demo", "names": ["a", "b"]})
    tensors, meta = load_model(path, "demo")
    assert torch.equal(tensors["w"], torch.arange(6.0).view(2, 3))
    assert meta == {"kind": "demo", "names": ["a", "b"]}


def test_model_of_another_kind_is_refused_by_name(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, {"w": torch.zeros(1)}, {"kind": "gaze"})
    with pytest.raises(BadInputError, match="'gaze' model, not a 'fast-style'"):
        load_model(path, "fast-style")


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    corrupt = tmp_path / "c.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(BadInputError, match="not a readable safetensors"):
        load_model(corrupt, "demo")
    from safetensors.torch import save_file

    foreign = tmp_path / "f.safetensors"
    save_file({"w": torch.zeros(1)}, str(foreign))
    with pytest.raises(BadInputError, match="not a Warpaint model"):
        load_model(foreign, "demo")


def test_saving_needs_a_kind(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        save_model(tmp_path / "m.safetensors", {"w": torch.zeros(1)}, {})
