"""`warpaint bench faces`: faces found, missed and false per picture, and the time.

Pictures (see `face_samples.py`): scikit-image's astronaut and camera and
matplotlib's portrait of Grace Hopper (real photos; face boxes drawn by eye,
kept in `tests/data/faces/labels.json` with the Hopper picture and used when
the source tree is there), two group pictures of eight real LFW
faces at 120 and 75 px (tilted up to 30 degrees, two half in shadow) that
the detector was tuned on, four (two with --quick) of other LFW faces it was
not tuned on (`face_samples.random_faces`), a picture with no human face
(LFW non-faces, textures, objects, a cat), and a 12 MP group picture of
eight faces 117-156 px wide. A found box counts for a
labelled face when their intersection over union is >= `MATCH_IOU`.

Landmark error and gaze iris displacement per degree on the same real eyes
and on rendered ones (`real_eye_figures`, measured as `real_eye_figures.py`
describes).

Blink lid coverage (`blink_figures`): the attributes effect's openness
slider at -2 and -1 on labelled real eyes (`real_eyes.py`: the astronaut's
two, and eyes of LFW faces at group-picture size), each framed from its
labelled corners; the share of the iris's dark pixels that become lid.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark

MATCH_IOU = 0.4
LABELS = Path(__file__).resolve().parents[3] / "tests" / "data" / "faces" / "labels.json"

Box = tuple[float, float, float, float]


def _box(values: object) -> Box:
    x, y, w, h = (float(v) for v in values)  # type: ignore[attr-defined]
    return (x, y, w, h)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def score(found: list[Box], labelled: list[Box]) -> dict[str, int]:
    """found / missed / false: each labelled face takes at most one found box."""
    free = list(found)
    hits = 0
    for lab in labelled:
        best = max(free, key=lambda b: iou(b, lab), default=None)
        if best is not None and iou(best, lab) >= MATCH_IOU:
            free.remove(best)
            hits += 1
    return {"found": hits, "missed": len(labelled) - hits, "false": len(free)}


def pictures(quick: bool, labels: Path = LABELS) -> list[tuple[str, np.ndarray, list[Box]]]:
    """(name, (H, W, 3) uint8 image, labelled boxes) of every benchmark picture."""
    from skimage import data

    from warpaint.engine.features.eyes.face_samples import (
        false_face_picture,
        group_picture,
        random_faces,
    )
    from warpaint.engine.features.eyes.real_eyes import labelled_picture

    out: list[tuple[str, np.ndarray, list[Box]]] = []
    if labels.is_file():
        for name, entry in json.loads(labels.read_text())["photos"].items():
            if "file" in entry:
                image = labelled_picture(labels.parent / entry["file"])
            else:
                image = np.asarray(getattr(data, name)())
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            out.append((name, image, [_box(f["box"]) for f in entry["faces"]]))
    for name, (w, h, size, seed) in {
        "group_120px": (1600, 1000, 120, 0),
        "group_75px": (1200, 800, 75, 3),
    }.items():
        image, faces = group_picture(w, h, size, seed)
        out.append((name, image, [_box(f.box) for f in faces]))
    for k in range(2 if quick else 4):
        image, faces = group_picture(1600, 1000, (80, 100, 120, 90)[k], 10 + k, random_faces(k))
        out.append((f"held_out_{k + 1}", image, [_box(f.box) for f in faces]))
    out.append(("no_faces", false_face_picture(), []))
    if not quick:
        image, faces = group_picture(4000, 3000, 130, 1)
        out.append(("group_12mp", image, [_box(f.box) for f in faces]))
    return out


def evaluate(
    detector: Callable[[np.ndarray], list[Box]], quick: bool = False, repeats: int = 1
) -> dict[str, dict[str, Any]]:
    """Per picture: found, missed, false and seconds of `detector` (image -> boxes),
    the fastest of `repeats` runs (other work on a shared machine only adds time)."""
    result: dict[str, dict[str, Any]] = {}
    todo = pictures(quick)
    detector(todo[0][1])  # loads the cascades and the landmark model
    for name, image, labelled in todo:
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            found = detector(image)
            times.append(time.perf_counter() - t0)
        seconds = min(times)
        result[name] = {
            **score(found, labelled),
            "faces": len(labelled),
            "size": f"{image.shape[1]}x{image.shape[0]}",
            "seconds": round(seconds, 3),
        }
    return result


def _detect(image: np.ndarray) -> list[Box]:
    from warpaint.engine.features.eyes.detect import detect_faces

    return [_box(f.box) for f in detect_faces(image)]


@benchmark(
    "faces",
    "face detection: found / missed / false faces per picture and seconds; "
    "landmark error, blink lid coverage and gaze iris displacement per degree "
    "(real vs rendered) on labelled real eyes",
)
def bench_faces(quick: bool, device: str | None) -> dict[str, Any]:
    import cv2

    from warpaint.engine.runtime.device import machine_info

    per_picture = evaluate(_detect, quick, repeats=1 if quick else 3)
    totals = {k: sum(p[k] for p in per_picture.values()) for k in ("found", "missed", "false")}
    return {
        "machine": machine_info(),
        "opencv": cv2.__version__,
        "labels": str(LABELS) if LABELS.is_file() else "missing: real photos skipped",
        "match_iou": MATCH_IOU,
        "seconds": "fastest of 3 runs (1 with --quick)",
        "pictures": per_picture,
        "total": totals,
        "blink_lid_coverage": blink_figures(),
        **real_eye_figures(),
    }


def real_eye_figures() -> dict[str, Any]:
    """Landmark error (at the eyes' own size and at 20 px eye width) and gaze iris
    displacement per degree on the labelled real eyes and on rendered ones
    (`real_eye_figures.py` says how each is measured)."""
    from warpaint.engine.features.eyes import real_eye_figures as figures
    from warpaint.engine.features.eyes.real_eyes import EYE_LABELS, real_eyes

    eyes = real_eyes()
    if not eyes:
        missing = {"labels": f"missing: {EYE_LABELS}"}
        return {"landmark_error": missing, "gaze_iris_displacement": missing}
    return {
        "landmark_error": {
            "measure": "mean distance (px) of the regressor's corners and iris centre from the "
            "labels, refining from six starts off by 10-15 % of the eye's width "
            "(goal at 20 px eye width: <= 2 px)",
            "native": figures.landmark_errors(eyes, None),
            "eye_width_20px": figures.landmark_errors(eyes, figures.EYE_WIDTH),
            "detection_20px": figures.detection_errors(eyes, figures.EYE_WIDTH),
        },
        "gaze_iris_displacement": {
            "measure": "iris shift (px) per degree of horizontal gaze between -15 and +15, "
            "found by matching the original's iris disc in the result, eyes scaled to 20 px; "
            "ratio = real / rendered (goal: >= 0.7)",
            "labelled_corners": figures.gaze_displacement(eyes),
            "regressor_corners": figures.gaze_displacement(eyes, framing="regressor"),
            "detected_corners": figures.gaze_displacement(eyes, framing="detection"),
        },
    }


def blink_figures() -> dict[str, Any]:
    """Lid coverage of the attributes effect's blink (openness -2 and -1) on each
    set of labelled real eyes (`real_eyes.py`): per set the mean and the
    lowest share of the iris's dark pixels that become lid, per eye at -2."""
    from warpaint.engine.features.eyes.real_eyes import EYE_LABELS, blink_coverage, real_eyes

    eyes = real_eyes()
    if not eyes:
        return {"labels": f"missing: {EYE_LABELS}"}
    closed, half = blink_coverage(eyes, -2.0), blink_coverage(eyes, -1.0)
    return {
        "labels": str(EYE_LABELS),
        "measure": "share of the labelled iris's dark pixels that are skin-toned lid or "
        "lash line after the edit (goal at openness -2: >= 0.6)",
        "sets": {
            name: {
                "eyes": figures["eyes"],
                "closed_mean": figures["covered_mean"],
                "closed_min": figures["covered_min"],
                "half_closed_mean": half[name]["covered_mean"],
                "closed_per_eye": {
                    eye: {k: v for k, v in f.items() if k != "dark_pixels"}
                    for eye, f in figures["per_eye"].items()
                },
            }
            for name, figures in closed.items()
        },
    }
