"""The canvas: a tiled, level-of-detail view of the composited document.

The GUI thread only paints cached tiles. Missing or stale tiles are rendered
by one job on the engine's interactive lane (the engine's `composite` over a
`LevelOfDetail` state) and arrive through the bridge one tile at a time; a
newer render request supersedes the older one. After an edit only the tiles
that touch changed layers are redrawn; until they arrive the old ones stay on
screen, so nothing flickers.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from warpaint.engine.core.compositing import CANVAS_MODES, composite, reach
from warpaint.engine.core.document import DocState, Document, Layer
from warpaint.engine.core.lod import (
    MAX_LEVEL,
    LevelOfDetail,
    level_for_scale,
    reduced_size,
    shared_lod,
)
from warpaint.engine.core.selection import Selection
from warpaint.engine.core.tiles import TILE, Rect, TiledImage, from_float
from warpaint.engine.runtime.jobs import Job, JobContext, JobState
from warpaint.gui.bridge import JobBridge
from warpaint.gui.canvas_tools import CanvasTool, SelectionTool

CANVAS_TILE = 256
MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
ZOOM_STEPS = (
    1 / 64, 1 / 48, 1 / 32, 1 / 24, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3,
    1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0,
)  # fmt: skip  # the zoom ladder, fractions then multiples
MAX_CACHED_TILES = 600
PROGRESSIVE_TILES = 4
COARSE_SHIFT = 2  # the quick pass after an edit is at most 4x coarser
BACKGROUND = QColor(58, 58, 62)
MASK_OVERLAY_COLOUR = QColor(230, 30, 60)  # the tint over what a mask hides
MASK_OVERLAY_OPACITY = 0.5
BADGE_COLOUR = QColor(20, 110, 200, 220)  # the "Preview" label over the canvas
BADGE_WARNING_COLOUR = QColor(200, 120, 0, 230)  # the label of a preview out of date
MARK_COLOUR = QColor(255, 255, 255, 220)  # faces found
MARK_CHOSEN_COLOUR = QColor(255, 210, 40)  # the face an effect edits
EXACT_DIFF_TILES = 8  # up to this many changed tiles, the canvas finds the pixels that differ
SYNC_PATCH_PIXELS = 128 * 128  # changes up to this size are composited on the GUI thread

TileKey = tuple[int, int, int]  # level, tx, ty
# A part of a shown state composited already: its canvas rectangle (full size)
# and its (h, w, 4) uint8 straight-alpha pixels.
Drawn = tuple[Rect, np.ndarray]
# What a new state is known to change: it differs from that state only inside
# that canvas rectangle (an effect's patch moved on from the previous preview).
Since = tuple[DocState, Rect]


@dataclass(frozen=True)
class ReducedPixels:
    """A layer whose pixels exist only at a reduced level of detail: an effect
    preview computed at 1 / 2**level of the layer's size (a big photo).

    The canvas composites it like any layer, at `level` or coarser, so the
    layers around it keep their own detail at that level.
    """

    layer_id: int
    level: int
    pixels: TiledImage  # (ceil(h / 2**level), ceil(w / 2**level), 4)

    def place(self, reduced: DocState, level: int, lod: LevelOfDetail) -> DocState:
        """`reduced` (a state at `level` >= self.level) with this layer's pixels in place."""
        for layer in reduced.layers:
            if layer.id == self.layer_id:
                pixels = lod.image_at(self.pixels, level - self.level)
                return reduced.replace_layer(layer.with_(pixels=pixels))
        return reduced  # hidden: the reduced state leaves it out


@dataclass
class _CachedTile:
    generation: int  # the state generation the whole tile shows
    image: QImage
    # The generation the tile shows everywhere but `dirty` (tile pixels at its
    # level): redrawing that part is enough to bring it up to date.
    patchable: int = -1
    dirty: Rect | None = None


def changed_region(old: DocState, new: DocState) -> Rect | None:
    """The canvas area whose pixels may differ between two states; None = everything."""
    if (old.width, old.height) != (new.width, new.height):
        return None
    old_layers = {layer.id: layer for layer in old.layers}
    new_ids = [layer.id for layer in new.layers]
    common_old = [i for i in (layer.id for layer in old.layers) if i in set(new_ids)]
    common_new = [i for i in new_ids if i in old_layers]
    if common_old != common_new:
        return None  # layers were reordered
    if old.layers != new.layers and (_has_canvas_mode(old) or _has_canvas_mode(new)):
        return None  # a multiresolution layer: any change below or in it spreads over the canvas
    rects: list[Rect] = []
    if old.groups or new.groups:
        # A group whose own properties or members changed can change all it reaches.
        old_groups = {g.id: g for g in old.groups}
        for group in new.groups:
            before = old_groups.pop(group.id, None)
            if before is None or before.shape() != group.shape():
                rects.append(reach(group, new.bounds))
                if before is not None:
                    rects.append(reach(before, old.bounds))
        rects += [reach(g, old.bounds) for g in old_groups.values()]
    for layer in new.layers:
        before = old_layers.pop(layer.id, None)
        if before is None:
            rects.append(reach(layer, new.bounds))
        elif before is not layer:
            rects += _layer_change(before, layer, new.bounds)
    rects += [reach(layer, old.bounds) for layer in old_layers.values()]
    return Rect.bounding(rects)


def _layer_change(before: Layer, after: Layer, canvas: Rect) -> list[Rect]:
    """Canvas rectangles where a layer's change can show (before any spatial mode)."""
    same_place = (before.x, before.y, before.pixels.shape) == (after.x, after.y, after.pixels.shape)
    masks_match = (before.mask is None) == (after.mask is None)
    if (
        same_place
        and masks_match
        and dataclasses.replace(before, pixels=after.pixels, mask=after.mask) == after
    ):
        # Only pixels or mask tiles changed (a brush stroke, a preview of the eyes):
        # just the tiles they rewrote, shared tiles are the same objects.
        rects = _tile_changes(before.pixels, after.pixels)
        if before.mask is not None and after.mask is not None:
            rects += _tile_changes(before.mask, after.mask)
        return [r.translated(after.x, after.y).intersect(after.bounds) for r in rects]
    return [reach(before, canvas), reach(after, canvas)]


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(h, w) bool: where two (h, w, C) tiles differ; 8-bit RGBA compares whole pixels at once."""
    if a.dtype == np.uint8 and a.shape[2] == 4 and a.flags.c_contiguous and b.flags.c_contiguous:
        return (a.view(np.uint32) != b.view(np.uint32))[..., 0]
    return np.any(a != b, axis=2)


def _tile_changes(before: TiledImage, after: TiledImage) -> list[Rect]:
    """Image rectangles where two images of one size differ: the tiles that are
    not the same object in both, narrowed to the pixels that differ when only a
    few tiles changed (a preview of the eyes rewrites a patch of one or two)."""
    if before is after:
        return []
    keys = set(before.tile_keys()) | set(after.tile_keys())
    changed = [(tx, ty) for tx, ty in keys if before.tile(tx, ty) is not after.tile(tx, ty)]
    if len(changed) > EXACT_DIFF_TILES:
        return [Rect(tx * TILE, ty * TILE, TILE, TILE) for tx, ty in changed]
    rects = []
    for tx, ty in changed:
        a, b = before.tile(tx, ty), after.tile(tx, ty)
        if a is None or b is None:
            rects.append(Rect(tx * TILE, ty * TILE, TILE, TILE))
            continue
        differs = _differs(a, b)
        rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
        if rows.size:
            x, y = tx * TILE + int(cols[0]), ty * TILE + int(rows[0])
            rects.append(Rect(x, y, int(cols[-1] - cols[0]) + 1, int(rows[-1] - rows[0]) + 1))
    return rects


def _level_span(region: Rect, level: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): `region` (canvas pixels) in pixels of `level`, rounded outwards."""
    factor = 2**level
    return (
        region.x // factor,
        region.y // factor,
        -(-region.right // factor),
        -(-region.bottom // factor),
    )


def _union(region: Rect, other: Rect) -> Rect:
    if region.empty:
        return other
    if other.empty:
        return region
    x0, y0 = min(region.x, other.x), min(region.y, other.y)
    x1, y1 = max(region.right, other.right), max(region.bottom, other.bottom)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def with_layer_mask(state: DocState, layer_id: int, mask: TiledImage | None) -> DocState:
    """`state` with layer `layer_id`'s mask set to `mask` (None: no mask), as a
    mask painted on that layer of the document shows in a preview made from it:
    a layer Apply replaces keeps its mask, one it adds has none. `state` as it is
    where that layer is missing or has another size than the mask (a result of
    another size drops the mask)."""
    try:
        layer = state.layer(layer_id)
    except KeyError:
        return state
    if mask is not None and (layer.pixels.width, layer.pixels.height) != (mask.width, mask.height):
        return state
    return state.replace_layer(layer.with_(mask=mask))


def _has_canvas_mode(state: DocState) -> bool:
    return any(lay.blend_mode in CANVAS_MODES and lay.visible for lay in state.layers)


def checker_brush(device_pixel_ratio: float, square: int = 8) -> QBrush:
    """The grey checkerboard shown under transparent pixels, crisp at any DPR."""
    side = round(2 * square * device_pixel_ratio)
    pixmap = QPixmap(side, side)
    pixmap.fill(QColor(204, 204, 204))
    painter = QPainter(pixmap)
    half = side // 2
    painter.fillRect(0, 0, half, half, QColor(153, 153, 153))
    painter.fillRect(half, half, side - half, side - half, QColor(153, 153, 153))
    painter.end()
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    return QBrush(pixmap)


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """(h, w, 4) uint8 straight-alpha RGBA -> premultiplied ARGB32 QImage (a copy)."""
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    image = QImage(rgba.data, w, h, w * 4, QImage.Format.Format_RGBA8888)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


class CanvasView(QWidget):
    """Shows a document; zoom around the cursor, pan, selection and tool overlays."""

    zoom_changed = Signal(float)
    cursor_moved = Signal(object)  # (x, y) in image pixels, or None when outside
    tile_arrived = Signal()
    mark_clicked = Signal(int)  # the index of a mark (a face) the user clicked

    def __init__(self, bridge: JobBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CanvasView")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(200, 150)
        self._bridge = bridge
        self._lod = shared_lod()
        self._doc: Document | None = None
        self._unsubscribe = None
        self._state: DocState | None = None
        self._generation = 0
        self._tiles: OrderedDict[TileKey, _CachedTile] = OrderedDict()
        self._wanted: list[TileKey] = []
        self._pending: tuple[int, frozenset[TileKey]] | None = None
        self._failed_generation = -1
        self._render_timer = QTimer(self, singleShot=True, interval=0)
        self._render_timer.timeout.connect(self._request_render)
        self._zoom = 1.0
        self._origin = QPointF(0.0, 0.0)
        self._fitted = True
        self._pan_from: tuple[QPointF, QPointF] | None = None
        self._space_down = False
        self._tool: CanvasTool | None = None
        self._selection: Selection | None = None
        # What is shown instead of the document: an effect preview (a state made
        # from `_override_base`, the document's state then, with `_override_reduced`),
        # and a mask stroke in progress painted into whichever of the two shows.
        self._override: DocState | None = None
        self._override_reduced: ReducedPixels | None = None
        self._override_base: DocState | None = None
        self._stroke: tuple[int, TiledImage] | None = None
        self._reduced: ReducedPixels | None = None
        self._badge: str | None = None
        self._badge_warning = False
        self._marks: list[QRectF] = []
        self._keys_cache: tuple[tuple[float, ...], list[TileKey]] | None = None
        self._chosen_mark: int | None = None
        self._checker: tuple[float, QBrush] | None = None
        self._mask_overlay: int | None = None
        self._overlay_cache: tuple[tuple[object, ...], QImage] | None = None

    # -- document ---------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._doc = doc
        self._tiles.clear()
        self._pending = None
        self._generation += 1
        self._state = doc.state if doc is not None else None
        self._override = None
        self._override_reduced = None
        self._override_base = None
        self._stroke = None
        self._reduced = None
        self._badge = None
        if doc is not None:
            self._unsubscribe = doc.subscribe(self._on_document_changed)
        self.fit()

    @property
    def state(self) -> DocState | None:
        return self._state

    def _on_document_changed(self, doc: Document) -> None:
        if self._override_base is not doc.state:
            # The preview was made from the previous state (one placed on this very
            # state, by a listener called before this one, stays).
            self._override, self._override_reduced = None, None
        self._stroke = None  # committed, or the document changed under it
        self._refresh()

    def set_preview_state(
        self,
        state: DocState | None,
        reduced: ReducedPixels | None = None,
        drawn: Drawn | None = None,
        since: Since | None = None,
    ) -> None:
        """Show `state` (the document with an effect preview placed) instead of the
        document; `reduced` gives one of its layers' pixels at a reduced level of
        detail (a preview of a big layer); `drawn` is a part of `state` already
        composited (a patch, by the job that made it); `since` says where it
        differs from another state (if that is the one shown, nothing else is
        compared). None: the document."""
        self._override = state
        self._override_reduced = reduced if state is not None else None
        self._override_base = self._doc.state if self._doc is not None else None
        self._refresh(drawn, since)

    def set_stroke_mask(self, layer_id: int | None, mask: TiledImage | None = None) -> None:
        """Show layer `layer_id` with `mask` (a mask stroke in progress) in whatever
        the canvas shows, the effect preview included, as the committed stroke will
        be: a layer Apply replaces keeps its mask, a layer Apply adds has none.
        None: the stroke ended."""
        self._stroke = (layer_id, mask) if layer_id is not None and mask is not None else None
        self._refresh()

    def _refresh(self, drawn: Drawn | None = None, since: Since | None = None) -> None:
        """Show the effect preview (or the document) with the stroke in progress."""
        if self._doc is None:
            return
        state, reduced = self._override, self._override_reduced
        if state is None:
            state, reduced = self._doc.state, None
        if self._stroke is not None:
            state = with_layer_mask(state, *self._stroke)
            drawn, since = None, None  # made without the stroke
        self._show_state(state, reduced, drawn, since)

    @property
    def shown_reduced(self) -> ReducedPixels | None:
        return self._reduced

    def _show_state(
        self,
        new: DocState,
        reduced: ReducedPixels | None,
        drawn: Drawn | None = None,
        since: Since | None = None,
    ) -> None:
        old, old_reduced = self._state, self._reduced
        if old is None or (new is old and reduced is old_reduced):
            return
        if since is not None and since[0] is old and reduced is old_reduced:
            region: Rect | None = since[1].intersect(new.bounds)
        else:
            region = changed_region(old, new)
        if reduced is not old_reduced and region is not None:
            # The layer drawn from reduced pixels changes wherever it lies.
            for state, shown in ((old, old_reduced), (new, reduced)):
                if shown is not None:
                    try:
                        region = _union(region, state.layer(shown.layer_id).bounds)
                    except KeyError:
                        region = None
                        break
        self._reduced = reduced
        if region is not None and region.empty:
            # Same pixels (e.g. a stroke's preview committed as is): tiles being drawn
            # for the old state are just as good, so nothing is redrawn.
            self._state = new
            self.update()
            return
        size_changed = (old.width, old.height) != (new.width, new.height)
        generation = self._generation + 1
        if size_changed:
            self._tiles.clear()
        elif region is not None:
            spans: dict[int, tuple[int, int, int, int]] = {}
            current = self._generation
            for key, tile in self._tiles.items():
                exact = tile.generation == current
                if not exact and tile.patchable != current:
                    continue
                level, tx, ty = key
                span = spans.get(level)
                if span is None:
                    span = spans[level] = _level_span(region, level)
                x0, y0 = tx * CANVAS_TILE, ty * CANVAS_TILE
                # (Checked first, without building rectangles: most tiles are far
                # from a patch.)
                far = (
                    span[2] <= x0
                    or span[0] >= x0 + CANVAS_TILE
                    or span[3] <= y0
                    or span[1] >= y0 + CANVAS_TILE
                )
                part = None if far else self._tile_part(key, region)
                if part is None or part.empty:
                    if exact:
                        tile.generation = generation
                    else:
                        tile.patchable = generation
                    continue
                # A small change (an effect's patch) redraws just its part of the tile;
                # a big one redraws it whole (and may take the quick coarse pass first).
                before = tile.dirty if not exact and tile.dirty is not None else part
                dirty = _union(before, part)
                small = 2 * dirty.w * dirty.h <= CANVAS_TILE * CANVAS_TILE
                tile.dirty = dirty if small else None
                tile.patchable = generation if small else -1
        self._generation = generation
        self._state = new
        if size_changed and self._fitted:
            self.fit()
        if region is None or size_changed:
            self.update()
            return
        # Only the changed part is painted again (a preview of the eyes is a small
        # patch of a big canvas), and its tiles are asked for at once.
        self._patch_now(region, drawn)
        area = QRectF(
            self.to_widget(QPointF(region.x, region.y)),
            self.to_widget(QPointF(region.right, region.bottom)),
        )
        self.update(area.toAlignedRect().adjusted(-2, -2, 2, 2))
        self._render_timer.start()

    def _patch_now(self, region: Rect, drawn: Drawn | None = None) -> None:
        """Bring the visible tiles up to date at once where `region` is small (an
        effect's patch): compositing a few thousand pixels here costs less than a
        trip through the job lane, and the next paint shows the change. Pixels
        in `drawn` (composited off this thread) are copied, not composited."""
        state, level = self._state, self.level
        factor = 2**level
        if state is None or _has_canvas_mode(state):
            return
        if (region.w // factor + 1) * (region.h // factor + 1) > SYNC_PATCH_PIXELS:
            return
        keys = [
            key
            for key in self._visible_keys()
            if (t := self._tiles.get(key)) is not None
            and t.patchable == self._generation
            and t.dirty is not None
        ]
        if not keys:
            return
        lstate = self._lod.state_at(state, level, region)
        if self._reduced is not None:
            lstate = self._reduced.place(lstate, level, self._lod)
        for key in keys:
            tile = self._tiles[key]
            assert tile.dirty is not None
            origin = (key[1] * CANVAS_TILE, key[2] * CANVAS_TILE)
            rect = tile.dirty.translated(*origin).intersect(lstate.bounds)
            if not rect.empty:
                if level == 0 and drawn is not None and drawn[0].intersect(rect) == rect:
                    part = rect.translated(-drawn[0].x, -drawn[0].y)
                    pixels = drawn[1][part.y : part.bottom, part.x : part.right]
                else:
                    pixels = from_float(composite(lstate, rect), np.uint8)
                painter = QPainter(tile.image)
                painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
                painter.drawImage(rect.x - origin[0], rect.y - origin[1], rgba_to_qimage(pixels))
                painter.end()
            self._tiles[key] = _CachedTile(self._generation, tile.image)

    @staticmethod
    def _tile_part(key: TileKey, region: Rect) -> Rect:
        """The part of tile `key` (in its own pixels at its level) that `region`
        (canvas pixels at full size) touches; empty when it does not."""
        level, tx, ty = key
        factor = 2**level
        x0, y0 = region.x // factor, region.y // factor
        x1, y1 = -(-region.right // factor), -(-region.bottom // factor)
        tile = Rect(tx * CANVAS_TILE, ty * CANVAS_TILE, CANVAS_TILE, CANVAS_TILE)
        part = Rect(x0, y0, x1 - x0, y1 - y0).intersect(tile)
        return part.translated(-tile.x, -tile.y) if not part.empty else Rect(0, 0, 0, 0)

    # -- view -------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def level(self) -> int:
        """The level of detail drawn: the zoom's, or coarser where a layer exists
        only at a reduced level (a preview of a big layer)."""
        natural = level_for_scale(self._zoom * self.devicePixelRatioF())
        return max(natural, self._reduced.level if self._reduced is not None else 0)

    def to_widget(self, point: QPointF) -> QPointF:
        return self._origin + point * self._zoom

    def to_image(self, point: QPointF) -> QPointF:
        return (point - self._origin) / self._zoom

    def image_rect_in_widget(self) -> QRectF:
        if self._state is None:
            return QRectF()
        return QRectF(
            self._origin, self._origin + QPointF(self._state.width, self._state.height) * self._zoom
        )

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom so that the image point under `anchor` (widget coords) stays put."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        anchor = QPointF(self.width() / 2, self.height() / 2) if anchor is None else anchor
        image_point = self.to_image(anchor)
        self._zoom = zoom
        self._origin = anchor - image_point * zoom
        self._fitted = False
        self.zoom_changed.emit(zoom)
        self.update()

    def zoom_in(self, anchor: QPointF | None = None) -> None:
        self.set_zoom(next((z for z in ZOOM_STEPS if z > self._zoom * 1.001), MAX_ZOOM), anchor)

    def zoom_out(self, anchor: QPointF | None = None) -> None:
        smaller = [z for z in ZOOM_STEPS if z < self._zoom / 1.001]
        self.set_zoom(smaller[-1] if smaller else MIN_ZOOM, anchor)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Zoom so the whole image fits with a margin, centred."""
        if self._state is None:
            return
        margin = 24
        w, h = max(1, self.width() - 2 * margin), max(1, self.height() - 2 * margin)
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, min(w / self._state.width, h / self._state.height)))
        self._zoom = zoom
        self._origin = QPointF(
            (self.width() - self._state.width * zoom) / 2,
            (self.height() - self._state.height * zoom) / 2,
        )
        self._fitted = True
        self.zoom_changed.emit(zoom)
        self.update()

    # -- overlays ---------------------------------------------------------
    def set_tool(self, tool: CanvasTool | None) -> None:
        if self._tool is not None:
            self._tool.changed.disconnect(self.update)
        self._tool = tool
        if tool is not None:
            tool.changed.connect(self.update)
        self.setCursor(tool.cursor() if tool is not None else Qt.CursorShape.ArrowCursor)
        self.update()

    @property
    def tool(self) -> CanvasTool | None:
        return self._tool

    def set_selection(self, selection: Selection | None) -> None:
        self._selection = selection
        self.update()

    def set_mask_overlay(self, layer_id: int | None) -> None:
        """Tint where layer `layer_id`'s mask hides it (None: no overlay)."""
        self._mask_overlay = layer_id
        self._overlay_cache = None
        self.update()

    @property
    def mask_overlay(self) -> int | None:
        return self._mask_overlay

    def mask_overlay_image(self) -> tuple[QImage, QRectF] | None:
        """The overlay for the part of the mask in view: image and its image-space rect.

        The mask is read from the engine at the view's level of detail (only
        the visible part); where it is 0 the overlay is fully tinted, where 1
        clear. Cached until the mask, level or visible area changes.
        """
        state = self._state
        if state is None or self._mask_overlay is None:
            return None
        try:
            layer = state.layer(self._mask_overlay)
        except KeyError:
            return None
        if layer.mask is None or not layer.visible:
            return None
        view = QRectF(
            self.to_image(QPointF(0, 0)), self.to_image(QPointF(self.width(), self.height()))
        )
        factor = 2**self.level
        x0 = max(layer.x, math.floor(view.left())) - layer.x
        y0 = max(layer.y, math.floor(view.top())) - layer.y
        x1 = min(layer.bounds.right, math.ceil(view.right())) - layer.x
        y1 = min(layer.bounds.bottom, math.ceil(view.bottom())) - layer.y
        if x1 <= x0 or y1 <= y0:
            return None
        small = Rect(
            x0 // factor,
            y0 // factor,
            -(-x1 // factor) - x0 // factor,
            -(-y1 // factor) - y0 // factor,
        )
        rect = QRectF(
            layer.x + small.x * factor,
            layer.y + small.y * factor,
            small.w * factor,
            small.h * factor,
        )
        key = (id(layer.mask), self.level, small)
        if self._overlay_cache is not None and self._overlay_cache[0] == key:
            return self._overlay_cache[1], rect
        local = Rect(small.x * factor, small.y * factor, small.w * factor, small.h * factor)
        reduced = self._lod.image_at(layer.mask, self.level, local)
        values = reduced.read(small)
        if values.dtype != np.uint8:
            values = from_float(reduced.read_float(small), np.uint8)
        values = np.ascontiguousarray(values[..., 0])
        alpha = QImage(values.data, small.w, small.h, small.w, QImage.Format.Format_Alpha8)
        tint = QImage(small.w, small.h, QImage.Format.Format_ARGB32_Premultiplied)
        tint.fill(MASK_OVERLAY_COLOUR)
        painter = QPainter(tint)
        # Cut the tint away where the mask shows the layer.
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
        painter.drawImage(0, 0, alpha)
        painter.end()
        self._overlay_cache = (key, tint)
        return tint, rect

    @property
    def has_preview(self) -> bool:
        """True while the canvas shows a state other than the document's."""
        return self._override is not None or self._stroke is not None

    def set_badge(self, text: str | None, warning: bool = False) -> None:
        """A small label in the canvas's corner (e.g. that it shows a preview), in
        an alarm colour with `warning` (the preview is out of date); None hides it."""
        if (text, warning) != (self._badge, self._badge_warning):
            self._badge, self._badge_warning = text, warning
            self.update()

    @property
    def badge_warning(self) -> bool:
        return self._badge is not None and self._badge_warning

    @property
    def badge(self) -> str | None:
        return self._badge

    def set_marks(self, rects: list[QRectF], chosen: int | None = None) -> None:
        """Outline things found in the image (faces) at image-space `rects`,
        numbered from 1; `chosen` is drawn stronger. Clicking one emits `mark_clicked`."""
        self._marks, self._chosen_mark = list(rects), chosen
        self.update()

    @property
    def marks(self) -> list[QRectF]:
        return list(self._marks)

    def rendered_image(self) -> QImage | None:
        """The document as the canvas draws it before overlays (face marks, selection
        outlines, the badge): its tiles at the current level, one tile pixel per
        image pixel, without the checkerboard. None while a visible tile is
        missing or stale (the canvas is still drawing)."""
        state = self._state
        if state is None or not self.tiles_ready():
            return None
        factor = 2**self.level
        out = QImage(
            reduced_size(state.width, factor),
            reduced_size(state.height, factor),
            QImage.Format.Format_ARGB32_Premultiplied,
        )
        out.fill(Qt.GlobalColor.transparent)
        painter = QPainter(out)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        for key in self._visible_keys():
            painter.drawImage(key[1] * CANVAS_TILE, key[2] * CANVAS_TILE, self._tiles[key].image)
        painter.end()
        return out

    # -- tiles --------------------------------------------------------------
    def tiles_ready(self) -> bool:
        """True when every visible tile is drawn from the current state."""
        wanted = self._visible_keys()
        return all(
            (t := self._tiles.get(k)) is not None and t.generation == self._generation
            for k in wanted
        )

    def _visible_keys(self) -> list[TileKey]:
        """The tiles in view, nearest the centre first (cached per view: a slider
        drag asks for them several times a frame)."""
        if self._state is None:
            return []
        level = self.level
        view = (
            level,
            self._zoom,
            self._origin.x(),
            self._origin.y(),
            self.width(),
            self.height(),
            self._state.width,
            self._state.height,
        )
        if self._keys_cache is not None and self._keys_cache[0] == view:
            return list(self._keys_cache[1])
        keys = self._keys_in_view(level)
        self._keys_cache = (view, keys)
        return list(keys)

    def _keys_in_view(self, level: int) -> list[TileKey]:
        factor = 2**level
        visible = self.image_rect_in_widget().intersected(QRectF(self.rect()))
        if visible.isEmpty():
            return []
        span = CANVAS_TILE * factor * self._zoom
        tx0 = max(0, math.floor((visible.left() - self._origin.x()) / span))
        ty0 = max(0, math.floor((visible.top() - self._origin.y()) / span))
        tx1 = math.floor((visible.right() - self._origin.x() - 1e-6) / span)
        ty1 = math.floor((visible.bottom() - self._origin.y() - 1e-6) / span)
        centre = visible.center()
        keys = [(level, tx, ty) for ty in range(ty0, ty1 + 1) for tx in range(tx0, tx1 + 1)]

        def distance(key: TileKey) -> float:
            c = self._origin + QPointF(key[1] + 0.5, key[2] + 0.5) * span
            return (c.x() - centre.x()) ** 2 + (c.y() - centre.y()) ** 2

        return sorted(keys, key=distance)

    def _tile_widget_rect(self, key: TileKey) -> QRectF:
        level, tx, ty = key
        span = CANVAS_TILE * 2**level * self._zoom
        return QRectF(self._origin.x() + tx * span, self._origin.y() + ty * span, span, span)

    def _request_render(self) -> None:
        state = self._state
        if state is None or self._generation == self._failed_generation:
            return
        missing = [
            key
            for key in self._visible_keys()
            if (t := self._tiles.get(key)) is None or t.generation != self._generation
        ]
        if not missing:
            return
        wanted = frozenset(missing)
        if (
            self._pending is not None
            and self._pending[0] == self._generation
            and wanted <= self._pending[1]
        ):
            return
        self._pending = (self._generation, wanted)
        generation, lod, level = self._generation, self._lod, missing[0][0]
        shown_reduced = self._reduced
        keys = list(missing)
        parts = {
            key: tile.dirty
            for key in missing
            if (tile := self._tiles.get(key)) is not None
            and tile.patchable == generation
            and tile.dirty is not None
        }
        redraw = sum(1 for key in missing if key in self._tiles and key not in parts)
        whole_canvas = _has_canvas_mode(state)
        if redraw > PROGRESSIVE_TILES and level < MAX_LEVEL and not whole_canvas:
            # An edit touched many tiles on screen: first a quick pass at a coarser level
            # (at most a few tiles) so the change shows at once, then the sharp tiles.
            # (A first view gains nothing from it: reducing the layers costs the same.)
            for shift in range(1, min(COARSE_SHIFT, MAX_LEVEL - level) + 1):
                coarse = list(
                    dict.fromkeys(
                        (level + shift, tx >> shift, ty >> shift) for _, tx, ty in missing
                    )
                )
                if len(coarse) <= PROGRESSIVE_TILES // 2:
                    break
            keys = [
                k for k in coarse if (t := self._tiles.get(k)) is None or t.generation != generation
            ] + keys

        regions: dict[int, Rect] = {}
        for key_level, tx, ty in keys:
            side = CANVAS_TILE * 2**key_level
            r = Rect(tx * side, ty * side, side, side)
            old = regions.get(key_level)
            if old is not None:
                x0, y0 = min(old.x, r.x), min(old.y, r.y)
                r = Rect(x0, y0, max(old.right, r.right) - x0, max(old.bottom, r.bottom) - y0)
            regions[key_level] = r

        def render(ctx: JobContext) -> int:
            reduced: dict[int, DocState] = {}
            for i, key in enumerate(keys):
                ctx.check()
                key_level, tx, ty = key
                if key_level not in reduced:
                    # Only the part in view is reduced: cost follows the window, not the
                    # image (the engine reduces whole layers under a multiresolution one).
                    at_level = lod.state_at(state, key_level, regions[key_level])
                    if shown_reduced is not None:
                        at_level = shown_reduced.place(at_level, key_level, lod)
                    reduced[key_level] = at_level
                lstate = reduced[key_level]
                origin = (tx * CANVAS_TILE, ty * CANVAS_TILE)
                rect = Rect(*origin, CANVAS_TILE, CANVAS_TILE).intersect(lstate.bounds)
                part = parts.get(key)
                if part is not None:
                    rect = part.translated(*origin).intersect(rect)
                if rect.empty:
                    continue
                pixels = from_float(composite(lstate, rect), np.uint8)
                offset = (rect.x - origin[0], rect.y - origin[1]) if part is not None else None
                ctx.report((i + 1) / len(keys), (generation, key, pixels, offset))
            return len(keys)

        self._bridge.preview(
            ("canvas", id(self)),
            render,
            "Drawing the canvas",
            on_progress=self._on_render_progress,
            on_done=self._on_render_done,
        )

    def _on_render_progress(self, job: Job, fraction: float, tile: object) -> None:
        generation: int
        key: TileKey
        pixels: np.ndarray
        offset: tuple[int, int] | None
        generation, key, pixels, offset = tile  # type: ignore[misc]
        current = self._tiles.get(key)
        if offset is not None:
            if current is None or current.patchable != generation or generation != self._generation:
                return  # the tile changed meanwhile: it is drawn again whole or in part
            image = current.image.copy()
            painter = QPainter(image)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.drawImage(offset[0], offset[1], rgba_to_qimage(pixels))
            painter.end()
        elif (
            generation != self._generation
            and current is not None
            and current.generation >= generation
        ):
            return
        else:
            image = rgba_to_qimage(pixels)
        self._tiles[key] = _CachedTile(generation, image)
        self._tiles.move_to_end(key)
        while len(self._tiles) > MAX_CACHED_TILES:
            self._tiles.popitem(last=False)
        self.update(self._tile_widget_rect(key).toAlignedRect().adjusted(-1, -1, 1, 1))
        self.tile_arrived.emit()

    def _on_render_done(self, job: Job) -> None:
        self._pending = None
        if job.state is JobState.FAILED:
            # Do not retry the same state in a loop; the next edit tries again.
            self._failed_generation = self._generation
            print(f"warpaint: drawing the canvas failed: {job.error_details}")
            return
        if self.tiles_ready():
            self._warm_coarser_level()
        else:
            self._render_timer.start()

    def _warm_coarser_level(self) -> None:
        """Reduce the layers in view one level coarser ahead of time (cached by tile),
        so the quick first pass after the next edit costs only compositing."""
        state, level, keys = self._state, self.level, self._visible_keys()
        if state is None or not keys or level >= MAX_LEVEL:
            return
        side = CANVAS_TILE * 2**level
        x0, y0 = min(k[1] for k in keys) * side, min(k[2] for k in keys) * side
        x1, y1 = (max(k[1] for k in keys) + 1) * side, (max(k[2] for k in keys) + 1) * side
        region, lod = Rect(x0, y0, x1 - x0, y1 - y0), self._lod
        levels = range(level + 1, min(level + COARSE_SHIFT, MAX_LEVEL) + 1)

        def warm(ctx: JobContext) -> None:
            for coarser in levels:
                ctx.check()
                lod.state_at(state, coarser, region)

        self._bridge.preview(("canvas-warm", id(self)), warm, "Preparing the canvas")

    # -- painting ------------------------------------------------------------
    def _checker_brush(self) -> QBrush:
        dpr = self.devicePixelRatioF()
        if self._checker is None or self._checker[0] != dpr:
            self._checker = (dpr, checker_brush(dpr))
        return self._checker[1]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(event.rect(), BACKGROUND)
        if self._state is None:
            painter.end()
            return
        image_rect = self.image_rect_in_widget()
        painter.fillRect(image_rect.intersected(QRectF(event.rect())), self._checker_brush())
        painter.save()
        painter.setClipRect(image_rect)
        level = self.level
        # Reduced or fractional scales are filtered; whole-number zooms show crisp pixels,
        # unless the level is coarser than the zoom's (a reduced preview): then smooth.
        scale = self._zoom * self.devicePixelRatioF() * 2**level
        smooth = scale < 0.999 or (scale < 4 and abs(scale - round(scale)) > 1e-3)
        smooth = smooth or level > level_for_scale(self._zoom * self.devicePixelRatioF())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        need_render = False
        exposed = QRectF(event.rect())
        for key in self._visible_keys():
            target = self._tile_widget_rect(key)
            if not target.intersects(exposed):
                continue
            tile = self._tiles.get(key)
            if tile is not None and tile.generation == self._generation:
                self._draw_tile(painter, tile.image, target, key[0])
                continue
            need_render = True
            # Prefer a coarser tile of the current state (progressive drawing) over a
            # stale sharp one; fall back to whatever is cached.
            if self._paint_coarser(painter, key, target, fresh_only=True):
                continue
            if tile is not None:
                self._draw_tile(painter, tile.image, target, key[0])
            else:
                self._paint_coarser(painter, key, target, fresh_only=False)
        painter.restore()
        self._paint_overlays(painter)
        painter.end()
        if need_render:
            self._render_timer.start()

    def _draw_tile(self, painter: QPainter, image: QImage, target: QRectF, level: int) -> None:
        span = CANVAS_TILE * 2**level * self._zoom
        scale = span / CANVAS_TILE
        painter.drawImage(
            QRectF(target.left(), target.top(), image.width() * scale, image.height() * scale),
            image,
        )

    def _coarser_tile(self, key: TileKey, fresh_only: bool) -> tuple[TileKey, _CachedTile] | None:
        level, tx, ty = key
        for coarser in range(level + 1, level + 4):
            shift = coarser - level
            ckey = (coarser, tx >> shift, ty >> shift)
            tile = self._tiles.get(ckey)
            if tile is not None and (not fresh_only or tile.generation == self._generation):
                return ckey, tile
        return None

    def _paint_coarser(
        self, painter: QPainter, key: TileKey, target: QRectF, fresh_only: bool
    ) -> bool:
        found = self._coarser_tile(key, fresh_only)
        if found is None:
            return False
        ckey, tile = found
        painter.save()
        painter.setClipRect(target, Qt.ClipOperation.IntersectClip)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self._draw_tile(painter, tile.image, self._tile_widget_rect(ckey), ckey[0])
        painter.restore()
        return True

    def shows_current_state(self) -> bool:
        """True when every visible tile shows the current state (possibly still coarse)."""
        for key in self._visible_keys():
            tile = self._tiles.get(key)
            if tile is not None and tile.generation == self._generation:
                continue
            if self._coarser_tile(key, fresh_only=True) is None:
                return False
        return True

    def _paint_overlays(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        overlay = self.mask_overlay_image()
        if overlay is not None:
            image, rect = overlay
            painter.save()
            painter.setClipRect(self.image_rect_in_widget())
            painter.setOpacity(MASK_OVERLAY_OPACITY)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(
                QRectF(self.to_widget(rect.topLeft()), self.to_widget(rect.bottomRight())), image
            )
            painter.restore()
        if self._selection is not None and not self._selection.empty:
            if self._selection.shape == "polygon":
                self.paint_polygon(painter, self._selection.outline(), closed=True)
            else:
                self.paint_outline(painter, self._selection.shape, self.selection_rect())
        if self._tool is not None:
            self._tool.paint(painter, self)
        for i, rect in enumerate(self._marks):
            self._paint_mark(painter, i, rect, i == self._chosen_mark)
        if self._badge:
            self._paint_badge(painter, self._badge)

    def _paint_mark(self, painter: QPainter, index: int, rect: QRectF, chosen: bool) -> None:
        box = QRectF(self.to_widget(rect.topLeft()), self.to_widget(rect.bottomRight()))
        colour = MARK_CHOSEN_COLOUR if chosen else MARK_COLOUR
        painter.save()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3.0 if chosen else 2.0))
        painter.drawRect(box)
        style = Qt.PenStyle.SolidLine if chosen else Qt.PenStyle.DashLine
        painter.setPen(QPen(colour, 2.0 if chosen else 1.0, style))
        painter.drawRect(box)
        painter.setPen(colour)
        painter.drawText(
            box.topLeft() + QPointF(4, painter.fontMetrics().ascent() + 2), str(index + 1)
        )
        painter.restore()

    def _paint_badge(self, painter: QPainter, text: str) -> None:
        metrics = painter.fontMetrics()
        pad = 6
        box = QRectF(8, 8, metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + pad)
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(BADGE_WARNING_COLOUR if self._badge_warning else BADGE_COLOUR)
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def selection_rect(self) -> QRectF:
        s = self._selection
        if s is None:
            return QRectF()
        return QRectF(
            self.to_widget(QPointF(s.x, s.y)), self.to_widget(QPointF(s.x + s.w, s.y + s.h))
        )

    def paint_polygon(
        self, painter: QPainter, outline: list[tuple[float, float]], closed: bool
    ) -> None:
        """A two-tone dashed polyline through image points (a lasso)."""
        if len(outline) < 2:
            return
        path = QPainterPath(self.to_widget(QPointF(*outline[0])))
        for point in outline[1:]:
            path.lineTo(self.to_widget(QPointF(*point)))
        if closed:
            path.closeSubpath()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 1.0))
        painter.drawPath(path)
        painter.setPen(QPen(QColor(255, 255, 255, 230), 1.0, Qt.PenStyle.DashLine))
        painter.drawPath(path)

    @staticmethod
    def paint_outline(painter: QPainter, shape: str, rect: QRectF) -> None:
        """A two-tone dashed outline visible on any image."""
        path = QPainterPath()
        if shape == "ellipse":
            path.addEllipse(rect)
        else:
            path.addRect(rect)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 1.0))
        painter.drawPath(path)
        dashed = QPen(QColor(255, 255, 255, 230), 1.0, Qt.PenStyle.DashLine)
        painter.setPen(dashed)
        painter.drawPath(path)

    # -- input -----------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta == 0:
            return
        self.set_zoom(self._zoom * 1.0015**delta, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._pan_from = (pos, QPointF(self._origin))
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and self._marks:
            # A click on a face picks it; only the selection tool gives way to it.
            point = self.to_image(pos)
            hit = [i for i, rect in enumerate(self._marks) if rect.contains(point)]
            if hit and (self._tool is None or isinstance(self._tool, SelectionTool)):
                self.mark_clicked.emit(hit[0])
                return
        if (
            event.button() == Qt.MouseButton.LeftButton
            and self._tool is not None
            and self._tool.press(self, pos, event.modifiers())
        ):
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._pan_from is not None:
            start, origin = self._pan_from
            self._origin = origin + (pos - start)
            self._fitted = False
            self.update()
        elif self._tool is not None:
            self._tool.move(self, pos)
        self._emit_cursor(pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self._restore_cursor()
            return
        if self._tool is not None:
            self._tool.release(self, event.position())

    def _emit_cursor(self, pos: QPointF) -> None:
        if self._state is None:
            return
        p = self.to_image(pos)
        x, y = math.floor(p.x()), math.floor(p.y())
        inside = 0 <= x < self._state.width and 0 <= y < self._state.height
        self.cursor_moved.emit((x, y) if inside else None)

    def leaveEvent(self, event: object) -> None:  # noqa: N802
        self.cursor_moved.emit(None)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self._restore_cursor()
            return
        super().keyReleaseEvent(event)

    def _restore_cursor(self) -> None:
        if self._space_down:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.setCursor(self._tool.cursor() if self._tool is not None else QCursor())

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        if self._fitted:
            self.fit()
        super().resizeEvent(event)  # type: ignore[arg-type]
