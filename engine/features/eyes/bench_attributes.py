"""`warpaint bench attributes`: how good the shipped eye-attribute model is.

On rendered eyes the model never saw (their own seeds):
- reconstruction PSNR of d(e(x)) against x;
- per slider, ROC-AUC of z . v as a classifier of the attribute (White 2016's
  check) on eyes where the attribute is clearly low or high;
- per slider, the paired edit: x1 + d(e(x1) + v) - d(e(x1)) against the true
  rendering x2 of the same eye one unit further, as MSE relative to leaving
  the eye alone (MSE(x1, x2)); below 1 means the edit moves toward the
  truth, the goal is <= 0.6;
- speed: a decode, and a slider step of the `attributes` effect on a region
  whose encoding is cached (what a drag costs), at the crop size.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark

if TYPE_CHECKING:
    from warpaint.engine.features.eyes.autoencoder import AttributeModel


def slider_speed(model: AttributeModel, repeats: int = 60) -> dict[str, float]:
    """Median seconds of a decode and of a cached-encoding slider step at the crop size."""
    import torch

    from warpaint.engine.features.eyes.attributes import EncodingCache, edit_region

    h, w = model.config.height, model.config.width
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((1, 4, h, w), dtype=np.float32))
    image[:, 3] = 1.0
    z = torch.zeros(1, model.config.latent)
    names = list(model.attributes)
    cache = EncodingCache()
    decode_t, step_t = [], []
    with torch.inference_mode():
        for i in range(repeats):
            t0 = time.perf_counter()
            model.net.decode(z)
            decode_t.append(time.perf_counter() - t0)
            values = {n: 0.02 * (i + 1) for n in names[:2]} if names else {}
            t0 = time.perf_counter()
            edit_region(model, image, (0, 0, w, h), values, cache=cache)
            step_t.append(time.perf_counter() - t0)
    dec, step = float(np.median(decode_t)), float(np.median(step_t[1:]))
    return {
        "decode_ms": round(dec * 1000, 3),
        "decode_fps": round(1.0 / dec, 1),
        "slider_step_ms": round(step * 1000, 3),
        "slider_step_fps": round(1.0 / step, 1),
    }


@benchmark(
    "attributes", "eye-attribute sliders: reconstruction PSNR, ROC-AUC, paired edit MSE, fps"
)
def bench_attributes(quick: bool, device: str | None) -> dict[str, Any]:
    import torch

    from warpaint.engine.features.eyes.attributes import default_model_path
    from warpaint.engine.features.eyes.autoencoder import load_attribute_model

    path = default_model_path()
    model = load_attribute_model(path)
    result: dict[str, Any] = {
        "model": path.name,
        "crop": [model.config.height, model.config.width],
        "latent": model.config.latent,
        "torch_threads": torch.get_num_threads(),
    }
    from warpaint.engine.features.eyes.train_autoencoder import evaluate_eye_model

    result.update(evaluate_eye_model(model, n=40 if quick else 400))
    result.update(slider_speed(model, repeats=10 if quick else 100))
    result.update(effect_speed(repeats=10 if quick else 50))
    return result


def effect_speed(repeats: int = 50, side: int = 512) -> dict[str, float]:
    """Median ms of the `attributes` effect on a side x side layer, one eye-sized region.

    Each call moves a slider (the region's encoding is cached after the first),
    through `apply.run_effect`: the layer's conversion to a tensor and back
    included, as a preview of a drag pays it.
    """
    from warpaint.engine.runtime.apply import run_effect
    from warpaint.engine.runtime.jobs import Job, JobContext
    from warpaint.engine.runtime.registry import get_effect

    spec = get_effect("attributes")
    rng = np.random.default_rng(1)
    image = rng.random((side, side, 4), dtype=np.float32)
    image[..., 3] = 1.0
    ctx = JobContext(Job(lambda c: None, device="cpu"))
    times = []
    for i in range(repeats + 1):
        params = spec.resolve({"region": (200.0, 100.0, 40.0, 30.0), "pupil": 0.01 * (i + 1)})
        t0 = time.perf_counter()
        run_effect(ctx, spec, image, params)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times[1:]))
    return {
        f"effect_step_ms_{side}px": round(med * 1000, 3),
        f"effect_step_fps_{side}px": round(1.0 / med, 1),
    }
