"""`warpaint batch`: a recipe over many files, failures, shared names, resume, metadata."""

import json
import os
import signal
import subprocess
import sys
import time

import io_corpus as corpus
import numpy as np
import pytest
from PIL import Image

from warpaint.app.cli import main
from warpaint.engine.core.compositing import flatten
from warpaint.engine.io import open_document, read_state
from warpaint.engine.runtime.batch import JOURNAL_NAME
from warpaint.engine.runtime.recipes import run_recipe

BLUR = {"warpaint_recipe": 1, "steps": [{"effect": "gaussian-blur", "params": {"sigma": 2.0}}]}


def picture(path, seed=0, size=(64, 96)):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "blur.json"
    path.write_text(json.dumps(BLUR))
    return path


def run(args, capsys):
    code = main([str(a) for a in args])
    _out, err = capsys.readouterr()
    return code, err.splitlines()


def expected_pixels(path):
    return flatten(run_recipe(open_document(path), BLUR, device="cpu").state, np.uint8)


def test_a_bad_file_fails_on_one_line_and_the_others_are_written(tmp_path, recipe, capsys):
    folder = tmp_path / "in"
    good = [picture(folder / f"p{i}.png", i) for i in (1, 3, 4)]
    whole = picture(folder / "p2.png", 2).read_bytes()
    (folder / "p2.png").write_bytes(whole[: len(whole) // 2])
    code, lines = run(["batch", recipe, folder, "-o", tmp_path / "out"], capsys)
    assert code == 1
    failed = [line for line in lines if "failed" in line and not line.startswith("done")]
    assert len(failed) == 1 and "p2.png" in failed[0] and "truncated" in failed[0]
    assert lines[-1] == "done 3, failed 1, skipped 0"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [
        "p1.png",
        "p3.png",
        "p4.png",
    ]
    for source in good:
        written = np.asarray(Image.open(tmp_path / "out" / source.name).convert("RGBA"))
        np.testing.assert_array_equal(written, expected_pixels(source))


@pytest.fixture
def shared(tmp_path):
    """a.png and x/a.jpg both become out/a.png."""
    return picture(tmp_path / "a.png", 1), picture(tmp_path / "x" / "a.jpg", 2)


def batch_shared(tmp_path, recipe, shared, policy, capsys):
    args = ["batch", recipe, *shared, "-o", tmp_path / "out", "--format", "png"]
    return run([*args, "--existing", policy], capsys)


def written_from(path, source):
    return np.array_equal(np.asarray(Image.open(path).convert("RGBA")), expected_pixels(source))


def test_shared_names_skip(tmp_path, recipe, shared, capsys):
    code, lines = batch_shared(tmp_path, recipe, shared, "skip", capsys)
    assert code == 0
    assert any("skipped" in line and "a.jpg" in line for line in lines)
    assert lines[-1] == "done 1, failed 0, skipped 1"
    assert written_from(tmp_path / "out" / "a.png", shared[0])


def test_shared_names_rename(tmp_path, recipe, shared, capsys):
    code, lines = batch_shared(tmp_path, recipe, shared, "rename", capsys)
    assert code == 0 and lines[-1] == "done 2, failed 0, skipped 0"
    assert written_from(tmp_path / "out" / "a.png", shared[0])
    assert written_from(tmp_path / "out" / "a (2).png", shared[1])


def test_shared_names_overwrite_says_so(tmp_path, recipe, shared, capsys):
    code, lines = batch_shared(tmp_path, recipe, shared, "overwrite", capsys)
    assert code == 0
    assert any("both write" in line for line in lines)
    assert written_from(tmp_path / "out" / "a.png", shared[1])


def test_an_existing_output_is_kept_unless_asked(tmp_path, recipe, capsys):
    source = picture(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"mine")
    code, lines = run(["batch", recipe, source, "-o", tmp_path / "out"], capsys)
    assert code == 0 and lines[-1] == "done 0, failed 0, skipped 1"
    assert (tmp_path / "out" / "a.png").read_bytes() == b"mine"
    code, _ = run(
        ["batch", recipe, source, "-o", tmp_path / "out", "--existing", "overwrite"], capsys
    )
    assert code == 0 and written_from(tmp_path / "out" / "a.png", source)


def test_exif_orientation_icc_profile_and_bit_depth_are_kept(tmp_path, recipe, capsys):
    profile = corpus.make_rgb_profile()
    rows = np.linspace(0, 255, 48, dtype=np.uint8)[:, None, None]
    stored = Image.fromarray(np.broadcast_to(rows, (48, 80, 3)).copy())
    jpeg = tmp_path / "in" / "portrait.jpg"
    jpeg.parent.mkdir()
    stored.save(jpeg, exif=corpus.exif_with_orientation(6), icc_profile=profile, quality=95)
    deep = tmp_path / "in" / "deep.png"
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(deep)
    code, lines = run(["batch", recipe, tmp_path / "in", "-o", tmp_path / "out"], capsys)
    assert code == 0, lines
    with Image.open(tmp_path / "out" / "portrait.jpg") as out:
        assert out.size == (48, 80)  # upright: the stored 80x48 turned by the orientation
        assert out.getexif().get(0x0112, 1) == 1
        assert out.info["icc_profile"] == profile
    assert read_state(tmp_path / "out" / "deep.png").layers[0].pixels.dtype == np.uint16


def test_a_bad_recipe_is_exit_2_before_any_output(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    steps = [{"effect": "gaussian-blur", "params": {"sigma": -1}}]
    bad.write_text(json.dumps({"warpaint_recipe": 1, "steps": steps}))
    source = picture(tmp_path / "a.png")
    code, lines = run(["batch", bad, source, "-o", tmp_path / "out"], capsys)
    assert code == 2 and len(lines) == 1 and "step 1 (gaussian-blur)" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "extra", [["--name", "{stem}-{width}.png"], ["--jobs", "0"], ["--quality", "0"]]
)
def test_bad_arguments_are_exit_2_before_any_output(tmp_path, recipe, capsys, extra):
    source = picture(tmp_path / "a.png")
    code, lines = run(["batch", recipe, source, "-o", tmp_path / "out", *extra], capsys)
    assert code == 2 and len(lines) == 1
    assert not (tmp_path / "out").exists()


def test_ora_outputs_keep_the_recipes_layers(tmp_path, recipe, capsys):
    source = picture(tmp_path / "a.png")
    code, _ = run(["batch", recipe, source, "-o", tmp_path / "out", "--format", "ora"], capsys)
    assert code == 0
    assert [layer.name for layer in read_state(tmp_path / "out" / "a.ora").layers] == [
        "a",
        "a · Gaussian blur",
    ]


def test_help_gives_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 some files failed" in text and "2 bad arguments or a bad recipe" in text


def test_ctrl_c_stops_cleanly_and_resume_does_only_the_rest(tmp_path):
    slow = tmp_path / "slow.json"
    steps = [{"effect": "gaussian-blur", "params": {"sigma": 40.0}}] * 3
    slow.write_text(json.dumps({"warpaint_recipe": 1, "steps": steps}))
    for i in range(12):
        picture(tmp_path / "in" / f"p{i:02d}.png", i, (384, 384))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "warpaint.app.cli", "batch", slow, tmp_path / "in", "-o", out]
    command = [str(c) for c in command]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].endswith("(cancelled)")
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 1 <= len(finished) < 12
    assert [p.name for p in out.iterdir() if p.name not in finished] == [JOURNAL_NAME]
    journaled = [
        json.loads(line)["output"] for line in (out / JOURNAL_NAME).read_text().splitlines()
    ]
    assert sorted(journaled) == sorted(finished)

    again = subprocess.run([*command, "--resume"], stderr=subprocess.PIPE, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert (
        again.stderr.splitlines()[-1]
        == f"done {12 - len(finished)}, failed 0, skipped {len(finished)}"
    )
    assert len(list(out.glob("*.png"))) == 12
    for name, mtime in finished.items():
        assert (out / name).stat().st_mtime_ns == mtime
    assert os.path.getsize(out / JOURNAL_NAME) > 0


def test_worker_processes_write_the_same_outputs_and_report_failures(tmp_path, recipe, capsys):
    folder = tmp_path / "in"
    good = [picture(folder / f"p{i}.png", i) for i in (1, 3)]
    (folder / "p2.png").write_bytes(good[0].read_bytes()[:100])
    code, lines = run(["batch", recipe, folder, "-o", tmp_path / "out", "--jobs", "2"], capsys)
    assert code == 1
    assert sum("failed: " in line and "p2.png" in line for line in lines) == 1
    assert lines[-1] == "done 2, failed 1, skipped 0"
    for source in good:
        assert written_from(tmp_path / "out" / source.name, source)
    journaled = (tmp_path / "out" / JOURNAL_NAME).read_text().splitlines()
    assert sorted(json.loads(line)["output"] for line in journaled) == ["p1.png", "p3.png"]
