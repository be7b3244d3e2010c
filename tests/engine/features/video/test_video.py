"""Video in and out for batch, and the temporal stabilizer.

The tests that read or write video files need the `video` extra (PyAV); they
are skipped without it, with the reason. The stabilizer and the flicker
measure need only OpenCV.
"""

import json
from fractions import Fraction

import numpy as np
import pytest

from warpaint.engine.features.video import clip, temporal
from warpaint.engine.features.video.scene import moving_scene
from warpaint.engine.io import video
from warpaint.engine.runtime.recipes import parse_recipe

needs_av = pytest.mark.skipif(
    not video.video_available(), reason="PyAV is not installed (pip install 'warpaint[video]')"
)

BLUR = {"warpaint_recipe": 1, "steps": [{"effect": "gaussian-blur", "params": {"sigma": 1.0}}]}


def write_clip(path, frames, rate=Fraction(24), audio_seconds=None):
    """An H.264 clip of `frames` with a 440 Hz AAC tone as long as the video."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "12"}
        sound = out.add_stream("aac", rate=44100)
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
        seconds = audio_seconds if audio_seconds is not None else len(frames) / rate
        t = np.arange(int(44100 * seconds)) / 44100
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(tone), 1024):
            part = av.AudioFrame.from_ndarray(
                tone[None, k : k + 1024], format="fltp", layout="mono"
            )
            part.sample_rate = 44100
            out.mux(sound.encode(part))
        out.mux(sound.encode(None))
    return path


def luma(frame):
    return frame.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def folder_names(folder):
    return sorted(p.name for p in folder.iterdir())


# -- reading and writing ---------------------------------------------------------


@needs_av
@pytest.mark.parametrize("suffix", ["mp4", "webm"])
def test_a_clip_round_trips_with_its_frame_count_rate_and_audio(tmp_path, suffix):
    frames = moving_scene(160, 96, 12)
    source = write_clip(tmp_path / "in.mp4", frames, rate=Fraction(30000, 1001))
    target = tmp_path / f"out.{suffix}"
    info = video.probe(source)
    with video.VideoWriter(target, info.width, info.height, info.rate, audio_from=source) as out:
        for frame in video.read_frames(source):
            out.write(frame)
        out.finish()
    back = video.probe(target)
    assert (back.width, back.height) == (160, 96)
    assert back.rate == Fraction(30000, 1001)
    assert back.has_audio
    assert video.count_frames(target) == 12
    decoded = [luma(f) for f in video.read_frames(target)]
    written = [luma(f) for f in frames]
    # Lossy but in order: each frame comes back nearest to the one written there.
    for t, read in enumerate(decoded):
        errors = [np.abs(read - w).mean() for w in written]
        assert int(np.argmin(errors)) == t
        assert errors[t] < 8
    assert folder_names(tmp_path) == ["in.mp4", f"out.{suffix}"]


@needs_av
@pytest.mark.parametrize("suffix", ["mp4", "mkv", "webm"])
def test_parts_joined_without_re_encoding_keep_every_frame_and_the_audio(tmp_path, suffix):
    frames = moving_scene(160, 96, 25)
    source = write_clip(tmp_path / "in.mp4", frames, rate=Fraction(30000, 1001))
    rate = Fraction(30000, 1001)
    parts = []
    for k in range(3):
        part = tmp_path / f"part-{k}.mp4"
        with video.VideoWriter(part, 160, 96, rate, codec=video.ENCODERS[suffix]) as out:
            for frame in frames[10 * k : 10 * (k + 1)]:
                out.write(frame)
            out.finish()
        parts.append(part)
    target = tmp_path / f"out.{suffix}"
    with video.VideoWriter(target, 160, 96, rate, audio_from=source, like=parts[0]) as out:
        for part in parts:
            out.append(part)
        with pytest.raises(ValueError):
            out.write(frames[0])
        out.finish()
    info = video.probe(target)
    assert (info.rate, info.has_audio, video.count_frames(target)) == (rate, True, 25)
    # The parts' own encoded frames, in order: decoded, the same pixels.
    joined = list(video.read_frames(target))
    expected = [f for part in parts for f in video.read_frames(part)]
    assert len(joined) == 25
    for a, b in zip(joined, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@needs_av
def test_audio_that_mp4_cannot_hold_is_re_encoded_to_aac(tmp_path):
    import av

    source = tmp_path / "pcm.mkv"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=44100)
        for i in range(6):
            picture = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            picture.pts = i
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
        tone = (np.sin(np.arange(11025) / 10) * 3000).astype(np.int16)
        for k in range(0, len(tone), 1024):
            part = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="s16", layout="mono")
            part.sample_rate = 44100
            out.mux(sound.encode(part))
        out.mux(sound.encode(None))
    target = tmp_path / "out.mp4"
    with video.VideoWriter(target, 64, 48, Fraction(24), audio_from=source) as out:
        for frame in video.read_frames(source):
            out.write(frame)
        out.finish()
    with av.open(str(target)) as back:
        assert back.streams.audio[0].codec_context.name == "aac"
        assert sum(frame.samples for frame in back.decode(audio=0)) >= 11025


@needs_av
def test_a_writer_left_without_finish_leaves_no_file(tmp_path):
    with (
        pytest.raises(RuntimeError),
        video.VideoWriter(tmp_path / "o.mp4", 64, 48, Fraction(25)) as out,
    ):
        out.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


@needs_av
def test_a_file_that_is_no_video_is_one_line_bad_input(tmp_path):
    from warpaint.engine.runtime.errors import BadInputError

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(BadInputError, match="bad.mp4: cannot read as a video"):
        video.probe(bad)


# -- stability ---------------------------------------------------------------------


def noisy(frame, seed, sigma=12.0):
    """A stand-in for a flickering per-frame effect: the frame with fresh noise."""
    rng = np.random.default_rng(seed)
    return np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)


def test_flicker_of_a_static_clip_is_near_zero_for_the_stable_path():
    still = moving_scene(128, 96, 1)[0]
    contents = [still] * 12
    per_frame = [noisy(still, t) for t in range(12)]
    stabilizer = temporal.Stabilizer(blend=0.7)
    stable = [stabilizer(c, s) for c, s in zip(contents, per_frame, strict=True)]
    pairs = [temporal.frame_pair(a, b) for a, b in zip(contents, contents[1:], strict=False)]
    assert all(p.mask.mean() > 0.95 for p in pairs)
    assert temporal.flicker(contents, pairs) < 0.05
    # The same picture every frame flickers not at all ...
    assert temporal.flicker([per_frame[0]] * 12, pairs) < 0.05
    # ... fresh noise does, and the stable path keeps less than half of it.
    raw = temporal.flicker(per_frame, pairs)
    assert raw > 8
    assert temporal.flicker(stable, pairs) < 0.5 * raw


@needs_av
def test_a_static_clip_through_fast_style_stays_still(tmp_path):
    # The whole path: a still picture encoded as H.264, the fast-style recipe
    # per frame, the stabilizer, the encoded result decoded again.
    still = moving_scene(128, 96, 1)[0]
    source = write_clip(tmp_path / "still.mp4", [still] * 8)
    recipe = parse_recipe({"warpaint_recipe": 1, "steps": [{"effect": "fast-style"}]})
    target = tmp_path / "out.mp4"
    settings = clip.VideoSettings()
    key = clip.clip_key("recipe", source, target, settings)
    assert clip.process_clip(recipe, source, target, key, settings, "cpu") == 8
    contents = list(video.read_frames(source))
    outputs = list(video.read_frames(target))
    pairs = [temporal.frame_pair(a, b) for a, b in zip(contents, contents[1:], strict=False)]
    assert temporal.flicker(outputs, pairs) < 0.5
    # It is stylized, not the input passed through.
    assert np.abs(outputs[4].astype(int) - contents[4]).mean() > 20


def test_stability_follows_the_motion_and_spares_the_content():
    frames = moving_scene(320, 180, 16)
    per_frame = [noisy(f, t) for t, f in enumerate(frames)]
    stabilizer = temporal.Stabilizer(blend=0.7)
    stable = [stabilizer(c, s) for c, s in zip(frames, per_frame, strict=True)]
    pairs = [temporal.frame_pair(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    assert temporal.flicker(stable, pairs) < 0.5 * temporal.flicker(per_frame, pairs)
    # Carried along the flow, not smeared: each stable frame stays nearer its
    # content than the noisy input does.
    for content, raw, out in zip(frames[1:], per_frame[1:], stable[1:], strict=True):
        assert np.abs(out.astype(int) - content).mean() < np.abs(raw.astype(int) - content).mean()


def test_a_blend_of_zero_returns_each_frame_as_it_came():
    frames = moving_scene(64, 48, 3)
    stabilizer = temporal.Stabilizer(blend=0.0)
    for frame in frames:
        shaded = noisy(frame, 1)
        np.testing.assert_array_equal(stabilizer(frame, shaded), shaded)


def occlusion_scene() -> tuple[np.ndarray, np.ndarray]:
    """Two (96, 128) uint8 grey frames: a square moves right by 6 px over a
    still textured background, so the background it uncovers has no source
    in the first frame."""
    import cv2

    rng = np.random.default_rng(0)
    background = (rng.random((96, 128)) * 255).astype(np.uint8)
    background = cv2.GaussianBlur(background, (0, 0), 1.5)
    first, second = background.copy(), background.copy()
    first[30:60, 30:60] = 255 - background[30:60, 36:66]
    second[30:60, 36:66] = 255 - background[30:60, 36:66]
    return first, second


def test_reliable_marks_an_occlusion_unreliable():
    first, second = occlusion_scene()
    pair = temporal.frame_pair(np.dstack([first] * 3), np.dstack([second] * 3))
    assert pair.mask[70:90, 80:120].mean() > 0.9  # still background
    assert pair.mask[35:55, 31:35].mean() < 0.5  # uncovered by the square


def test_the_stabilizer_trusts_only_flow_whose_carried_content_matches():
    # The same scene: the stabilizer's one-flow test must agree with the
    # forward-backward test on what is background and what was uncovered.
    first, second = occlusion_scene()
    backward = temporal.dis_flow(second, first)
    mask = temporal.matches_carried(backward, first, second)
    assert mask[70:90, 80:120].mean() > 0.9  # still background
    assert mask[35:55, 31:35].mean() < 0.5  # uncovered by the square


# -- the batch path ----------------------------------------------------------------


@pytest.fixture
def blur():
    return parse_recipe(BLUR)


def run_clip(blur, source, target, **kw):
    settings = clip.VideoSettings(temporal="on")
    key = clip.clip_key("recipe", source, target, settings)
    return clip.process_clip(blur, source, target, key, settings, "cpu", **kw)


@needs_av
def test_cancel_mid_clip_leaves_no_output_and_resume_finishes_it(tmp_path, blur, monkeypatch):
    # What each run hands the encoder, frame by frame (the real writer still
    # writes them). The stabilizer's state is Warpaint's to keep exact; x264
    # itself does not always give the same bytes for the same frames (two
    # encodes of these 64x48 frames in one process differed by 5 levels).
    handed: list[np.ndarray] = []
    write = video.VideoWriter.write

    def recording(self: video.VideoWriter, frame: np.ndarray) -> None:
        handed.append(frame.copy())
        write(self, frame)

    monkeypatch.setattr(video.VideoWriter, "write", recording)
    frames = moving_scene(64, 48, clip.CHUNK_FRAMES + 8)
    source = write_clip(tmp_path / "in.mp4", frames)
    handed.clear()
    whole = tmp_path / "whole.mp4"
    assert run_clip(blur, source, whole) == len(frames)
    uninterrupted = list(handed)
    handed.clear()

    target = tmp_path / "out.mp4"
    work = clip.work_folder(target)
    late = []

    def cancel_late() -> None:
        # Some frames into the second chunk, once the first one is finished.
        if (work / "chunk-00000.mp4").exists():
            late.append(1)
            if len(late) > 4:
                raise clip.Cancelled

    with pytest.raises(clip.Cancelled):
        run_clip(blur, source, target, check=cancel_late)
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".warpaint-tmp")]
    assert folder_names(work) == ["chunk-00000.last.png", "chunk-00000.mp4", "key"]
    first_chunk = handed[: clip.CHUNK_FRAMES]
    handed.clear()

    assert run_clip(blur, source, target, resume=True) == len(frames)
    assert not work.exists()
    # Resumed after the finished chunk, the stabilizer goes on from the same
    # state: the kept chunk and the resumed frames are what an uninterrupted
    # run hands the encoder, and the output holds all of them.
    resumed = first_chunk + handed
    assert len(resumed) == len(uninterrupted) == len(frames)
    for a, b in zip(uninterrupted, resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert video.count_frames(target) == len(frames)
    decoded = list(video.read_frames(target))
    # Encoded, each frame is near what was handed over (crf 18 on a 64x48
    # frame: 3.6-4.9 levels on average), far nearer than to its neighbours.
    errors = [np.abs(d.astype(int) - r).mean() for d, r in zip(decoded, resumed, strict=True)]
    assert max(errors) < 8
    assert video.probe(target).has_audio


@needs_av
def test_the_batch_command_writes_a_video_with_the_source_rate_and_audio(tmp_path, capsys):
    from warpaint.app.cli import main

    source = write_clip(tmp_path / "in.mp4", moving_scene(64, 48, 6), rate=Fraction(25))
    recipe = tmp_path / "blur.json"
    recipe.write_text(json.dumps(BLUR))
    target = tmp_path / "out.mp4"
    assert main(["batch", str(recipe), str(source), "-o", str(target)]) == 0
    info = video.probe(target)
    assert (info.rate, info.has_audio, video.count_frames(target)) == (Fraction(25), True, 6)
    # Run again: the output exists and is kept (as image batches do) ...
    assert main(["batch", str(recipe), str(source), "-o", str(target)]) == 0
    assert "out.mp4 exists" in capsys.readouterr().err
    # ... and --resume finds it done in the journal.
    assert main(["batch", str(recipe), str(source), "-o", str(target), "--resume"]) == 0
    assert "done earlier" in capsys.readouterr().err


@needs_av
def test_videos_and_images_are_not_mixed_in_one_batch(tmp_path, capsys):
    from warpaint.app.cli import main

    source = write_clip(tmp_path / "in.mp4", moving_scene(64, 48, 2))
    picture = tmp_path / "p.png"
    picture.write_bytes(b"")
    recipe = tmp_path / "blur.json"
    recipe.write_text(json.dumps(BLUR))
    code = main(["batch", str(recipe), str(source), str(picture), "-o", str(tmp_path / "out")])
    assert code == 2
    assert "run videos and images in separate batches" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_auto_stabilizes_style_recipes_only():
    style = parse_recipe({"warpaint_recipe": 1, "steps": [{"effect": "fast-style"}]})
    auto = clip.VideoSettings()
    assert auto.stabilizes(style)
    assert not auto.stabilizes(parse_recipe(BLUR))
    assert clip.VideoSettings(temporal="on").stabilizes(parse_recipe(BLUR))
    assert not clip.VideoSettings(temporal="off").stabilizes(style)


@needs_av
def test_ctrl_c_in_a_video_batch_is_exit_130_with_no_output(tmp_path, capsys, monkeypatch):
    from warpaint.app.cli import main

    source = write_clip(tmp_path / "in.mp4", moving_scene(64, 48, 4))
    recipe = tmp_path / "blur.json"
    recipe.write_text(json.dumps(BLUR))

    def interrupted() -> None:
        raise KeyboardInterrupt

    real = clip.process_clip
    monkeypatch.setattr(clip, "process_clip", lambda *a, **kw: real(*a, **kw, check=interrupted))
    target = tmp_path / "out.mp4"
    assert main(["batch", str(recipe), str(source), "-o", str(target)]) == 130
    assert "cancelled" in capsys.readouterr().err
    assert folder_names(tmp_path) == [
        ".out.mp4.warpaint-video",
        ".warpaint-batch.jsonl",
        "blur.json",
        "in.mp4",
    ]
