"""`warpaint demo`: the headless main job.

Opens the bundled sample, applies every registered effect with its demo
settings (an effect module may define `DEMO_PARAMS`; otherwise its defaults),
exports each result, saves the layered document as OpenRaster and, when Qt is
available, an offscreen screenshot of the main window showing it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from warpaint.engine.core.document import DocState, Document
from warpaint.engine.core.samples import sample_document
from warpaint.engine.core.transform import resize_image
from warpaint.engine.runtime.apply import commit_effect, effect_job
from warpaint.engine.runtime.device import choose_device
from warpaint.engine.runtime.errors import BadInputError, WarpaintError
from warpaint.engine.runtime.jobs import JobRunner, JobState
from warpaint.engine.runtime.registry import EffectSpec, effects

QUICK_SIDE = 192


def demo_params(spec: EffectSpec, quick: bool) -> dict[str, Any]:
    module = importlib.import_module(spec.module)
    params = dict(getattr(module, "DEMO_PARAMS", {}))
    if quick:
        params.update(getattr(module, "DEMO_PARAMS_QUICK", {}))
    # A callable value is made when the demo runs (e.g. a generated style
    # image), so listing effects never pays for it.
    return {name: value() if callable(value) else value for name, value in params.items()}


def layer_refs(params: dict[str, Any], state: DocState) -> dict[str, Any]:
    """`params` with each "layer:NAME" value replaced by the id of that layer of
    `state`, so DEMO_PARAMS can name the sample's layers (ids differ per run)."""

    def ref(value: Any) -> Any:
        if not (isinstance(value, str) and value.startswith("layer:")):
            return value
        name = value.removeprefix("layer:")
        ids = [layer.id for layer in state.layers if layer.name == name]
        if not ids:
            raise BadInputError(f"the demo document has no layer {name!r}")
        return ids[0]

    out = {}
    for key, value in params.items():
        if isinstance(value, tuple) and all(isinstance(v, tuple) for v in value):
            out[key] = tuple((ref(v[0]), *v[1:]) for v in value)  # an image list
        else:
            out[key] = ref(value)
    return out


def run_demo(
    out_dir: Path,
    quick: bool = False,
    device: str | None = None,
    screenshot: bool = True,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Run the demo into `out_dir`; returns the files written."""
    from warpaint.engine.io import export_image, save_document

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(
            f"{out_dir}: cannot create the output folder ({exc.strerror})"
        ) from None
    doc = sample_document()
    if quick:
        doc = Document(resize_image(doc.state, QUICK_SIDE, QUICK_SIDE), label="Sample")
    source = doc.layers[0]
    runner = JobRunner(choose_device(device))
    written: list[Path] = []
    try:
        for spec in effects().values():
            t = time.perf_counter()
            job = runner.submit(
                effect_job(
                    doc.state,
                    source.id,
                    spec.id,
                    layer_refs(demo_params(spec, quick), doc.state),
                ),
                spec.title,
            )
            job.wait()
            if job.state is not JobState.DONE:
                if isinstance(job.error, WarpaintError):
                    raise job.error
                raise RuntimeError(f"{spec.id}: {job.state.value}: {job.error_message}")
            layer = commit_effect(doc, job.result)
            path = out_dir / f"{spec.id}.png"
            alone = DocState(doc.state.width, doc.state.height, (replace(layer, opacity=1.0),))
            export_image(alone, str(path))
            written.append(path)
            log(f"{spec.id}: {time.perf_counter() - t:.2f} s")
    finally:
        runner.shutdown()
    from warpaint.engine.features.fast_style import effect as fast_style

    if fast_style.PRESETS:
        # Every shipped preset on the sample, side by side with the original.
        side = QUICK_SIDE // 2 if quick else 256
        sheet = out_dir / "fast-style-presets.png"
        written.append(fast_style.write_preset_sheet(source.pixels.read_float(), sheet, side))
    if not quick:
        from warpaint.engine.features.eyes.effect_gaze import write_demo_grid

        # The astronaut redirected +-10 degrees each way, to judge by eye.
        written.append(write_demo_grid(source.pixels.read_float(), out_dir / "gaze-grid.png"))
    ora = out_dir / "demo.ora"
    save_document(doc, str(ora))
    written.append(ora)
    if screenshot:
        shot = out_dir / "screenshot.png"
        try:
            from warpaint.gui.app import save_screenshot
        except ImportError as exc:
            log(f"screenshot skipped: the GUI is not available ({exc})")
        else:
            save_screenshot(doc, str(shot))
            written.append(shot)
    return written
