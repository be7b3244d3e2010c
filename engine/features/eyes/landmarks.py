"""A small eye-landmark regressor, trained on the procedural renderer.

It looks at an eye crop in the canonical frame (`align.py`), taken from
corners that are only roughly right (a Haar eye box, a user's click, or its
own previous answer), and predicts where the landmarks really are in that
crop: both corners, the upper and lower lid contours and the iris centre and
radius. Applied a few times, each pass re-cropping at the corners the previous
pass found, it converges on the eye.

The network is a plain 4-stage CNN (about 0.25 M parameters, 1 MB of
float32 weights); `warpaint train eye-landmarks` trains it on renders whose
crop frame is jittered in scale, rotation and position as much as detection
errors are. Torch is imported only inside functions, so importing this module
stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from warpaint.engine.features.eyes.render import (
    LID_POINTS,
    EyeAppearance,
    EyeLandmarks,
    EyeLook,
    random_glasses,
    render_eye,
)

if TYPE_CHECKING:
    import torch

KIND = "eye-landmarks"
MODEL_NAME = "eye-landmarks.safetensors"
CROP_SIZE = (48, 64)
# Second entropy word of the draws for glasses and loose framing (`training_sample`).
_EXTRA_STREAM = 7
# The eye's size in a loosely framed crop, against the frame's (`training_sample`):
# a face-box start frames an eye 0.11 of the face wide (glasses, narrowed eyes)
# as one of 0.18.
LOOSE_SCALE = (0.55, 1.4)
# corners (2) + upper lid (K) + lower lid (K) + iris centre (1) points, then the iris radius.
N_POINTS = 2 + 2 * LID_POINTS + 1
N_OUTPUTS = 2 * N_POINTS + 1
# A strided 5x5 stem, then (channels, convolutions) per stage, each stage
# ending with a 2x max-pool: 48x64 -> 3x4 cells.
STEM = 16
STAGES = ((32, 1), (48, 2), (64, 1))
HIDDEN = 128


def landmarks_to_vector(lm: EyeLandmarks, size: tuple[int, int] = CROP_SIZE) -> np.ndarray:
    """(N_OUTPUTS,) float32: points as (x - W/2) / W, (y - H/2) / W, then radius / W."""
    h, w = size
    pts = lm.as_array() - np.array([w / 2.0, h / 2.0], np.float32)
    return np.concatenate([pts.reshape(-1) / w, [lm.iris_radius / w]]).astype(np.float32)


def vector_to_landmarks(vec: np.ndarray, size: tuple[int, int] = CROP_SIZE) -> EyeLandmarks:
    """Inverse of `landmarks_to_vector`."""
    h, w = size
    v = np.asarray(vec, dtype=np.float64)
    pts = v[: 2 * N_POINTS].reshape(N_POINTS, 2) * w + np.array([w / 2.0, h / 2.0])
    k = LID_POINTS
    return EyeLandmarks(
        corners=pts[0:2],
        upper_lid=pts[2 : 2 + k],
        lower_lid=pts[2 + k : 2 + 2 * k],
        iris_centre=pts[2 + 2 * k],
        iris_radius=float(max(v[2 * N_POINTS] * w, 0.5)),
    )


def training_sample(
    seed: int,
    size: tuple[int, int] = CROP_SIZE,
    jitter: float = 1.0,
    glasses: float = 0.0,
    loose: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One rendered eye whose crop frame is off by a detector-sized error.

    Returns ((H, W, 3) float32 crop in [0, 1], (N_OUTPUTS,) target vector).
    `jitter` scales the frame error (0 = the canonical frame's own small jitter);
    `glasses` is the share of eyes behind glasses (`render.random_glasses`) and
    `loose` the share framed as loosely as a start from the face box alone
    (`LOOSE_SCALE`: narrowed or half-closed eyes, eyes behind glasses the eye
    cascades miss), both drawn from a stream of their own so the other draws
    stay those of `seed`.
    """
    rng = np.random.default_rng(seed)
    app = EyeAppearance.random(rng)
    extra = np.random.default_rng([seed, _EXTRA_STREAM])
    if glasses > 0 and extra.random() < glasses:
        app = random_glasses(extra, app)
    if loose > 0 and extra.random() < loose:
        app = replace(app, scale=app.scale * float(np.exp(extra.uniform(*np.log(LOOSE_SCALE)))))
    # A quarter of the samples are near-canonical: the later refinement passes.
    j = jitter * (0.25 if rng.random() < 0.25 else 1.0)
    app = replace(
        app,
        scale=float(np.exp(rng.uniform(-0.28, 0.28) * j)) * app.scale,
        rotation=app.rotation + float(np.clip(rng.normal(0.0, 8.0), -18, 18)) * j,
        shift=(
            app.shift[0] + float(rng.uniform(-0.12, 0.12)) * j,
            app.shift[1] + float(rng.uniform(-0.14, 0.14)) * j,
        ),
    )
    look = EyeLook(
        yaw=float(rng.uniform(-30.0, 30.0)),
        pitch=float(rng.uniform(-25.0, 25.0)),
        openness=float(np.clip(rng.normal(0.85, 0.25), 0.25, 1.2)),
        pupil=float(rng.uniform(0.25, 0.65)),
    )
    img, lm = render_eye(app, look, size, seed=int(rng.integers(0, 2**31 - 1)))
    return img, landmarks_to_vector(lm, size)


def standardise(crops: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) float in [0, 1] -> (N, 3, H, W) float32 with zero mean, unit std
    per image (exposure and contrast vary far more in photos than in training)."""
    x = np.asarray(crops, dtype=np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True) + 0.02
    return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))


def build_network() -> torch.nn.Module:
    """The regressor: (N, 3, 48, 64) standardised crops -> (N, N_OUTPUTS)."""
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(3, STEM, 5, stride=2, padding=2), nn.ReLU(inplace=True)]
    cin = STEM
    for cout, convs in STAGES:
        for _ in range(convs):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    h, w = CROP_SIZE[0] // 16, CROP_SIZE[1] // 16
    layers += [
        nn.Flatten(),
        nn.Linear(cin * h * w, HIDDEN),
        nn.ReLU(inplace=True),
        nn.Linear(HIDDEN, N_OUTPUTS),
    ]
    return nn.Sequential(*layers)


def default_model_path() -> Path:
    """The shipped weights: $WARPAINT_EYE_LANDMARKS, else resources/models/."""
    from warpaint.engine.runtime.models import ModelFile

    return ModelFile(
        MODEL_NAME, "warpaint train eye-landmarks", "WARPAINT_EYE_LANDMARKS"
    ).default_path()


class LandmarkRegressor:
    """A loaded regressor on the CPU (crops are tiny: the CPU is the fast place)."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network.eval()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LandmarkRegressor:
        """Read weights written by `warpaint train eye-landmarks` (BadInputError if unusable)."""
        from warpaint.engine.runtime.errors import BadInputError
        from warpaint.engine.runtime.models import load_model

        tensors, meta = load_model(path, KIND)
        if meta.get("crop_size") != list(CROP_SIZE) or meta.get("outputs") != N_OUTPUTS:
            raise BadInputError(
                f"{path}: eye-landmark model for crops {meta.get('crop_size')} with "
                f"{meta.get('outputs')} outputs, this version needs {list(CROP_SIZE)}, {N_OUTPUTS}"
            )
        net = build_network()
        try:
            net.load_state_dict(tensors)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise BadInputError(f"{path}: weights do not fit the network ({first})") from None
        return cls(net)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, 48, 64, 3) float crops in [0, 1] -> (N, N_OUTPUTS) float32 vectors."""
        import torch

        x = torch.from_numpy(standardise(crops))
        with torch.inference_mode():
            return self.network(x).numpy().astype(np.float32)


def default_regressor() -> LandmarkRegressor | None:
    """The shipped regressor (cached per file version), or None when its file is
    missing (detection then falls back to the Haar boxes' geometry)."""
    from warpaint.engine.runtime.models import cached_model

    path = default_model_path()
    if not path.is_file():
        return None
    return cached_model(path, "cpu", LandmarkRegressor.load)
