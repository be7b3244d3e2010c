"""Eye localisation: Haar boxes refined by the landmark regressor on the bundled
astronaut portrait, graceful failure, manual points, the model file, training."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from warpaint.engine.features.eyes import landmarks as lm_module
from warpaint.engine.features.eyes.detect import detect_faces, eyes_from_points
from warpaint.engine.runtime.errors import BadInputError

# Verified by looking at 14x zooms of skimage's astronaut (x, y in pixels):
# the image-left eye (her right eye) and the image-right eye (her left eye).
ASTRONAUT = {
    "left": {"inner": (212.0, 102.0), "outer": (192.0, 100.0), "iris": (202.5, 100.5)},
    "right": {"inner": (237.0, 104.0), "outer": (258.5, 103.0), "iris": (246.5, 103.0)},
}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())


def _dist(a: np.ndarray, b: tuple[float, float]) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def test_shipped_model_loads_and_is_small() -> None:
    path = lm_module.default_model_path()
    assert path.is_file(), "resources/models/eye-landmarks.safetensors is missing"
    assert path.stat().st_size < 2_000_000
    assert lm_module.default_regressor() is not None
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["kind"] == "eye-landmarks" and record["held_out"]["corner_px"] < 3.0


def test_astronaut_both_eyes_found_with_landmarks(astronaut: np.ndarray) -> None:
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160
    left, right = face.eyes
    assert left.mirror and not right.mirror
    for eye, truth in ((left, ASTRONAUT["left"]), (right, ASTRONAUT["right"])):
        assert _dist(eye.corners[0], truth["inner"]) < 3.0, eye.corners
        assert _dist(eye.corners[1], truth["outer"]) < 3.0, eye.corners
        assert _dist(eye.iris_centre, truth["iris"]) < 2.5, eye.iris_centre
        assert 2.0 < eye.iris_radius < 6.5
        assert eye.upper_lid[:, 1].mean() < eye.lower_lid[:, 1].mean()
        # Lids run from the inner corner to the outer one.
        ends = np.array([eye.upper_lid[0, 0], eye.upper_lid[-1, 0]])
        assert abs(ends[0] - eye.corners[0, 0]) < abs(ends[1] - eye.corners[0, 0])


def test_refinement_beats_the_bare_haar_boxes(astronaut: np.ndarray) -> None:
    refined = detect_faces(astronaut)[0].eyes
    rough = detect_faces(astronaut, refine=False)[0].eyes

    def iris_error(eyes: tuple) -> float:  # type: ignore[type-arg]
        return sum(
            _dist(e.iris_centre, t["iris"])
            for e, t in zip(eyes, (ASTRONAUT["left"], ASTRONAUT["right"]), strict=True)
        )

    assert iris_error(refined) <= iris_error(rough) + 0.5


def test_input_types_agree(astronaut: np.ndarray) -> None:
    as_float = detect_faces(astronaut.astype(np.float32) / 255.0)
    as_rgba = detect_faces(np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]))
    base = detect_faces(astronaut)
    for other in (as_float, as_rgba):
        assert len(other) == 1
        for a, b in zip(other[0].eyes, base[0].eyes, strict=True):
            assert np.abs(a.corners - b.corners).max() < 0.5


def test_no_face_gives_an_empty_list() -> None:
    ys, xs = np.mgrid[0:240, 0:320]
    gradient = np.dstack([xs / 320, ys / 240, np.full(xs.shape, 0.5)]).astype(np.float32)
    assert detect_faces(gradient) == []
    noise = (np.random.default_rng(0).random((200, 200, 3)) * 255).astype(np.uint8)
    assert detect_faces(noise) == []


def test_bad_images_are_refused() -> None:
    with pytest.raises(BadInputError):
        detect_faces(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(BadInputError):
        detect_faces(np.zeros((50, 50, 2), np.uint8))


def test_manual_points_in_any_order_give_mirrored_and_plain_eyes() -> None:
    # Two eyes, each pair in an arbitrary order.
    points = np.array([[192.0, 100.0], [212.0, 102.0], [258.5, 103.0], [236.0, 104.0]])
    left, right = eyes_from_points(points)
    assert left.mirror and not right.mirror
    assert np.allclose(left.corners, [[212.0, 102.0], [192.0, 100.0]])  # inner toward the nose
    assert np.allclose(right.corners, [[236.0, 104.0], [258.5, 103.0]])
    # The average eye: iris between the corners, upper lid above the lower lid.
    for eye in (left, right):
        lo, hi = np.sort(eye.corners[:, 0])
        assert lo < eye.iris_centre[0] < hi
        assert eye.upper_lid[:, 1].mean() < eye.corners[:, 1].mean() < eye.lower_lid[:, 1].mean()
        assert 0.15 * eye.width < eye.iris_radius < 0.3 * eye.width


def test_manual_points_of_two_faces_pair_each_eye_with_its_neighbour() -> None:
    face_a = [[192.0, 100.0], [212.0, 102.0], [258.5, 103.0], [236.0, 104.0]]
    face_b = [[x + 300.0, y + 20.0] for x, y in face_a]
    eyes = eyes_from_points(np.array(face_a + face_b))
    assert [e.mirror for e in eyes] == [True, False, True, False]
    for e in eyes:
        inner_x, outer_x = e.corners[:, 0]
        assert (inner_x > outer_x) == e.mirror  # inner corners toward each nose


def test_manual_points_with_the_image_find_the_iris(astronaut: np.ndarray) -> None:
    points = [ASTRONAUT["left"]["outer"], ASTRONAUT["left"]["inner"]]
    points += [ASTRONAUT["right"]["inner"], ASTRONAUT["right"]["outer"]]
    left, right = eyes_from_points(np.array(points), astronaut)
    # The user's corners are kept; lids and iris come from the image.
    assert np.allclose(left.corners, [ASTRONAUT["left"]["inner"], ASTRONAUT["left"]["outer"]])
    assert _dist(left.iris_centre, ASTRONAUT["left"]["iris"]) < 2.5
    assert _dist(right.iris_centre, ASTRONAUT["right"]["iris"]) < 2.5


def test_a_single_manual_eye_takes_the_first_point_as_inner() -> None:
    (eye,) = eyes_from_points(np.array([[100.0, 50.0], [70.0, 52.0]]))
    assert eye.mirror  # inner corner right of the outer one: a right eye
    (eye,) = eyes_from_points(np.array([[70.0, 52.0], [100.0, 50.0]]))
    assert not eye.mirror


@pytest.mark.parametrize(
    "points",
    [
        [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        [[1.0, 2.0], [1.5, 2.0]],
        [[1.0, np.nan], [30.0, 2.0]],
        [1.0, 2.0, 3.0, 4.0],
    ],
)
def test_bad_manual_points_are_refused(points: list) -> None:  # type: ignore[type-arg]
    with pytest.raises(BadInputError):
        eyes_from_points(np.array(points, dtype=np.float64))


def test_foreign_or_mismatched_model_files_are_refused(tmp_path: Path) -> None:
    import torch

    from warpaint.engine.runtime.models import save_model

    foreign = tmp_path / "other.safetensors"
    save_model(foreign, {"w": torch.zeros(2)}, {"kind": "adain"})
    with pytest.raises(BadInputError, match="not an 'eye-landmarks' model"):
        lm_module.LandmarkRegressor.load(foreign)
    wrong = tmp_path / "wrong.safetensors"
    save_model(
        wrong,
        {"w": torch.zeros(2)},
        {"kind": "eye-landmarks", "crop_size": [32, 32], "outputs": lm_module.N_OUTPUTS},
    )
    with pytest.raises(BadInputError, match="needs"):
        lm_module.LandmarkRegressor.load(wrong)
    broken = tmp_path / "broken.safetensors"
    net = lm_module.build_network()
    tensors = dict(list(net.state_dict().items())[:-1])
    save_model(
        broken,
        tensors,
        {"kind": "eye-landmarks", "crop_size": list(lm_module.CROP_SIZE), "outputs": 35},
    )
    with pytest.raises(BadInputError, match="do not fit"):
        lm_module.LandmarkRegressor.load(broken)


def test_without_the_model_detection_falls_back_to_the_boxes(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WARPAINT_EYE_LANDMARKS", str(tmp_path / "missing.safetensors"))
    try:
        faces = detect_faces(astronaut)
        assert len(faces) == 1
        left, right = faces[0].eyes
        assert _dist(left.corners.mean(axis=0), (202.0, 101.0)) < 4.0
        assert _dist(right.corners.mean(axis=0), (247.0, 103.5)) < 4.0
    finally:
        monkeypatch.undo()


def test_regressor_is_accurate_on_held_out_renders() -> None:
    from warpaint.engine.features.eyes.train_landmarks import EVAL_SEED, evaluate, render_set

    reg = lm_module.default_regressor()
    assert reg is not None
    images, targets = render_set(range(EVAL_SEED, EVAL_SEED + 60))
    scores = evaluate(reg.network, images, targets)
    assert scores["corner_px"] < 3.0 and scores["iris_centre_px"] < 3.0
    # Versus guessing the canonical frame (what the regressor starts from).
    mean_guess = np.abs(targets - targets.mean(axis=0)).mean()
    pred = reg.predict(images.astype(np.float32) / 255.0)
    assert np.abs(pred - targets).mean() < 0.4 * mean_guess


@pytest.mark.slow
def test_a_short_training_run_lowers_the_loss_and_writes_a_loadable_model(
    tmp_path: Path,
) -> None:
    import torch

    from warpaint.engine.features.eyes import train_landmarks as trainer

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    trainer.add_arguments(parser)
    out = tmp_path / "lm.safetensors"
    args = parser.parse_args(
        ["-o", str(out), "--samples", "256", "--steps", "150", "--batch", "16"]
        + ["--eval-samples", "32", "--checkpoint-every", "100"]
    )
    assert trainer.run(args) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["final_loss"] < 0.7 * record["first_loss"]
    assert lm_module.LandmarkRegressor.load(out).predict(np.zeros((1, 48, 64, 3))).shape == (
        1,
        lm_module.N_OUTPUTS,
    )
    assert (tmp_path / "lm.ckpt.safetensors").is_file()


def test_a_1080p_portrait_is_searched_small_and_refined_at_full_size(
    astronaut: np.ndarray,
) -> None:
    import cv2

    k = 3.75  # the astronaut at 1920 px, cropped to a 1920x1080 frame
    big = cv2.resize(astronaut, (1920, 1920), interpolation=cv2.INTER_CUBIC)[:1080]
    faces = detect_faces(big)
    assert len(faces) == 1
    for eye, truth in zip(faces[0].eyes, (ASTRONAUT["left"], ASTRONAUT["right"]), strict=True):
        # Pixel centres: original x maps to (x + 0.5) * k - 0.5.
        back = (eye.corners + 0.5) / k - 0.5
        assert _dist(back[0], truth["inner"]) < 3.0 and _dist(back[1], truth["outer"]) < 3.0
        assert _dist((eye.iris_centre + 0.5) / k - 0.5, truth["iris"]) < 2.5


def test_refinement_recovers_from_detector_sized_errors(astronaut: np.ndarray) -> None:
    from warpaint.engine.features.eyes.detect import refine_eyes

    rgb = astronaut.astype(np.float32) / 255.0
    truths = [
        (
            np.array([ASTRONAUT[s]["inner"], ASTRONAUT[s]["outer"]]),
            ASTRONAUT[s]["iris"],
            s == "left",
        )
        for s in ("left", "right")
    ]
    rng = np.random.default_rng(0)
    worst_start = 0.0
    for _ in range(10):
        rough = []
        for corners, _iris, mirror in truths:
            # Scale x0.8-1.25, roll +-10 degrees, shift +-15 % of the eye width.
            c = corners.mean(axis=0)
            a = np.radians(rng.uniform(-10, 10))
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            start = (corners - c) @ rot.T * np.exp(rng.uniform(-0.22, 0.22)) + c
            start += rng.uniform(-0.15, 0.15, 2) * 21.0
            worst_start = max(worst_start, float(np.abs(start - corners).max()))
            rough.append((start, mirror))
        for eye, (corners, iris, _m) in zip(refine_eyes(rgb, rough), truths, strict=True):
            assert np.linalg.norm(eye.corners - corners, axis=1).max() < 4.0
            assert _dist(eye.iris_centre, iris) < 2.5
    assert worst_start > 5.0  # the starts really were off


@pytest.mark.parametrize(
    "bad",
    [
        ["--samples", "0"],
        ["--eval-samples", "0"],
        ["--device", "bogus"],
        ["--small-eyes", "1.5"],
        ["--glasses", "1.5"],
        ["--loose-framing", "-0.1"],
    ],
)
def test_training_refuses_bad_arguments_before_any_work(tmp_path: Path, bad: list[str]) -> None:
    from warpaint.engine.features.eyes import train_landmarks as trainer

    parser = argparse.ArgumentParser()
    trainer.add_arguments(parser)
    out = tmp_path / "lm.safetensors"
    with pytest.raises(BadInputError):
        trainer.run(parser.parse_args(["-o", str(out), *bad]))
    assert not out.exists()
