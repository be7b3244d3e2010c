"""The life of the effect being edited: its target, its values, its preview jobs.

An `EffectSession` knows the document, the current layer and the effect whose
panel is shown. It turns the panel's values into preview jobs on the engine's
lanes and keeps what they produce as a `ShownState`: the document with the
preview placed as Apply would place it (the target layer's pixels replaced, or
a layer added above it), which the canvas composites like any other state, so
blend modes, opacity, visibility, masks and layer order all apply to it.

A preview is superseded by the next one and cancelled (on either lane) when
the effect, the current layer or the document changes. Parameters whose
metadata says they belong to one image (`Param.image_bound`: eye points, a
region, a face, a mask) are reset on every panel when another document opens
or another layer becomes current, and found again by the effect's `prefill`
hook; settings (a radius, a preset) stay. Effects declared `long` (an
optimisation taking seconds per preview) never preview on their own: only
`preview(explicit=True)` (the panel's Preview button) starts one. Their
preview stays when the user changes a setting (or the selection it is
restricted to), marked `stale` until Preview is pressed again (or the settings
are back to those it was made with); a quick preview follows such a change.

An edit of the document drops the preview, which was made from the previous
state, except where the edit leaves the result as it was: a mask painted on a
layer the effect does not read (its own target's mask included) only
re-places the same result on the new state, as Apply would place it there.

The faces found with those values are listed in `faces`; `pick_face` finds
the values of another one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, Signal

from warpaint.engine.core.compositing import composite
from warpaint.engine.core.document import DocState, Document, Layer, new_layer_id
from warpaint.engine.core.lod import MAX_LEVEL, reduced_size, shared_lod
from warpaint.engine.core.resample import resize
from warpaint.engine.core.selection import Selection
from warpaint.engine.core.tiles import Rect, TiledImage, from_float
from warpaint.engine.features.eyes.faces import ALL_FACES
from warpaint.engine.runtime.apply import (
    EffectResult,
    commit_effect,
    effect_job,
    insert_above,
    layer_mask,
    masked_result,
    place_result,
    result_layer,
)
from warpaint.engine.runtime.errors import WarpaintError
from warpaint.engine.runtime.jobs import Job, JobContext, JobState
from warpaint.engine.runtime.params import ParamType
from warpaint.engine.runtime.registry import EffectSpec, get_effect
from warpaint.gui.bridge import JobBridge
from warpaint.gui.canvas import Drawn, ReducedPixels, Since, with_layer_mask
from warpaint.gui.param_widgets import SELECTION


class EffectControls(Protocol):
    """What the session needs of an effect's panel (`EffectPanel` is one)."""

    spec: EffectSpec

    def values(self) -> dict[str, Any]: ...

    @property
    def target(self) -> str: ...

    @property
    def restrict_to_selection(self) -> bool: ...

    @property
    def live_preview(self) -> bool: ...

    def prefill(self, values: dict[str, Any]) -> list[str]: ...

    def take_values(self, values: dict[str, Any]) -> None: ...

    def reset_image_bound(self) -> None: ...

    def set_busy(self, busy: bool) -> None: ...

    def show_progress_data(self, data: Any) -> None: ...

    def clear_progress_data(self) -> None: ...

    def remember_images(self) -> None: ...


@dataclass(frozen=True)
class _Placement:
    """What a shown preview was made from, to place it again or tell it is stale."""

    result: EffectResult
    target: str
    mask: np.ndarray | None
    level: int
    base: DocState  # the document's state the result was computed from
    settings: tuple[Any, ...]  # the panel's values, target and selection restriction


@dataclass(frozen=True)
class ShownState:
    """A document state with an effect preview placed in it.

    `state` is full size; where the preview was computed at a reduced size
    (a layer longer than the preview limit), `reduced` holds the previewed
    layer's pixels at that level of detail and `state` holds that layer's
    place (its own pixels for 'replace', a transparent layer for 'new_layer').
    """

    state: DocState
    reduced: ReducedPixels | None = None
    # A patch preview's canvas rectangle composited by the preview job, so the
    # canvas copies it instead of compositing it on the GUI thread.
    drawn: Drawn | None = field(default=None, compare=False)
    # The previous patch preview and where this one differs from it, so the
    # canvas redraws that rectangle without comparing the layers' tiles.
    since: Since | None = field(default=None, compare=False)


def preview_level(width: int, height: int, max_side: int) -> int:
    """The finest level of detail at which a width x height layer's longer side
    fits `max_side` pixels: previews of bigger layers are computed there."""
    side, level = max(width, height), 0
    while level < MAX_LEVEL and reduced_size(side, 2**level) > max_side:
        level += 1
    return level


def place_preview(
    state: DocState,
    result: EffectResult,
    target: str,
    mask: np.ndarray | None,
    preview_layer_id: int,
    level: int = 0,
) -> ShownState:
    """`state` with a preview `result` placed as Apply would place a full result.

    `result.pixels` is (h, w, 4) float32: the whole layer, a patch of it at
    `result.origin`, or (with `level` > 0) the layer reduced by 2**level. A
    layer added for 'new_layer' gets `preview_layer_id`, the same for every
    preview of an effect, so the canvas redraws only the pixels a new preview
    changed. `mask` is canvas-sized (H, W) or (H, W, 1) float32, as for Apply.
    """
    source = state.layer(result.layer_id)
    if level == 0 and result.origin is None:
        placed, layer, _ = place_result(state, result, target, mask)
        if target == "new_layer":
            placed = placed.map_layers(
                lambda lay: lay.with_(id=preview_layer_id) if lay is layer else lay
            )
        return ShownState(placed)
    if level == 0:
        assert result.origin is not None
        x, y = result.origin
        if mask is not None:
            # Restricted to a selection, the whole new layer depends on the mask.
            whole = source.pixels.read_float()
            h, w = result.pixels.shape[:2]
            whole[y : y + h, x : x + w] = result.pixels
            full = dataclasses.replace(result, pixels=whole, origin=None)
            return place_preview(state, full, target, mask, preview_layer_id)
        pixels = source.pixels.with_region(x, y, result.pixels)
        if target == "replace":
            return ShownState(state.replace_layer(source.with_(pixels=pixels)))
        title = get_effect(result.effect_id).title
        layer = result_layer(source, title, pixels, preview_layer_id)
        return ShownState(insert_above(state, source, layer))
    factor = 2**level
    w, h = reduced_size(source.pixels.width, factor), reduced_size(source.pixels.height, factor)
    pixels = result.pixels
    if pixels.shape[:2] != (h, w):
        pixels = resize(pixels, w, h)
    if mask is not None:
        original = shared_lod().image_at(source.pixels, level).read_float()
        pixels = masked_result(pixels, original, layer_mask(mask, source, (h, w), level), target)
    small = TiledImage.from_array(from_float(np.clip(pixels, 0.0, 1.0), source.pixels.dtype))
    if target == "replace":
        return ShownState(state, ReducedPixels(source.id, level, small))
    blank = TiledImage.blank(source.pixels.width, source.pixels.height, 4, source.pixels.dtype)
    layer = result_layer(source, get_effect(result.effect_id).title, blank, preview_layer_id)
    return ShownState(insert_above(state, source, layer), ReducedPixels(layer.id, level, small))


class EffectSession(QObject):
    """The effect being edited on the current layer of the current document."""

    shown_changed = Signal()  # `shown` changed: the canvas shows it (None: the document)
    message = Signal(str)  # a status line for the user
    failed = Signal(str, object)  # title, reason: an error the user must see
    apply_finished = Signal()
    faces_changed = Signal()  # `faces` or `face` changed

    def __init__(
        self,
        bridge: JobBridge,
        preview_max_side: int,
        selection: Callable[[], Selection | None],
        panels: Sequence[EffectControls] = (),
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.preview_max_side = preview_max_side
        self._selection = selection
        self.panels = list(panels)
        self.doc: Document | None = None
        self.layer_id: int | None = None
        self.controls: EffectControls | None = None
        self.shown: ShownState | None = None
        self._placed: _Placement | None = None
        self._job: Job | None = None
        # Effects the user edited: only those preview again when shown, so
        # browsing effects starts no work.
        self._touched: set[str] = set()
        # Effects just applied: they preview again only after an edit, not on their
        # own (the new layer Apply made would show the effect twice).
        self._applied: set[str] = set()
        # (layer id, id of its pixels) each effect's `prefill` hook last ran on.
        self._prefilled: dict[str, tuple[int, int]] = {}
        self._preview_layer_id = new_layer_id()
        # Faces the current layer holds, (x, y, w, h) in layer pixels from the
        # image's left, found with the values of an effect's `prefill` hook;
        # `face` is the one the effect's values were found for.
        self.faces: list[tuple[int, int, int, int]] = []
        self.face: int | None = None
        # Asked when Apply is cancelled after reporting previews: keep the last one?
        self.confirm_keep: Callable[[str], bool] = lambda _title: False

    # -- what is shown ------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """True while a preview job of this session runs or waits."""
        return self._job is not None

    @property
    def stale(self) -> bool:
        """True while a slow effect's preview shows that was made with other
        settings than the panel's (it waits for the Preview button)."""
        controls, placed = self.controls, self._placed
        if self.shown is None or controls is None or placed is None or not controls.spec.long:
            return False
        return not _same(self._settings(controls), placed.settings)

    def shown_state(self) -> DocState | None:
        """The full-size state the canvas should show: the preview or the document."""
        if self.shown is not None:
            return self.shown.state
        return self.doc.state if self.doc is not None else None

    def current_layer(self) -> Layer | None:
        if self.doc is None or self.layer_id is None:
            return None
        try:
            return self.doc.layer(self.layer_id)
        except KeyError:
            return None

    # -- what changes ---------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        """Another document: previews end, image-bound values are found again."""
        self._drop_preview()
        self.doc, self.layer_id = doc, None
        self._touched.clear()
        self._applied.clear()
        self._prefilled.clear()
        self._set_faces([], None)
        for panel in self.panels:
            panel.reset_image_bound()
        self.shown_changed.emit()

    def set_layer(self, layer_id: int | None) -> None:
        """Another current layer: previews end, image-bound values are found again."""
        if layer_id == self.layer_id:
            return
        self._drop_preview()
        previous, self.layer_id = self.layer_id, layer_id
        if previous is not None:
            for panel in self.panels:
                panel.reset_image_bound()
            self._prefilled.clear()
            self._set_faces([], None)
        self.shown_changed.emit()
        self._start()

    def set_effect(self, controls: EffectControls | None) -> None:
        """Another effect's panel is shown: the previous effect's preview ends."""
        self._drop_preview()
        self.controls = controls
        self.shown_changed.emit()
        self._start()

    def edited(self, controls: EffectControls) -> None:
        """The user changed a value (or the live-preview box) of `controls`."""
        self._touched.add(controls.spec.id)
        self._applied.discard(controls.spec.id)
        if controls is not self.controls:
            return
        if not controls.spec.long:
            self.preview()
        elif self.shown is not None:
            # A slow preview stays until Preview is pressed: whether it still
            # matches the panel (`stale`) is what changed.
            self.shown_changed.emit()

    def document_edited(self) -> None:
        """The document changed: a preview follows the edit (a slow one ends),
        unless the edit leaves the preview's result as it was (see `_replace`)."""
        if self.doc is None or (self.shown is None and self._job is None):
            return
        if self._replace(self.doc.state):
            job, controls = self._job, self.controls
            if job is not None and controls is not None:
                # The preview being computed reads the previous state: a quick one
                # starts again on this one, a slow one waits for Preview.
                if controls.spec.long:
                    self.bridge.cancel(job)
                    self._job = None
                else:
                    self.preview()
            return
        # The preview on screen was made from the previous state: it goes at once.
        self.clear()
        if self.current_layer() is not None and self.controls is not None:
            self.preview()

    def _replace(self, state: DocState) -> bool:
        """Carry an edit into the shown preview where `state` differs from the
        state the preview was computed from only in layer masks that the effect
        does not read (a mask stroke): the result is the same, and those masks
        apply to it as Apply would leave them. False where it must be computed
        again."""
        placed, shown = self._placed, self.shown
        if shown is None or placed is None:
            return False
        masked = _mask_changes(placed.base, state)
        if masked is None:
            return False
        spec = get_effect(placed.result.effect_id)
        for p in spec.all_params(placed.result.params):
            if p.type in (ParamType.IMAGE, ParamType.MASK, ParamType.IMAGES) and (
                _layer_refs(placed.result.params.get(p.name)) & masked
            ):
                return False  # the effect reads a layer whose mask changed
        moved = shown.state
        for layer_id in masked:
            moved = with_layer_mask(moved, layer_id, state.layer(layer_id).mask)
        # The job's composite of a patch was made without these masks.
        self.shown = ShownState(moved, shown.reduced)
        self._placed = dataclasses.replace(placed, base=state)
        self.shown_changed.emit()
        return True

    def clear(self) -> None:
        """No preview: cancel the running one and show the document."""
        had = self.shown is not None
        self._drop_preview()
        if had:
            self.shown_changed.emit()

    def _drop_preview(self) -> None:
        if self._job is not None:
            self.bridge.cancel(self._job)
            self._job = None
        self.shown = None
        self._placed = None

    def _start(self) -> None:
        """After a change of effect or layer: find image-bound values, and preview
        at once where the effect was edited or its defaults make a result."""
        controls = self.controls
        if controls is None or self.current_layer() is None:
            return
        self.prefill(controls)
        spec = controls.spec
        wanted = (spec.id in self._touched or spec.preview_on_open) and spec.id not in self._applied
        if wanted and controls.live_preview and not spec.long:
            self.preview()

    # -- previews ------------------------------------------------------------------
    def preview(self, explicit: bool = False) -> Job | None:
        """Preview the current effect on the current layer (superseding the last).

        Live previews need the panel's live-preview box; `explicit` (the
        Preview button) previews slow effects too.
        """
        controls, layer, doc = self.controls, self.current_layer(), self.doc
        if controls is None or layer is None or doc is None:
            self.clear()
            return None
        if not explicit and (not controls.live_preview or controls.spec.long):
            self.clear()
            return None
        spec = controls.spec
        width, height = layer.pixels.width, layer.pixels.height
        level = preview_level(width, height, self.preview_max_side)
        state = doc.state
        try:
            params = self.effect_params(controls)
            # A power-of-two reduction, so the preview lines up with the canvas's
            # levels of detail and is composited there, not stretched over them.
            max_side = reduced_size(max(width, height), 2**level)
            fn = effect_job(state, layer.id, spec.id, params, max_side)
        except WarpaintError as exc:
            self.clear()
            self.message.emit(str(exc))
            return None
        target, mask = controls.target, self._mask(controls, state)
        preview_id = self._preview_layer_id
        settings = self._settings(controls)
        # The patch preview on screen, if this one lands on it: then only the
        # pixels where the two patches differ change.
        before, before_state = self._placed, self.shown.state if self.shown is not None else None
        if before is not None and (
            before.base is not state
            or before.target != target
            or before.mask is not None
            or mask is not None
        ):
            before = None

        def job(ctx: JobContext) -> tuple[EffectResult, ShownState, _Placement]:
            result = fn(ctx)
            at = level if result.scale != 1.0 else 0
            shown = place_preview(state, result, target, mask, preview_id, at)
            if result.origin is not None and shown.reduced is None:
                x, y = result.origin
                h, w = result.pixels.shape[:2]
                box = Rect(layer.x + x, layer.y + y, w, h)
                since = None
                changed = _patch_change(before.result, result) if before is not None else None
                if changed is not None and before_state is not None:
                    box = changed.translated(layer.x, layer.y)
                    since = (before_state, box)
                box = box.intersect(shown.state.bounds)
                drawn = None
                if not box.empty:
                    drawn = (box, from_float(composite(shown.state, box), np.uint8))
                shown = dataclasses.replace(shown, drawn=drawn, since=since)
            return result, shown, _Placement(result, target, mask, at, state, settings)

        if self._job is not None and self._job.lane == "long":
            self.bridge.cancel(self._job)
        label = f"Preview of {spec.title}"
        if spec.long:
            self._job = self.bridge.submit(job, label, on_done=self._on_preview_done)
        else:
            key = ("effect-preview", id(self))
            self._job = self.bridge.preview(key, job, label, on_done=self._on_preview_done)
        return self._job

    def _on_preview_done(self, job: Job) -> None:
        current = self._job
        if current is None or job is not current:
            return  # superseded, or the session moved on
        self._job = None
        if job.state is JobState.FAILED:
            self.message.emit(f"Preview failed: {job.error_message}")
            return
        if job.state is not JobState.DONE or self.doc is None:
            return
        _result, shown, placed = job.result
        if placed.base is not self.doc.state or placed.result.layer_id != self.layer_id:
            return  # the document was edited meanwhile; its own preview follows
        self.shown, self._placed = shown, placed
        self.shown_changed.emit()

    def effect_params(self, controls: EffectControls) -> dict[str, Any]:
        """The panel's values with canvas references resolved for the engine."""
        assert self.doc is not None
        values = controls.values()
        params: dict[str, Any] = {}
        state, selection = self.doc.state, self._selection()
        for p in controls.spec.all_params(values):
            value = values.get(p.name)
            if p.type is ParamType.MASK and value == SELECTION:
                # No selection means the whole layer, as everywhere else in the
                # editor; effects that need a mask say so themselves.
                value = (
                    None
                    if selection is None
                    else selection.mask(state.width, state.height)[..., None]
                )
            if value is None or (p.type in (ParamType.POINTS, ParamType.IMAGES) and value == ()):
                continue
            params[p.name] = value
        return params

    def _settings(self, controls: EffectControls) -> tuple[Any, ...]:
        """What a preview is made with: the panel's values, target and restriction,
        and the selection where the restriction or a mask parameter uses it."""
        values, restrict = controls.values(), controls.restrict_to_selection
        uses = restrict or any(isinstance(v, str) and v == SELECTION for v in values.values())
        return values, controls.target, restrict, self._selection() if uses else None

    def selection_edited(self) -> None:
        """The selection changed: a quick preview made with it follows (a slow one
        shows whether it is out of date)."""
        controls, placed = self.controls, self._placed
        if controls is None:
            return
        changed = placed is not None and not _same(self._settings(controls), placed.settings)
        if controls.spec.long:
            if self.shown is not None:
                self.shown_changed.emit()  # whether it is out of date may have changed
        elif changed or self._job is not None:
            self.preview()

    def _mask(self, controls: EffectControls, state: DocState) -> np.ndarray | None:
        selection = self._selection()
        if controls.restrict_to_selection and selection is not None:
            return selection.mask(state.width, state.height)
        return None

    # -- values found in the layer ----------------------------------------------------
    def prefill(self, controls: EffectControls) -> None:
        """Run the effect's `prefill` hook (e.g. eye detection) on the current layer
        once per layer content, off the GUI thread, and give the panel what it found."""
        hook = controls.spec.hook("prefill")
        layer = self.current_layer()
        if hook is None or layer is None:
            return
        stamp = (layer.id, id(layer.pixels))
        if self._prefilled.get(controls.spec.id) == stamp:
            return
        self._prefilled[controls.spec.id] = stamp
        pixels = layer.pixels

        def work(_ctx: JobContext) -> tuple[Any, list[tuple[int, int, int, int]]]:
            image = pixels.read_float()
            return hook(image), face_boxes(image)

        def found(job: Job) -> None:
            if job.state is JobState.FAILED:
                self.message.emit(f"{controls.spec.title}: {job.error_message}")
                return
            current = self.current_layer()
            if job.state is not JobState.DONE or current is None or current.pixels is not pixels:
                return  # the user moved on meanwhile
            values, faces = job.result
            self._set_faces(faces, 0 if faces else None)
            taken = controls.prefill(dict(values or {}))
            if not taken:
                return
            self.message.emit(
                f"{controls.spec.title}: set {_listed(controls, taken)} "
                "from what was detected in the layer"
            )
            if controls.spec.id in self._touched and controls is self.controls:
                # A value was edited before the detection came back: the preview
                # on screen used the values the panel had then.
                self.preview()

        self.bridge.preview(
            ("background", ("prefill", controls.spec.id)), work, on_done=found, background=True
        )

    def _set_faces(self, faces: list[tuple[int, int, int, int]], face: int | None) -> None:
        if (faces, face) != (self.faces, self.face):
            self.faces, self.face = faces, face
            self.faces_changed.emit()

    def pick_face(self, index: int) -> None:
        """Find the current effect's image-bound values for face `index` (in `faces`):
        its `prefill` hook runs on that face's part of the layer, off the GUI thread;
        the panel takes what it finds and the preview follows (picking is an edit).
        `ALL_FACES` (with more than one face found) puts the effect's face index
        there and the values found for one face back to their defaults, so the
        effect finds every face itself."""
        controls, layer = self.controls, self.current_layer()
        hook = controls.spec.hook("prefill") if controls is not None else None
        if controls is not None and hook is not None and index == ALL_FACES and len(self.faces) > 1:
            self._set_faces(self.faces, index)
            bound = [
                p
                for p in controls.spec.all_params(controls.values())
                if p.image_bound and p.type is not ParamType.MASK
            ]
            controls.take_values(
                {p.name: index if p.type is ParamType.INTEGER else p.default for p in bound}
            )
            self._touched.add(controls.spec.id)
            self._applied.discard(controls.spec.id)
            self.preview()
            return
        if controls is None or layer is None or hook is None or not 0 <= index < len(self.faces):
            return
        self._set_faces(self.faces, index)
        x, y, w, h = self.faces[index]
        margin = max(w, h) // 2  # the detectors need some of the head around the face
        crop = Rect(x - margin, y - margin, w + 2 * margin, h + 2 * margin)
        crop = crop.intersect(layer.pixels.bounds)
        pixels, spec = layer.pixels, controls.spec

        def found(job: Job) -> None:
            current = self.current_layer()
            if job.state is not JobState.DONE or current is None or current.pixels is not pixels:
                return
            values = _moved(spec, dict(job.result or {}), crop.x, crop.y)
            if not values:
                self.message.emit(f"{spec.title}: nothing found for face {index + 1}")
                return
            for p in spec.all_params(controls.values()):
                if p.image_bound and p.type is ParamType.INTEGER:
                    values[p.name] = index  # the effect's own face index, where it has one
            controls.take_values(values)
            self._touched.add(spec.id)
            self._applied.discard(spec.id)
            if controls is self.controls:
                self.preview()

        self.bridge.preview(
            ("background", ("face", spec.id)),
            lambda _ctx: hook(pixels.read_float(crop)),
            on_done=found,
            background=True,
        )

    # -- apply ----------------------------------------------------------------------
    def apply(self, controls: EffectControls) -> Job | None:
        """Run the effect at full resolution on the long lane; commit when done.

        The preview on the canvas gives way to the committed result in the same
        repaint; a cancelled run may keep its last progress picture (as a new
        layer, if `confirm_keep` says so), else the canvas shows the document.
        """
        layer, doc = self.current_layer(), self.doc
        if doc is None or layer is None:
            return None
        spec, target = controls.spec, controls.target
        title = f"Could not apply {spec.title}"
        try:
            params = self.effect_params(controls)
            fn = effect_job(doc.state, layer.id, spec.id, params)
        except WarpaintError as exc:
            self.failed.emit(title, exc)
            return None
        mask = self._mask(controls, doc.state)
        # The newest picture a long job reported: what Cancel can keep.
        last_preview: list[np.ndarray] = []

        def progress(job: Job, _fraction: float, picture: Any) -> None:
            if isinstance(picture, np.ndarray):
                last_preview[:] = [picture]
            # job.data carries an optimisation's loss history for the panel's plot.
            controls.show_progress_data(job.data)

        def done(job: Job) -> None:
            controls.set_busy(False)
            if job.state is JobState.FAILED:
                self.failed.emit(title, job.error_message)
            elif job.state is JobState.CANCELLED:
                self.message.emit(f"{spec.title} cancelled")
                self.clear()
                if last_preview and doc is self.doc:
                    self._keep_cancelled(spec, layer.id, params, last_preview[0], mask)
            elif job.state is JobState.DONE and doc is self.doc:
                # The committed result replaces the preview: nothing previews the
                # new state again until the user edits the effect.
                self._drop_preview()
                self._touched.discard(spec.id)
                self._applied.add(spec.id)
                try:
                    commit_effect(doc, job.result, target, mask)
                except (WarpaintError, KeyError) as exc:
                    self.failed.emit(
                        title, "the layer was deleted" if isinstance(exc, KeyError) else exc
                    )
                else:
                    for message in job.messages:
                        self.message.emit(message)
                self.shown_changed.emit()
            self.apply_finished.emit()

        if self._job is not None and self._job.lane == "long":
            # A slow preview would hold the long lane ahead of the full run.
            self.bridge.cancel(self._job)
            self._job = None
        controls.set_busy(True)
        controls.clear_progress_data()
        controls.remember_images()
        return self.bridge.submit(
            fn, f"{spec.title} on “{layer.name}”", on_progress=progress, on_done=done
        )

    def _keep_cancelled(
        self,
        spec: EffectSpec,
        layer_id: int,
        params: dict[str, Any],
        picture: np.ndarray,
        mask: np.ndarray | None,
    ) -> None:
        """Offer the cancelled job's last picture as a new layer (one undo step)."""
        title = f"Could not keep the {spec.title} preview"
        if self.doc is None or not self.confirm_keep(spec.title):
            return
        try:
            source = self.doc.layer(layer_id)
        except KeyError:
            self.failed.emit(title, "the layer was deleted")
            return
        pixels = resize(picture, source.pixels.width, source.pixels.height)
        try:
            commit_effect(
                self.doc, EffectResult(spec.id, layer_id, params, pixels), "new_layer", mask
            )
        except WarpaintError as exc:
            self.failed.emit(title, exc)


def _patch_change(before: EffectResult, after: EffectResult) -> Rect | None:
    """Where two patch results of one layer differ, in layer pixels (an empty
    rectangle if nowhere); None unless both are patches of that layer."""
    if before.origin is None or after.origin is None or before.layer_id != after.layer_id:
        return None
    (bx, by), (ax, ay) = before.origin, after.origin
    (bh, bw), (ah, aw) = before.pixels.shape[:2], after.pixels.shape[:2]
    if (bx, by, bw, bh) != (ax, ay, aw, ah):
        x0, y0 = min(bx, ax), min(by, ay)
        return Rect(x0, y0, max(bx + bw, ax + aw) - x0, max(by + bh, ay + ah) - y0)
    unequal = before.pixels != after.pixels
    # RGBA: a pixel's four bools read as one word, much quicker than any(axis=2).
    rgba = unequal.shape[2] == 4
    differs = unequal.view(np.uint32)[..., 0] != 0 if rgba else unequal.any(axis=2)
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if not rows.size:
        return Rect(0, 0, 0, 0)
    return Rect(
        ax + int(cols[0]),
        ay + int(rows[0]),
        int(cols[-1] - cols[0]) + 1,
        int(rows[-1] - rows[0]) + 1,
    )


def _same(a: Any, b: Any) -> bool:
    """a == b, False where the comparison has no single answer (arrays)."""
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False


def _mask_changes(old: DocState, new: DocState) -> set[int] | None:
    """The ids of the layers whose masks alone differ between two states; None
    where anything else differs (pixels, order, properties, the canvas)."""
    if (
        len(old.layers) != len(new.layers)
        or (old.width, old.height, old.meta) != (new.width, new.height, new.meta)
        or [g.shape() for g in old.groups] != [g.shape() for g in new.groups]
    ):
        return None
    masked: set[int] = set()
    for before, after in zip(old.layers, new.layers, strict=True):
        if before is after:
            continue
        if before.pixels is not after.pixels or before.with_(mask=after.mask) != after:
            return None
        masked.add(after.id)
    return masked


def _layer_refs(value: Any) -> set[int]:
    """The layer ids an image or mask parameter's value names (GUI values are ids;
    a list of images holds (image, weight) pairs)."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, list | tuple):
        refs: set[int] = set()
        for item in value:
            refs |= _layer_refs(item[0] if isinstance(item, tuple) else item)
        return refs
    return set()


def face_boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in an (H, W, C) float image, from the image's left
    (the engine's detection, cached by pixels and shared with the effects)."""
    from warpaint.engine.features.eyes.detect import detect_faces_cached

    boxes = [tuple(int(v) for v in face.box) for face in detect_faces_cached(image)]
    return sorted(boxes, key=lambda box: box[0])  # type: ignore[arg-type, return-value]


def _moved(spec: EffectSpec, values: dict[str, Any], dx: int, dy: int) -> dict[str, Any]:
    """Canvas values (points, rectangles) found in a part of the layer moved by
    (dx, dy) into the whole layer's frame; other values as they are."""
    types = {p.name: p.type for p in spec.all_params(values)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == ():
            continue
        if types.get(name) is ParamType.POINTS:
            value = tuple((float(x) + dx, float(y) + dy) for x, y in value)
        elif types.get(name) is ParamType.RECT:
            x, y, w, h = value
            value = (float(x) + dx, float(y) + dy, float(w), float(h))
        out[name] = value
    return out


def _listed(controls: EffectControls, names: list[str]) -> str:
    """The parameters' labels, as the panel shows them."""
    labels = {p.name: p.label for p in controls.spec.all_params(controls.values())}
    return ", ".join(labels.get(name, name) for name in names)
