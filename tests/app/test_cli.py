"""The `warpaint` command on generated files: outputs and exit codes."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from warpaint.app.cli import main

WARPAINT = [sys.executable, "-m", "warpaint.app.cli"]


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "in.png"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, fragment):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fragment in lines[0]


def test_effects_json_lists_effects_with_their_parameter_metadata(capsys):
    code, out, _ = run(["effects", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    blur = data["gaussian-blur"]
    assert blur["title"] == "Gaussian blur"
    assert blur["params"][0]["name"] == "sigma"
    assert set(blur["params"][0]) == {
        "name",
        "label",
        "type",
        "default",
        "min",
        "max",
        "step",
        "choices",
    }


def test_effects_text_lists_parameters(capsys):
    code, out, _ = run(["effects"], capsys)
    assert code == 0 and "gaussian-blur" in out and "sigma" in out


def test_apply_writes_the_blurred_image(photo, tmp_path, capsys):
    out_path = tmp_path / "out.png"
    code, _, err = run(
        ["apply", "gaussian-blur", photo, "-o", out_path, "--set", "sigma=2"], capsys
    )
    assert code == 0, err
    before = np.asarray(Image.open(photo), np.float32)
    after = np.asarray(Image.open(out_path).convert("RGB"), np.float32)
    assert after.shape == before.shape
    assert after.std() < 0.6 * before.std(), "blurring noise lowers its spread"


def test_apply_to_ora_keeps_the_input_as_a_layer_below_the_result(photo, tmp_path, capsys):
    from warpaint.engine.io import open_document

    out_path = tmp_path / "out.ora"
    code, _, err = run(["apply", "gaussian-blur", photo, "-o", out_path], capsys)
    assert code == 0, err
    doc = open_document(str(out_path))
    assert len(doc.layers) == 2
    original = doc.layers[0].pixels.to_array()[..., :3]
    np.testing.assert_array_equal(original, np.asarray(Image.open(photo)))
    assert "Gaussian blur" in doc.layers[1].name


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["apply", "no-such-effect", "{photo}", "-o", "{out}"], "unknown effect"),
        (["apply", "gaussian-blur", "{photo}", "-o", "{out}", "--set", "sigma=abc"], "sigma"),
        (["apply", "gaussian-blur", "{photo}", "-o", "{out}", "--set", "sigma=999"], "outside"),
        (["apply", "gaussian-blur", "{photo}", "-o", "{out}", "--set", "nope=1"], "no parameter"),
        (["apply", "gaussian-blur", "{missing}", "-o", "{out}"], "missing.png"),
        (["apply", "gaussian-blur", "{garbage}", "-o", "{out}"], "garbage.png"),
        (["apply", "gaussian-blur", "{photo}", "-o", "{tmp}/out.xyz"], "unknown output format"),
        (["apply", "gaussian-blur", "{photo}"], "required"),
        (["apply", "gaussian-blur", "{photo}", "-o", "{out}", "--device", "tpu"], "invalid choice"),
        (["info", "{garbage}"], "garbage.png"),
        (["bench", "no-such-bench"], "unknown benchmark"),
        (["gui", "{missing}"], "no such file"),
    ],
)
def test_bad_input_prints_one_line_exits_2_and_writes_nothing(
    args, fragment, photo, tmp_path, capsys
):
    garbage = tmp_path / "garbage.png"
    garbage.write_text("this is not an image")
    names = {
        "photo": photo,
        "out": tmp_path / "out.png",
        "missing": tmp_path / "missing.png",
        "garbage": garbage,
        "tmp": tmp_path,
    }
    code, _, err = run([a.format(**names) for a in args], capsys)
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "out.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.png", "in.png"]


def test_info_json_describes_size_and_layers(photo, capsys):
    code, out, _ = run(["info", photo, "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert (info["width"], info["height"]) == (64, 48)
    assert info["bit_depth"] == 8


def test_bench_list_names_the_benchmarks(capsys):
    code, out, _ = run(["bench", "list"], capsys)
    assert code == 0
    for name in ("memory", "cancel", "preview-latency"):
        assert name in out


def test_bench_json_carries_figures_and_the_machine(capsys):
    code, out, _ = run(["bench", "cancel", "--quick", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["all_cancelled"] is True
    assert data["cancel_latency_s_median"] > 0  # the goal itself is judged by the benchmark
    assert data["machine"]["cpu_count"] >= 1


def test_the_installed_command_exits_with_the_documented_codes(tmp_path):
    ok = subprocess.run([*WARPAINT, "effects"], capture_output=True, text=True)
    bad = subprocess.run([*WARPAINT, "apply", "x", "y"], capture_output=True, text=True)
    assert ok.returncode == 0 and "gaussian-blur" in ok.stdout
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_cancels_a_long_apply_and_writes_nothing(tmp_path):
    rng = np.random.default_rng(0)
    big = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (2500, 2500, 3), dtype=np.uint8)).save(
        big, compress_level=0
    )
    out = tmp_path / "out.png"
    proc = subprocess.Popen(
        [*WARPAINT, "apply", "gaussian-blur", str(big), "-o", str(out), "--set", "sigma=50"],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, WARPAINT_PROGRESS="always"),
        # As from a terminal: a shell starts background jobs (e.g. a CI runner's
        # `make test &`) with SIGINT ignored, and a Python started so inherits it
        # and would never see the Ctrl+C this test sends.
        preexec_fn=_default_sigint,
    )
    # Interrupt once the blur has reported progress (however long start-up took).
    assert proc.stderr is not None
    seen = ""
    while "%" not in seen:
        chunk = proc.stderr.read(1)
        assert chunk, f"the apply ended before reporting progress: {seen!r}"
        seen += chunk
    assert proc.poll() is None, "the job should still be running"
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=20)
    err = seen + err
    assert proc.returncode == 130
    # Stopped mid-blur, not after it: the progress never reached its end. (How
    # fast is `warpaint bench cancel`; a wall-clock bound here would break on a
    # loaded CI machine.)
    assert "100.0%" not in err
    assert "cancelled" in err and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["big.png"]


def test_effects_json_lists_the_attribute_models_sliders(capsys):
    code, out, _ = run(["effects", "--json"], capsys)
    assert code == 0
    names = {p["name"] for p in json.loads(out)["attributes"]["params"]}
    assert {"region", "openness", "pupil", "iris_colour"} <= names


def test_set_rejects_a_parameter_the_effect_lacks(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.new("RGB", (8, 8)).save(src)
    code, _, err = run(
        ["apply", "attributes", str(src), "-o", str(tmp_path / "o.png"), "--set", "nope=1"], capsys
    )
    assert code == 2 and "no parameter 'nope'" in err


def test_a_reader_that_leaves_early_is_not_an_error():
    # `warpaint effects | head -3`: the pipe closes while the listing is written.
    proc = subprocess.Popen([*WARPAINT, "effects"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(40)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141)
    assert "error" not in err and "Traceback" not in err


# -- hostile input at the command line ------------------------------------------------------


def _records(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture
def crashed_record(tmp_path, monkeypatch):
    """A recovery folder holding one record whose writer is gone."""
    from warpaint.engine.core.document import Document
    from warpaint.engine.io import Autosaver

    folder = tmp_path / "recovery"
    monkeypatch.setenv("WARPAINT_RECOVERY_DIR", str(folder))
    doc = Document.from_array(np.zeros((4, 5, 4), np.uint8))
    doc.rename_layer(doc.layers[0].id, "Edited")
    saver = Autosaver(interval_s=0)
    saver.save_now(doc)
    record = folder / f"{saver.key}.json"
    data = json.loads(record.read_text())
    data["pid"] = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )
    record.write_text(json.dumps(data))
    return folder, saver.key


def test_restoring_into_the_recovery_folder_is_refused_and_loses_nothing(crashed_record, capsys):
    folder, key = crashed_record
    before = _records(folder)
    for target in (folder / f"{key}.ora", folder / "restored.ora"):
        code, _, err = run(["recover", "--restore", "1", "-o", target], capsys)
        assert_one_line_error(code, err, "inside the recovery folder")
        assert _records(folder) == before
    code, out, _ = run(["recover"], capsys)
    assert code == 0 and out.startswith("1: ")


def test_restoring_elsewhere_writes_the_document_and_discards_the_record(
    crashed_record, tmp_path, capsys
):
    from warpaint.engine.io import open_document

    folder, _ = crashed_record
    target = tmp_path / "restored.ora"
    code, out, err = run(["recover", "--restore", "1", "-o", target], capsys)
    assert code == 0, err
    assert open_document(target).layers[0].name == "Edited"
    assert _records(folder) == []


def test_recover_lists_the_good_records_past_a_damaged_one(crashed_record, capsys):
    folder, key = crashed_record
    (folder / "dddd.ora").write_bytes(b"")
    (folder / "dddd.json").write_text(json.dumps({"key": "dddd", "saved_at": 1e300}))
    code, out, err = run(["recover"], capsys)
    assert code == 0 and err == ""
    assert out.count("\n") == 1 and "autosaved" in out


@pytest.mark.parametrize("command", ["info", "apply"])
def test_an_over_long_path_is_one_line_and_exit_2(photo, tmp_path, command, capsys):
    long_path = tmp_path / ("a" * 300 + ".png")
    args = {
        "info": ["info", long_path],
        "apply": ["apply", "gaussian-blur", long_path, "-o", tmp_path / "o.png"],
    }[command]
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, "File name too long")
    code, _, err = run(["apply", "gaussian-blur", photo, "-o", long_path], capsys)
    assert_one_line_error(code, err, "File name too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_a_244_character_output_name_is_written(photo, tmp_path, capsys):
    target = tmp_path / ("b" * 240 + ".png")
    code, _, err = run(["apply", "gaussian-blur", photo, "-o", target], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.png", target.name])


@pytest.mark.parametrize("where", ["input", "other", "model"])
def test_a_fifo_anywhere_a_path_is_read_is_refused_at_once(photo, tmp_path, where):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    args = {
        "input": ["apply", "gaussian-blur", pipe, "-o", tmp_path / "o.png"],
        "other": ["apply", "splining", photo, "-o", tmp_path / "o.png", "--set", f"other={pipe}"],
        "model": ["apply", "attributes", photo, "-o", tmp_path / "o.png", "--set",
                  f"model={pipe}"],
    }[where]  # fmt: skip  # argv: flags beside their values
    proc = subprocess.run([*WARPAINT, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "named pipe" in proc.stderr


def test_info_on_a_fifo_is_refused_at_once(tmp_path):
    pipe = tmp_path / "pipe.ora"
    os.mkfifo(pipe)
    proc = subprocess.run(
        [*WARPAINT, "info", str(pipe)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "named pipe" in proc.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_parameters_are_bad_input(photo, tmp_path, value, capsys):
    code, _, err = run(
        ["apply", "gaussian-blur", photo, "-o", tmp_path / "o.png", "--set", f"sigma={value}"],
        capsys,
    )
    assert_one_line_error(code, err, "sigma")


def test_a_mosaic_weight_of_nan_is_bad_input(photo, tmp_path, capsys):
    code, _, err = run(
        ["apply", "mosaic", photo, "-o", tmp_path / "o.png", "--set", f"layers={photo}:nan"],
        capsys,
    )
    assert_one_line_error(code, err, "finite")


def test_newlines_in_file_and_layer_names_stay_on_one_line(tmp_path, capsys):
    import io_corpus as corpus

    code, _, err = run(["info", tmp_path / "two\nlines.png"], capsys)
    assert_one_line_error(code, err, "two\\nlines.png")
    ora = corpus.make_ora(
        tmp_path / "named.ora",
        '<image w="2" h="2"><stack><layer name="first&#10;second" src="data/gone.png"/>'
        "</stack></image>",
        {},
    )
    code, _, err = run(["apply", "gaussian-blur", ora, "-o", tmp_path / "o.png"], capsys)
    assert_one_line_error(code, err, "first\\nsecond")


def test_a_junk_profile_in_a_16_bit_png_gives_no_stray_stderr_lines(tmp_path):
    import io_corpus as corpus

    junk = bytes(np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8))
    path = tmp_path / "junk16.png"
    path.write_bytes(
        corpus.raw_png(
            corpus.rgba_pattern(8, 8, np.uint16), extra_chunks=(corpus.iccp_chunk(junk),)
        )
    )
    proc = subprocess.run(
        [*WARPAINT, "apply", "gaussian-blur", str(path), "-o", str(tmp_path / "o.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stderr == ""


_INTERRUPT_WHEN_RUNNING = """
import _thread, os, signal, sys, threading, time
from warpaint.app.cli import main

def interrupt():
    while not any(t.name.startswith("warpaint-") for t in threading.enumerate()):
        time.sleep(0.01)
    time.sleep(0.3)  # the job is running, no progress bar drawn (stderr is a pipe)
    _thread.interrupt_main(signal.SIGINT)

threading.Thread(target=interrupt, daemon=True).start()
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_before_any_progress_prints_exactly_one_line(tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((2500, 2500, 3), np.uint8)).save(big, compress_level=0)
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_WHEN_RUNNING, "apply", "gaussian-blur", str(big),
         "-o", str(out), "--set", "sigma=50"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip  # argv: flags beside their values
    assert proc.returncode == 130
    assert proc.stderr.splitlines() == ["warpaint: cancelled, nothing written"], proc.stderr
    assert not out.exists()


def test_an_effect_whose_model_is_missing_is_listed_as_unavailable_with_the_command(
    tmp_path, monkeypatch, capsys
):
    absent = tmp_path / "absent.safetensors"
    monkeypatch.setenv("WARPAINT_FAST_STYLE_MODEL", str(absent))
    code, out, _ = run(["effects", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["fast-style"]["available"] is False
    assert f"warpaint train style --presets -o {absent}" in data["fast-style"]["reason"]
    assert data["gaussian-blur"]["available"] is True and data["gaussian-blur"]["reason"] is None
    code, out, _ = run(["effects"], capsys)
    assert "    unavailable: the model fast-style.safetensors is not installed" in out
