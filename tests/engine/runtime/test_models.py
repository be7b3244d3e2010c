"""Model files: safetensors with Warpaint metadata, loaded without running code."""

from __future__ import annotations

import json
from pathlib import Path

import io_corpus as corpus
import pytest
import torch

from warpaint.engine.features.eyes.attributes import read_model_header
from warpaint.engine.runtime.errors import BadInputError
from warpaint.engine.runtime.models import load_model, load_state_dict, save_model


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


# -- hostile model files ----------------------------------------------------------


def test_metadata_nested_a_hundred_thousand_deep_is_refused(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = corpus.model_file(tmp_path / "deep.safetensors", deep)
    with pytest.raises(BadInputError, match="not a Warpaint model"):
        load_model(path, "autoencoder")
    with pytest.raises(BadInputError, match="not a Warpaint model"):
        read_model_header(path)


def test_attribute_entries_that_are_not_objects_are_refused(tmp_path):
    meta = {"kind": "autoencoder", "format": 1, "attributes": [1, "x"]}
    path = corpus.model_file(tmp_path / "attrs.safetensors", json.dumps(meta))
    with pytest.raises(BadInputError, match="attribute entry"):
        read_model_header(path)


def _autoencoder_meta(channels: list[int], **config: object) -> str:
    return json.dumps(
        {
            "kind": "autoencoder",
            "format": 1,
            "alignment": "stretch",
            "attributes": [],
            "config": {
                "height": 48,
                "width": 64,
                "latent": 8,
                "channels": channels,
                "variational": False,
                **config,
            },
        }
    )


@pytest.mark.parametrize(
    ("channels", "config", "match"),
    [
        ([-4, 8], {}, r"config.channels is -4"),
        ([8] * 40, {}, "40 entries"),
        ([8, 8], {"latent": True}, "config.latent is True"),
        (
            [4096, 4096, 4096, 4096],
            {},
            "weights do not match.*describes .* weights but the file holds 0",
        ),
    ],
)
def test_autoencoder_sizes_are_checked_before_anything_is_built(tmp_path, channels, config, match):
    from warpaint.engine.features.eyes.autoencoder import load_attribute_model

    path = corpus.model_file(tmp_path / "ae.safetensors", _autoencoder_meta(channels, **config))
    with pytest.raises(BadInputError, match=match):
        load_attribute_model(path)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"styles": 1, "blocks": 100_000_000}, "config.blocks is 100000000"),
        ({"styles": 1, "blocks": 1e8}, "config.blocks is 100000000.0"),
        ({"styles": 1, "quarter": -3}, "config.quarter is -3"),
        (
            {"styles": 1, "quarter": 1024, "blocks": 64},
            "not a usable fast-style model .its metadata describes",
        ),
    ],
)
def test_a_tiny_fast_style_file_cannot_ask_for_a_huge_network(tmp_path, config, match):
    from warpaint.engine.features.fast_style.effect import load_generator

    meta = {"kind": "fast-style", "format": 1, "styles": ["a"], "config": config}
    path = corpus.model_file(tmp_path / "fs.safetensors", json.dumps(meta))
    assert path.stat().st_size < 400
    with pytest.raises(BadInputError, match=match):
        load_generator(path, "cpu")


def test_gaze_and_adain_sizes_are_checked(tmp_path):
    from warpaint.engine.features.arbitrary_style.effect import _load
    from warpaint.engine.features.eyes.deepwarp import CROP_SIZE, model_from_file

    gaze = {
        "kind": "gaze",
        "format": 1,
        "crop": list(CROP_SIZE),
        "landmarks": 2,
        "width": 10**9,
        "embed": 16,
    }
    path = corpus.model_file(tmp_path / "g.safetensors", json.dumps(gaze))
    with pytest.raises(BadInputError, match="metadata.width is 1000000000"):
        model_from_file(str(path))
    adain = {
        "kind": "adain",
        "format": 1,
        "encoder": "vgg19",
        "encoder_layer": "relu4_1",
        "decoder_layers": [[4096, 4096, False]] * 500,
    }
    from warpaint.engine.features.arbitrary_style import adain as adain_module

    adain["encoder"], adain["encoder_layer"] = (
        adain_module.ENCODER_NETWORK,
        adain_module.ENCODER_LAYER,
    )
    path = corpus.model_file(tmp_path / "d.safetensors", json.dumps(adain))
    with pytest.raises(BadInputError, match="outside 1..4096 or > 64 layers"):
        _load(str(path))


def test_a_protocol_4_pickle_is_refused_in_one_line_without_warnings(tmp_path, recwarn):
    import os
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo ran",))

    path = tmp_path / "p4.pth"
    path.write_bytes(pickle.dumps(Payload(), protocol=4))
    with pytest.raises(BadInputError, match="refused") as caught:
        load_state_dict(path)
    assert "\n" not in str(caught.value) and "PyTorch 2.6" not in str(caught.value)
    assert not [w for w in recwarn if "protocol" in str(w.message)]


# -- the store: finding, header, cache ---------------------------------------------


def _fast_style_file(path, config):
    meta = {"kind": "fast-style", "format": 1, "styles": ["a"], "config": config}
    return corpus.model_file(path, json.dumps(meta))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"styles": 1, "blocks": 100_000_000}, "config.blocks is 100000000"),
        ({"styles": 1, "quarter": -3}, "config.quarter is -3"),
        ({"styles": 1, "noise": [8] * 40}, "config.noise has 40 entries"),
    ],
)
def test_a_hostile_config_is_refused_in_one_line_before_weights_are_read_or_built(
    tmp_path, monkeypatch, config, match
):
    from warpaint.engine.features.fast_style import generator
    from warpaint.engine.features.fast_style.effect import load_generator
    from warpaint.engine.runtime import models

    def never(*args, **kwargs):
        raise AssertionError("reached past the header check")

    monkeypatch.setattr(models, "load_state_dict", never)
    monkeypatch.setattr(generator.StyleGenerator, "__init__", never)
    path = _fast_style_file(tmp_path / "fs.safetensors", config)
    with pytest.raises(BadInputError, match=match) as refused:
        load_generator(path, "cpu")
    assert len(str(refused.value).splitlines()) == 1


def test_deeply_nested_metadata_is_refused_in_one_line(tmp_path):
    from warpaint.engine.runtime.models import read_meta

    path = corpus.model_file(tmp_path / "deep.safetensors", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(BadInputError, match="not a Warpaint model file") as refused:
        read_meta(path, "fast-style")
    assert len(str(refused.value).splitlines()) == 1


def test_a_header_length_past_the_limit_is_refused_before_reading_it(tmp_path):
    import struct

    from warpaint.engine.runtime.models import MAX_HEADER_BYTES, read_meta

    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}")
    with pytest.raises(BadInputError, match="header claims"):
        read_meta(path, "fast-style")


def test_the_cache_reloads_a_retrained_file_at_the_same_path(tmp_path):
    import os

    from warpaint.engine.runtime.models import cached_model, clear_cache

    clear_cache()
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"first")
    builds = []

    def build(name):
        builds.append(name)
        return Path(name).read_bytes()

    assert cached_model(path, "cpu", build) == b"first"
    assert cached_model(path, "cpu", build) == b"first" and len(builds) == 1
    path.write_bytes(b"second")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cached_model(path, "cpu", build) == b"second" and len(builds) == 2


def test_the_cache_keeps_only_the_most_recently_used_models(tmp_path):
    from warpaint.engine.runtime.models import CACHE_SIZE, cached_model, clear_cache

    clear_cache()
    builds = []

    def build(name):
        builds.append(name)
        return name

    paths = [tmp_path / f"m{i}.safetensors" for i in range(CACHE_SIZE + 1)]
    for p in paths:
        p.write_bytes(b"x")
        cached_model(p, "cpu", build)
    cached_model(paths[-1], "cpu", build)
    assert len(builds) == CACHE_SIZE + 1, "the newest stays cached"
    cached_model(paths[0], "cpu", build)
    assert len(builds) == CACHE_SIZE + 2, "the oldest was dropped"


def test_user_models_live_in_the_xdg_data_folder_and_are_listed(tmp_path, monkeypatch):
    import sys

    from warpaint.engine.runtime.models import ModelFile, user_models, user_models_dir

    if sys.platform in ("win32", "darwin"):
        pytest.skip("XDG_DATA_HOME is the Linux data folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    folder = tmp_path / "warpaint" / "models"
    assert user_models_dir() == folder
    assert user_models() == []
    folder.mkdir(parents=True)
    (folder / "mine.safetensors").write_bytes(b"x")
    (folder / "notes.txt").write_text("not a model")
    assert user_models() == [folder / "mine.safetensors"]
    assert ModelFile("mine.safetensors", "warpaint train x").locate() == folder / "mine.safetensors"


def test_locating_a_model_notices_its_file_removed_and_another_appearing(tmp_path, monkeypatch):
    from warpaint.engine.runtime.models import ModelFile

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    first = tmp_path / "override.safetensors"
    first.write_bytes(b"x")
    monkeypatch.setenv("WARPAINT_TEST_MODEL", str(first))
    model = ModelFile("m.safetensors", "warpaint train m", env="WARPAINT_TEST_MODEL")
    assert model.locate() == first
    assert model.locate() == first  # the second answer comes from the remembered path
    first.unlink()
    assert model.locate() is None
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"y")
    monkeypatch.setenv("WARPAINT_TEST_MODEL", str(other))
    assert model.locate() == other


def test_a_missing_model_names_the_command_that_makes_it(tmp_path, monkeypatch):
    from warpaint.engine.runtime.models import ModelFile

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("WARPAINT_TEST_MODEL", str(tmp_path / "absent.safetensors"))
    model = ModelFile("absent.safetensors", "warpaint train thing", env="WARPAINT_TEST_MODEL")
    assert model.locate() is None
    reason = model.missing_reason()
    assert "absent.safetensors is not installed" in reason
    assert f"'warpaint train thing -o {tmp_path / 'absent.safetensors'}'" in reason
    with pytest.raises(BadInputError, match="warpaint train thing"):
        model.path()
