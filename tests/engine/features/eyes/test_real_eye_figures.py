"""Landmarks and gaze on labelled real eyes (`real_eye_figures.py`), and the
small-eye degradation the landmark regressor is trained with."""

from __future__ import annotations

import numpy as np
import pytest

from warpaint.engine.features.eyes import real_eye_figures as figures
from warpaint.engine.features.eyes.real_eyes import real_eyes


@pytest.fixture(scope="module")
def eyes() -> dict:  # type: ignore[type-arg]
    found = real_eyes()
    if not found:
        pytest.skip("labelled eyes missing")
    return found


def _disc(cx: float, cy: float, r: float = 4.0, size: tuple[int, int] = (30, 40)) -> np.ndarray:
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float64)
    d = np.hypot(xs - cx, ys - cy)
    luma = 0.8 - 0.6 * np.clip(r + 0.5 - d, 0.0, 1.0)
    return np.repeat(luma[..., None], 3, axis=2).astype(np.float32)


@pytest.mark.parametrize("shift", [(1.5, 0.0), (-2.25, 0.0), (0.6, 0.6)])
def test_iris_shift_finds_how_far_a_dark_disc_moved(shift: tuple[float, float]) -> None:
    before = _disc(20.0, 15.0)
    after = _disc(20.0 + shift[0], 15.0 + shift[1])
    dx, dy = figures.iris_shift(before, after, (16.5, 11.5, 8.0, 8.0))
    assert abs(dx - shift[0]) < 0.15 and abs(dy - shift[1]) < 0.25


def test_landmarks_on_the_astronauts_eyes_at_20px_eye_width(eyes) -> None:  # type: ignore[no-untyped-def]
    errors = figures.landmark_errors({"astronaut": eyes["astronaut"]}, figures.EYE_WIDTH)
    per_eye = errors["astronaut"]["per_eye"]
    left, right = per_eye["astronaut:image-left"], per_eye["astronaut:image-right"]
    # The goal (2 px) holds on the image-left eye in every respect.
    assert max(left["corners_px"], left["iris_px"], left["lids_px"]) <= 2.0
    # On the image-right eye the iris and lids hold; the inner corner is pulled
    # toward the eye's middle (docs/gaze.md), so its corners miss by under a pixel.
    assert max(right["iris_px"], right["lids_px"]) <= 2.0
    assert right["corners_px"] <= 3.0


# Narrowed eyes behind glasses: their iris moves about half as far (docs/gaze.md).
SHORT_OF_THE_GOAL = {"hopper"}


def test_gaze_moves_a_real_20px_iris_most_of_a_rendered_ones_way(eyes) -> None:  # type: ignore[no-untyped-def]
    result = figures.gaze_displacement(eyes)
    assert result["rendered_px_per_deg"] > 0.08  # about 2.4 px between -15 and +15
    assert set(result["sets"]) > SHORT_OF_THE_GOAL
    for name, entry in result["sets"].items():
        if name not in SHORT_OF_THE_GOAL:
            assert entry["ratio"] >= 0.7, name


@pytest.mark.xfail(
    strict=True, reason="the gaze network moves narrowed eyes behind glasses half as far"
)
def test_gaze_moves_the_irises_behind_glasses_most_of_a_rendered_ones_way(eyes) -> None:  # type: ignore[no-untyped-def]
    result = figures.gaze_displacement({name: eyes[name] for name in SHORT_OF_THE_GOAL})
    for name, entry in result["sets"].items():
        assert entry["ratio"] >= 0.7, name


def test_lid_labels_are_optional_in_the_label_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from warpaint.engine.features.eyes.real_eyes import EYE_LABELS

    labels = json.loads(EYE_LABELS.read_text())
    astronaut = labels["sets"]["astronaut"]["pictures"][0]["eyes"]
    del astronaut[1]["lids"]
    path = tmp_path / "eyes.json"
    path.write_text(json.dumps(labels))
    for picture in (EYE_LABELS.parent / "grace_hopper.jpg",):  # pictures kept beside the labels
        (tmp_path / picture.name).write_bytes(picture.read_bytes())
    read = real_eyes(path)["astronaut"]
    assert read[1].lids is None
    assert read[0].lids is not None and read[0].lids["upper"].shape == (3, 2)
    assert "lids_px" not in figures.landmark_error(read[1])


def test_degrading_for_small_eyes_touches_only_its_share_and_keeps_the_range() -> None:
    import torch

    from warpaint.engine.features.eyes.train_landmarks import DEGRADE_DRAWS, _degrade

    x = torch.rand(6, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    draws = torch.rand(6, DEGRADE_DRAWS, generator=torch.Generator().manual_seed(1))
    draws[:3, 0] = 0.1  # degraded at share 0.5
    draws[3:, 0] = 0.9  # kept
    out = _degrade(x, draws, 0.5)
    assert out.shape == x.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out[3:], x[3:])
    # Taken down to a small eye and back: the pixel noise of the input is smoothed away.
    assert float(out[:3].std()) < 0.5 * float(x[:3].std())
    assert torch.equal(_degrade(x, draws, 0.0), x)
