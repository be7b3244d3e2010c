"""Fast style between keyframes: only what the motion cannot carry is repainted."""

import argparse
from fractions import Fraction

import numpy as np
import pytest
import torch

from warpaint.engine.features.video import clip, repaint, temporal
from warpaint.engine.features.video.scene import moving_scene
from warpaint.engine.io import video
from warpaint.engine.neural.feedforward import norm_statistics, tiled_forward
from warpaint.engine.runtime.recipes import parse_recipe

needs_av = pytest.mark.skipif(
    not video.video_available(), reason="PyAV is not installed (pip install 'warpaint[video]')"
)


def style_recipe(**params):
    return parse_recipe(
        {"warpaint_recipe": 1, "steps": [{"effect": "fast-style", "params": params}]}
    )


def panned(width, height, frames, step=1):
    """A photo panned right by `step` px a frame: new content enters at the
    right edge only."""
    from skimage import data

    photo = data.astronaut()
    return [
        np.ascontiguousarray(photo[100 : 100 + height, 40 + t * step : 40 + t * step + width])
        for t in range(frames)
    ]


class FakeRunner:
    """A stand-in network: the negative of the frame, whole or in boxes,
    with the boxes it was asked for recorded."""

    halo = 8

    def __init__(self):
        self.wholes = 0
        self.asked = []

    def whole(self, frame):
        self.wholes += 1
        return 255 - frame, ["stats"]

    def boxes(self, frame, stats, boxes):
        assert stats == ["stats"]
        self.asked.append(list(boxes))
        return [255 - frame[y0:y1, x0:x1] for y0, x0, y1, x1 in boxes]


# -- the network in boxes ------------------------------------------------------------


def test_tiled_forward_records_the_statistics_it_used():
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator

    torch.manual_seed(0)
    gen = StyleGenerator(GeneratorConfig(styles=1, half=8, quarter=16, blocks=2)).eval()
    gen.set_style(torch.tensor([1.0]))
    x = torch.rand(1, 3, 96, 128)
    with torch.inference_mode():
        # One pass: the same result as without recording, and the image's own statistics.
        record = []
        out = tiled_forward(gen, gen, x, tile=256, align=4, record=record)
        assert torch.equal(out, tiled_forward(gen, gen, x, tile=256, align=4))
        expected = norm_statistics(gen, gen, x)
        assert len(record) == len(expected) == len(gen.norms())
        for (m, v), (em, ev) in zip(record, expected, strict=True):
            assert torch.equal(m, em) and torch.equal(v, ev)
        # In tiles: the statistics of the reduced copy the tiles share.
        record = []
        tiled_forward(gen, gen, x, tile=32, halo=64, align=4, stats_side=64, record=record)
        small = torch.nn.functional.interpolate(
            x, size=(48, 64), mode="bilinear", align_corners=False, antialias=True
        )
        for (m, _), (em, _) in zip(record, norm_statistics(gen, gen, small), strict=True):
            assert torch.equal(m, em)


@pytest.mark.parametrize(
    "params",
    [
        {"preset": "swirls"},
        {"preset": "pointillism", "seed": 7, "strength": 0.6, "preserve_colours": True},
    ],
)
def test_a_keyframe_is_the_effect_on_the_whole_frame_exactly(params):
    frame = moving_scene(160, 96, 2)[1]
    recipe = style_recipe(**params)
    runner = repaint.FastStyleRunner(repaint.fast_style_step(recipe), "cpu")
    out, stats = runner.whole(frame)
    np.testing.assert_array_equal(out, clip.recipe_frame(recipe, frame, "cpu"))
    assert len(stats) == len(runner.gen.norms())


def test_boxes_equal_the_whole_pass_inside_them_under_its_statistics():
    frame = moving_scene(320, 192, 2)[1]
    step = repaint.fast_style_step(style_recipe(preset="pointillism", seed=3))
    boxes = [(0, 0, 48, 64), (64, 112, 128, 208), (144, 256, 192, 320)]
    exact = repaint.FastStyleRunner(step, "cpu")
    whole, stats = exact.whole(frame)
    # With the generator's whole receptive radius as context: the whole pass's
    # pixels, up to float rounding (one 8-bit level).
    for (y0, x0, y1, x1), piece in zip(boxes, exact.boxes(frame, stats, boxes), strict=True):
        assert np.abs(piece.astype(int) - whole[y0:y1, x0:x1]).max() <= 1
    # With the video's shorter context: the edge pixels may move a few levels,
    # 8 px inside a box nothing moves by more than one.
    short = repaint.FastStyleRunner(step, "cpu", repaint.BOX_HALO)
    for (y0, x0, y1, x1), piece in zip(boxes, short.boxes(frame, stats, boxes), strict=True):
        diff = np.abs(piece.astype(int) - whole[y0:y1, x0:x1])
        assert diff.max() <= 12
        inner = diff[
            8 if y0 else 0 : -8 if y1 < 192 else None, 8 if x0 else 0 : -8 if x1 < 320 else None
        ]
        assert inner.max() <= 1


def test_boxes_cover_every_pixel_the_ramp_reaches_and_little_else():
    need = np.zeros((180, 320), bool)
    need[40:50, 60:70] = True  # a speck
    need[:, 316:] = True  # the entering edge of a pan
    boxes = repaint.plan_boxes(need, halo=32)
    covered = np.zeros_like(need)
    for y0, x0, y1, x1 in boxes:
        covered[y0:y1, x0:x1] = True
    fresh = repaint.fresh_weight(need)
    assert covered[fresh > 0].all()
    assert (fresh[need] == 1).all()
    # Two boxes (speck, edge), not one spanning both; far pixels are not repainted.
    assert len(boxes) == 2
    assert not covered[120:, 100:250].any()
    assert repaint.boxes_cost(boxes, 32, 180, 320) < 0.5 * 180 * 320


# -- between keyframes ---------------------------------------------------------------


def test_a_frame_carried_reliably_everywhere_is_the_carried_previous_output():
    still = moving_scene(160, 96, 1)[0]
    runner = FakeRunner()
    stabilizer = temporal.Stabilizer(0.7)
    repainter = repaint.Repainter(runner, stabilizer)
    first = repainter(still, key=True)
    motion = stabilizer.motion(still)
    assert motion.mask.min() >= repaint.TRUSTED
    out = repainter(still)
    # No network at all: the previous output carried along the flow, as it is.
    assert runner.wholes == 1 and runner.asked == [[]]
    np.testing.assert_array_equal(out, temporal.warp(first, motion.backward, cubic=True))


def test_an_unreliable_region_gets_network_pixels_and_the_rest_is_carried():
    frames = moving_scene(640, 360, 24)
    runner = FakeRunner()
    stabilizer = temporal.Stabilizer(0.7)
    repainter = repaint.Repainter(runner, stabilizer)
    before = repainter(frames[10], key=True)
    motion = stabilizer.motion(frames[11])
    out = repainter(frames[11])
    assert runner.wholes == 1, "repainted in boxes, not made a keyframe"
    need = motion.mask < repaint.TRUSTED
    assert 0 < need.mean() < 0.2
    fresh = repaint.fresh_weight(need)
    carried = temporal.warp(before, motion.backward, cubic=True)
    # Untrusted pixels: the network's new pixels (the stand-in: the negative).
    untrusted = motion.mask == 0
    assert untrusted.any()
    np.testing.assert_array_equal(out[untrusted], 255 - frames[11][untrusted])
    # Away from them: the carried output as it is.
    far = fresh == 0
    np.testing.assert_array_equal(out[far], carried[far])
    # The boxes asked for hold every pixel that took new pixels.
    covered = np.zeros(need.shape, bool)
    for y0, x0, y1, x1 in runner.asked[0]:
        covered[y0:y1, x0:x1] = True
    assert covered[fresh > 0].all()


def test_a_frame_too_costly_to_repaint_is_a_keyframe():
    frames = moving_scene(160, 96, 2)
    runner = FakeRunner()
    repainter = repaint.Repainter(runner, temporal.Stabilizer(0.7))
    repainter(frames[0], key=True)
    cut = np.ascontiguousarray(frames[1][::-1, ::-1])  # another picture: nothing carries
    out = repainter(cut)
    assert runner.wholes == 2 and runner.asked == []
    # What the full-frame stable path makes of the same frames.
    reference = temporal.Stabilizer(0.7)
    reference(frames[0], 255 - frames[0])
    np.testing.assert_array_equal(out, reference(cut, 255 - cut))


def test_only_a_lone_fast_style_step_covering_the_frame_is_repainted_in_parts():
    assert repaint.fast_style_step(style_recipe(preset="swirls")) is not None
    two = parse_recipe(
        {
            "warpaint_recipe": 1,
            "steps": [{"effect": "gaussian-blur"}, {"effect": "fast-style"}],
        }
    )
    half = parse_recipe({"warpaint_recipe": 1, "steps": [{"effect": "fast-style", "opacity": 0.5}]})
    assert repaint.fast_style_step(two) is None
    assert repaint.fast_style_step(half) is None
    assert repaint.fast_style_step(style_recipe(strength=0.0)) is None


# -- the batch path ------------------------------------------------------------------


def keyframe_indices(processor, frames):
    """The frames `processor` ran the whole network on."""
    runner = processor.repainter.runner
    whole = runner.whole
    keys = []

    def spy(frame):
        keys.append(index[0])
        return whole(frame)

    runner.whole = spy
    index = [0]
    outs = []
    for i, frame in enumerate(frames):
        index[0] = i
        outs.append(processor(frame))
    return keys, outs


def test_keyframes_fall_every_interval_and_at_every_chunk(monkeypatch):
    monkeypatch.setattr(clip, "CHUNK_FRAMES", 7)
    monkeypatch.setattr(clip, "KEY_INTERVAL", 5)
    frames = panned(256, 160, 15)
    processor = clip.FrameProcessor(style_recipe(preset="swirls"), clip.VideoSettings(), "cpu")
    assert processor.repainter is not None
    keys, _ = keyframe_indices(processor, frames)
    assert keys == [0, 5, 7, 10, 14]


def test_full_frames_turns_the_partial_path_off():
    frames = panned(256, 160, 4)
    recipe = style_recipe(preset="swirls")
    processor = clip.FrameProcessor(recipe, clip.VideoSettings(full_frames=True), "cpu")
    assert processor.repainter is None
    stabilizer = temporal.Stabilizer(0.7)
    for frame in frames:
        expected = stabilizer(frame, clip.recipe_frame(recipe, frame, "cpu"))
        np.testing.assert_array_equal(processor(frame), expected)
    # The command line's flag sets it.
    parser = argparse.ArgumentParser()
    clip.add_arguments(parser)
    assert parser.parse_args(["--full-frames"]).full_frames
    assert not parser.parse_args([]).full_frames


@needs_av
def test_a_resumed_clip_starts_with_a_keyframe_and_is_the_uninterrupted_clip(tmp_path, monkeypatch):
    monkeypatch.setattr(clip, "CHUNK_FRAMES", 6)
    monkeypatch.setattr(clip, "KEY_INTERVAL", 5)
    source = tmp_path / "in.mp4"
    with video.VideoWriter(source, 256, 160, Fraction(24), crf=12) as writer:
        for frame in panned(256, 160, 14):
            writer.write(frame)
        writer.finish()
    recipe = style_recipe(preset="swirls")
    settings = clip.VideoSettings()
    calls = {"whole": 0, "boxes": 0}
    whole, boxes = repaint.FastStyleRunner.whole, repaint.FastStyleRunner.boxes

    def count_whole(self, frame):
        calls["whole"] += 1
        return whole(self, frame)

    def count_boxes(self, frame, stats, asked):
        calls["boxes"] += bool(asked)
        return boxes(self, frame, stats, asked)

    monkeypatch.setattr(repaint.FastStyleRunner, "whole", count_whole)
    monkeypatch.setattr(repaint.FastStyleRunner, "boxes", count_boxes)

    def run_key(target):
        return clip.clip_key("recipe", source, target, settings)

    def run(target, **kw):
        return clip.process_clip(recipe, source, target, run_key(target), settings, "cpu", **kw)

    whole_clip = tmp_path / "whole.mp4"
    assert run(whole_clip) == 14
    # Keyframes at 0, 5, 6, 10, 12; the frames between repainted in boxes.
    assert calls["whole"] == 5 and calls["boxes"] > 0

    target = tmp_path / "out.mp4"
    seen = []

    def cancel_in_second_chunk():
        if (clip.work_folder(target) / "chunk-00000.mp4").exists():
            seen.append(1)
            if len(seen) > 2:
                raise clip.Cancelled

    with pytest.raises(clip.Cancelled):
        run(target, check=cancel_in_second_chunk)
    assert clip._finished_chunks(clip.work_folder(target), run_key(target)) == 1
    calls["whole"] = 0
    assert run(target, resume=True) == 14
    # Resumed at frame 6, a keyframe there as in the uninterrupted run, then 10 and 12.
    assert calls["whole"] == 3
    for a, b in zip(video.read_frames(whole_clip), video.read_frames(target), strict=True):
        np.testing.assert_array_equal(a, b)
