"""Widgets for effect parameters, one class per `ParamType`, chosen from metadata.

`make_param_widget(param, context)` is the only entry point: effect panels
never name a parameter. Canvas types (points, rectangle, mask) get a widget
with an "Edit on canvas" button that activates a `CanvasTool`.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Hashable
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from warpaint.engine.runtime.params import Param, ParamType
from warpaint.gui.canvas_tools import CanvasTool, PointsTool, RectTool
from warpaint.gui.recent_styles import FILE, LAYER, recent_styles, remember_styles

SLIDER_STEPS_MAX = 10_000
SELECTION = "selection"
RECENT_THUMB_SIDE = 32
_WHEEL_CONTROLS = (QComboBox, QAbstractSlider, QAbstractSpinBox)


class ParamContext(Protocol):
    """What parameter widgets need from their surroundings."""

    def layer_choices(self) -> list[tuple[int, str]]: ...

    @property
    def current_layer_id(self) -> int | None:
        """The layer the effects run on."""
        ...

    def activate_tool(self, tool: CanvasTool | None, owner: QWidget | None) -> None: ...

    def ask_file(self, title: str) -> str | None: ...

    def run_background(
        self, key: Hashable, fn: Callable[[], Any], on_done: Callable[[Any], None]
    ) -> None:
        """Run `fn` off the GUI thread; `on_done(result)` on it if it succeeds.
        A newer call with the same key supersedes an older one."""
        ...


class _WheelOnlyWithFocus(QObject):
    """Lets a control take the mouse wheel only while it has the keyboard focus;
    otherwise the wheel goes to the scroll area around it, which scrolls."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if (
            event.type() != QEvent.Type.Wheel
            or not isinstance(watched, QWidget)
            or watched.hasFocus()
        ):
            return False
        parent = watched.parentWidget()
        while parent is not None and not isinstance(parent, QAbstractScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            # Handed over explicitly: Qt passes a wheel event on to the parents
            # only when it came from the window system, not when it was sent.
            QApplication.sendEvent(parent.viewport(), event)
        else:
            event.ignore()
        return True


_wheel_guard = _WheelOnlyWithFocus()


def wheel_only_with_focus(root: QWidget) -> None:
    """Make every combo box, slider and spin box in `root` (itself included)
    change on the wheel only once clicked or tabbed into, so scrolling a panel
    over them never changes a value by accident."""
    controls: list[QWidget] = [
        w for w in (root, *root.findChildren(QWidget)) if isinstance(w, _WHEEL_CONTROLS)
    ]
    for control in controls:
        control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        control.installEventFilter(_wheel_guard)


def shrinkable_combo() -> QComboBox:
    """A combo box whose width does not follow its longest item (layer names
    can be long), so panels fit a narrow dock; the popup still shows all."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    return combo


class ParamWidget(QWidget):
    """One parameter's editor; `changed` fires on every edit, `released` when a drag ends."""

    changed = Signal()
    released = Signal()

    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.context = context
        self.setToolTip(param.help)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def refresh_layers(self) -> None:
        """The document's layers changed (only layer pickers care)."""

    @property
    def dragging(self) -> bool:
        return False


# Narrower than this, a slider is too coarse to set a value with: a narrow
# panel puts the field under its label instead of squeezing the slider.
SLIDER_MIN_WIDTH = 120


class NumberParamWidget(ParamWidget):
    """A slider over [min, max] in `step` increments with a spin box beside it."""

    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(param, context, parent)
        integer = param.type is ParamType.INTEGER
        lo = (
            param.min if param.min is not None else (-1e9 if param.max is None else param.max - 100)
        )
        hi = param.max if param.max is not None else lo + 100 if param.min is not None else 1e9
        step = param.step or (1 if integer else (hi - lo) / 1000 if param.max is not None else 0.1)
        self._lo, self._step = float(lo), float(step)
        if integer:
            self.spin: QSpinBox | QDoubleSpinBox = QSpinBox()
            self.spin.setRange(int(lo), int(hi))
            self.spin.setSingleStep(max(1, int(step)))
            if param.auto:
                # 0 means "automatic": the spin box says so instead of showing 0.
                self.spin.setSpecialValueText("Auto")
        else:
            self.spin = QDoubleSpinBox()
            self.spin.setDecimals(min(4, max(0, -math.floor(math.log10(step)))) if step < 1 else 0)
            self.spin.setRange(lo, hi)
            self.spin.setSingleStep(step)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(72)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        bounded = param.min is not None and param.max is not None
        # A seed's neighbours are no more alike than any two seeds: no slider.
        self.slider.setVisible(bounded and not param.random_seed)
        steps = min(SLIDER_STEPS_MAX, round((hi - lo) / step)) if bounded else 1
        self._slider_unit = (hi - lo) / steps if bounded else 1.0
        self.slider.setRange(0, steps)
        self.slider.setMinimumWidth(SLIDER_MIN_WIDTH)
        self._layout.addWidget(self.slider, 1)
        self._layout.addWidget(self.spin)
        self.new_seed: QToolButton | None = None
        if param.random_seed:
            self.new_seed = QToolButton()
            self.new_seed.setText("New")
            self.new_seed.setToolTip("Draw a new random seed")
            self.new_seed.clicked.connect(
                lambda: self.spin.setValue(random.randint(int(lo), int(hi)))
            )
            self._layout.addWidget(self.new_seed)
            self._layout.addStretch(1)
        self._syncing = False
        self.set_value(param.default if param.default is not None else lo)
        self.slider.valueChanged.connect(self._on_slider_changed)
        self.slider.sliderReleased.connect(self.released)
        self.spin.valueChanged.connect(self._on_spin_changed)

    def value(self) -> int | float:
        v = self.spin.value()
        return int(v) if self.param.type is ParamType.INTEGER else float(v)

    def set_value(self, value: Any) -> None:
        self._syncing = True
        self.spin.setValue(value)
        self.slider.setValue(self.slider_position(value))
        self._syncing = False

    def slider_position(self, value: Any) -> int:
        """The slider's integer position for `value`."""
        return round((float(value) - self._lo) / self._slider_unit)

    @property
    def dragging(self) -> bool:
        return self.slider.isSliderDown()

    def _on_slider_changed(self, position: int) -> None:
        if self._syncing:
            return
        self._syncing = True
        value = self._lo + position * self._slider_unit
        self.spin.setValue(round(value) if self.param.type is ParamType.INTEGER else value)
        self._syncing = False
        self.changed.emit()

    def _on_spin_changed(self, value: float) -> None:
        if self._syncing:
            return
        self._syncing = True
        self.slider.setValue(self.slider_position(value))
        self._syncing = False
        self.changed.emit()
        self.released.emit()


class BoolParamWidget(ParamWidget):
    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(param, context, parent)
        self.check = QCheckBox()
        self._layout.addWidget(self.check)
        self._layout.addStretch(1)
        self.set_value(bool(param.default))
        self.check.toggled.connect(lambda _: (self.changed.emit(), self.released.emit()))

    def value(self) -> bool:
        return self.check.isChecked()

    def set_value(self, value: Any) -> None:
        self.check.setChecked(bool(value))


class ChoiceParamWidget(ParamWidget):
    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(param, context, parent)
        self.combo = shrinkable_combo()
        for choice in param.choices:
            self.combo.addItem(choice.replace("-", " ").replace("_", " ").capitalize(), choice)
        self._layout.addWidget(self.combo, 1)
        self.set_value(param.default)
        self.combo.currentIndexChanged.connect(
            lambda _: (self.changed.emit(), self.released.emit())
        )

    def value(self) -> str:
        return str(self.combo.currentData())

    def set_value(self, value: Any) -> None:
        self.combo.setCurrentIndex(max(0, self.combo.findData(value)))


class GalleryParamWidget(ParamWidget):
    """A CHOICE as a grid of pictures (style presets): each drawn once, in
    the background, by the effect's `thumbnail` hook, and kept for the session."""

    SIDE = 72
    _cache: dict[tuple[Any, str, str], QPixmap] = {}

    def __init__(
        self,
        param: Param,
        context: ParamContext,
        thumbnail: Callable[[str, str, int], Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(param, context, parent)
        self._thumbnail = thumbnail
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.SIDE, self.SIDE))
        labels = [
            choice.replace("-", " ").replace("_", " ").capitalize() for choice in param.choices
        ]
        # Cells wide enough for the longest name on one line: labels are never cut.
        text_width = max((self.list.fontMetrics().horizontalAdvance(t) for t in labels), default=0)
        line = self.list.fontMetrics().height()
        self.list.setGridSize(QSize(max(self.SIDE, text_width) + 18, self.SIDE + line + 10))
        # Opens at its top (the first presets, whole), not scrolled to the chosen one.
        self.list.setAutoScroll(False)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWrapping(True)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setMinimumHeight(2 * self.list.gridSize().height() + 8)
        placeholder = QPixmap(self.SIDE, self.SIDE)
        placeholder.fill(QColor(128, 128, 128, 60))
        for choice, label in zip(param.choices, labels, strict=True):
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, choice)
            item.setToolTip(choice)
            key = (thumbnail, param.name, choice)
            item.setIcon(QIcon(self._cache.get(key, placeholder)))
            self.list.addItem(item)
        self._requested = False
        self._layout.addWidget(self.list, 1)
        self.set_value(param.default)
        self.list.currentItemChanged.connect(lambda *_: (self.changed.emit(), self.released.emit()))

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        # Drawn when first shown, not when the window builds every panel at start.
        super().showEvent(event)
        if self._requested:
            return
        self._requested = True
        name, thumbnail = self.param.name, self._thumbnail
        for choice in self.param.choices:
            key = (thumbnail, name, choice)
            if key not in self._cache:
                self.context.run_background(
                    ("thumbnail", id(thumbnail), name, choice),
                    lambda c=choice: thumbnail(name, c, self.SIDE),
                    lambda picture, c=choice, k=key: self._on_thumbnail(c, k, picture),
                )

    def _on_thumbnail(self, choice: str, key: tuple[Any, str, str], picture: Any) -> None:
        if picture is None:
            return
        from warpaint.engine.core.tiles import from_float
        from warpaint.gui.canvas import rgba_to_qimage

        rgba = np.asarray(picture, np.float32)
        if rgba.shape[2] == 3:
            rgba = np.concatenate([rgba, np.ones_like(rgba[..., :1])], axis=2)
        pixmap = QPixmap.fromImage(rgba_to_qimage(from_float(rgba, np.uint8)))
        self._cache[key] = pixmap
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == choice:
                item.setIcon(QIcon(pixmap))

    def value(self) -> str:
        item = self.list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item else str(self.param.default)

    def set_value(self, value: Any) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == value:
                self.list.setCurrentRow(i)
                return


class ImageParamWidget(ParamWidget):
    """IMAGE and IMAGES: layers of the document and image files alike.

    One image (IMAGE): a combo of the layers, then files; value = layer id,
    file path, or None when there is nothing to pick. Until the user picks
    one it shows the first layer other than the one the effect runs on
    (blending or styling a layer with itself is never meant), following the
    current layer as it changes.

    Several (IMAGES): tick layers or files in a list, each with a weight;
    value = ((layer id or file path, weight), ...).

    Both have "Add file…" and a "Recent" combo that re-selects images applied
    before (kept in the context's QSettings, when it has one).
    """

    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(param, context, parent)
        self.multiple = param.type is ParamType.IMAGES
        self._files: list[str] = []  # added files, in the order added
        self._weights: dict[int | str, float] = {}
        self._picked = False  # one image: the user chose it, keep it while it exists
        self.list = QListWidget()
        self.list.setMaximumHeight(96)
        self.combo = shrinkable_combo()
        self.add_file_button = QPushButton("Add file…")
        self.add_file_button.setToolTip("Use an image file that is not a layer")
        self.add_file_button.clicked.connect(self._on_add_file_clicked)
        self.recent_combo = shrinkable_combo()
        self.recent_combo.setIconSize(QSize(RECENT_THUMB_SIDE, RECENT_THUMB_SIDE))
        self.recent_combo.setToolTip("Re-select an image applied before")
        column = QVBoxLayout()
        column.addWidget(self.add_file_button)
        column.addWidget(self.recent_combo)
        column.addStretch(1)
        picker = QVBoxLayout()
        picker.addWidget(self.list)
        picker.addWidget(self.combo)
        picker.addStretch(1)
        # Only one of them is used: hidden, the other takes no room.
        (self.combo if self.multiple else self.list).hide()
        self._layout.addLayout(picker, 1)
        self._layout.addLayout(column)
        self.refresh_layers()
        self.list.itemChanged.connect(lambda _: self._emit_edited())
        self.combo.activated.connect(self._on_combo_activated)
        self.combo.currentIndexChanged.connect(lambda _: self._emit_edited())
        self.recent_combo.activated.connect(self._on_recent_activated)

    def _settings(self) -> QSettings | None:
        settings = getattr(self.context, "settings", None)
        return settings if isinstance(settings, QSettings) else None

    def _emit_edited(self) -> None:
        self.changed.emit()
        self.released.emit()

    def _choices(self) -> list[tuple[int | str, str]]:
        """(reference, shown name) of every layer, then every added file."""
        layers: list[tuple[int | str, str]] = list(self.context.layer_choices())
        return layers + [(path, os.path.basename(path)) for path in self._files]

    # -- several images -------------------------------------------------------
    def _add_item(self, ref: int | str, name: str, checked: bool) -> QListWidgetItem:
        item = QListWidgetItem(name)
        item.setData(Qt.ItemDataRole.UserRole, ref)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        if isinstance(ref, str):
            item.setToolTip(ref)
        self.list.addItem(item)
        return item

    def _items(self) -> list[QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())]

    # -- both -------------------------------------------------------------------
    def refresh_layers(self) -> None:
        if self.multiple:
            chosen = dict(self.value()) if self.list.count() else {}
            self.list.blockSignals(True)
            self.list.clear()
            for ref, name in self._choices():
                self._add_item(ref, name, ref in chosen)
            self.list.blockSignals(False)
        else:
            kept = self.combo.currentData() if self._picked else None
            self.combo.blockSignals(True)
            self.combo.clear()
            for ref, name in self._choices():
                self.combo.addItem(name, ref)
                if isinstance(ref, str):
                    self.combo.setItemData(self.combo.count() - 1, ref, Qt.ItemDataRole.ToolTipRole)
            index = self.combo.findData(kept) if kept is not None else -1
            if index < 0:
                self._picked = False
                own = self.context.current_layer_id
                layers = [
                    i for i in range(self.combo.count()) if isinstance(self.combo.itemData(i), int)
                ]
                others = [i for i in layers if self.combo.itemData(i) != own]
                index = others[0] if others else 0
            self.combo.setCurrentIndex(index)
            self.combo.blockSignals(False)
        self.refresh_recent()

    def refresh_recent(self) -> None:
        """Fill the "Recent" combo: remembered files that still exist, layers of this document."""
        self.recent_combo.clear()
        self.recent_combo.addItem("Recent…", None)
        settings = self._settings()
        names = {name for _, name in self.context.layer_choices()}
        for entry in recent_styles(settings, self.param.name) if settings is not None else []:
            if entry.startswith(FILE):
                path = entry[len(FILE) :]
                thumb = QPixmap(path)
                if thumb.isNull():
                    continue  # not an image Qt can read: nothing to show or re-select
                side = RECENT_THUMB_SIDE
                icon = QIcon(thumb.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio))
                self.recent_combo.addItem(icon, os.path.basename(path), entry)
                self.recent_combo.setItemData(
                    self.recent_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole
                )
            elif entry[len(LAYER) :] in names:
                self.recent_combo.addItem(f"Layer “{entry[len(LAYER) :]}”", entry)
        self.recent_combo.setEnabled(self.recent_combo.count() > 1)

    def remember(self) -> None:
        """Record the chosen images as the most recent (called when the effect is applied)."""
        settings = self._settings()
        if settings is None:
            return
        names = dict(self._choices())
        refs = [ref for ref, _ in self.value()] if self.multiple else [self.value()]
        entries = [
            FILE + ref if isinstance(ref, str) else LAYER + names[ref]
            for ref in refs
            if ref is not None and ref in names
        ]
        remember_styles(settings, self.param.name, entries)
        self.refresh_recent()

    def select_recent(self, entry: str) -> bool:
        """Choose the image of a recent entry; False when it is no longer available."""
        if entry.startswith(FILE):
            self._choose_file(entry[len(FILE) :])
            return True
        name = entry[len(LAYER) :]
        ref = next((r for r, n in self.context.layer_choices() if n == name), None)
        if ref is None:
            return False
        self._choose(ref)
        return True

    def _choose(self, ref: int | str) -> None:
        """Tick (several) or pick (one) an image already offered; reports the edit."""
        if self.multiple:
            for item in self._items():
                if item.data(Qt.ItemDataRole.UserRole) == ref:
                    item.setCheckState(Qt.CheckState.Checked)  # itemChanged reports the edit
            return
        self._picked = True
        index = self.combo.findData(ref)
        if index == self.combo.currentIndex():
            return
        self.combo.setCurrentIndex(index)  # currentIndexChanged reports the edit

    def _choose_file(self, path: str) -> None:
        if path not in self._files:
            self._files.append(path)
            if self.multiple:
                self._add_item(path, os.path.basename(path), True)
                self._emit_edited()
                return
            self.refresh_layers()
        self._choose(path)

    def _on_add_file_clicked(self) -> None:
        path = self.context.ask_file(self.param.label)
        if path:
            self._choose_file(path)

    def _on_combo_activated(self, _index: int) -> None:
        self._picked = True

    def _on_recent_activated(self, index: int) -> None:
        entry = self.recent_combo.itemData(index)
        self.recent_combo.setCurrentIndex(0)
        if isinstance(entry, str):
            self.select_recent(entry)

    def value(self) -> Any:
        if not self.multiple:
            return self.combo.currentData()
        out = []
        for item in self._items():
            if item.checkState() == Qt.CheckState.Checked:
                ref = item.data(Qt.ItemDataRole.UserRole)
                out.append((ref, self._weights.get(ref, 1.0)))
        return tuple(out)

    def set_value(self, value: Any) -> None:
        chosen = dict(value or ()) if self.multiple else ({value: 1.0} if value is not None else {})
        self._weights.update(chosen)
        added = [ref for ref in chosen if isinstance(ref, str) and ref not in self._files]
        self._files.extend(added)
        if added:
            self.refresh_layers()
        if not self.multiple:
            index = self.combo.findData(value)
            if index >= 0:
                self._picked = True
                self.combo.setCurrentIndex(index)
            return
        for item in self._items():
            checked = item.data(Qt.ItemDataRole.UserRole) in chosen
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)


class FileParamWidget(ParamWidget):
    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(param, context, parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("No file chosen")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        self._layout.addWidget(self.edit, 1)
        self._layout.addWidget(browse)
        self.set_value(param.default)
        self.edit.editingFinished.connect(lambda: (self.changed.emit(), self.released.emit()))

    def value(self) -> str | None:
        return self.edit.text().strip() or None

    def set_value(self, value: Any) -> None:
        self.edit.setText(str(value) if value else "")

    def _on_browse_clicked(self) -> None:
        path = self.context.ask_file(self.param.label)
        if path:
            self.edit.setText(path)
            self.edit.setToolTip(os.path.basename(path))
            self.changed.emit()
            self.released.emit()


class CanvasParamWidget(ParamWidget):
    """Points / rectangle: a summary, an "Edit on canvas" toggle and Clear."""

    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(param, context, parent)
        if param.type is ParamType.POINTS:
            limit = int(param.max) if param.max is not None else None
            self.tool: PointsTool | RectTool = PointsTool(tuple(param.default or ()), limit, self)
        else:
            self.tool = RectTool(tuple(param.default) if param.default else None, self)
        self.summary = QLabel()
        self.summary.setMinimumWidth(90)
        self.edit_button = QToolButton()
        self.edit_button.setText("Edit on canvas")
        self.edit_button.setCheckable(True)
        self.edit_button.toggled.connect(self._on_edit_toggled)
        clear = QToolButton()
        clear.setText("Clear")
        clear.clicked.connect(self._on_clear_clicked)
        self._layout.addWidget(self.summary, 1)
        self._layout.addWidget(self.edit_button)
        self._layout.addWidget(clear)
        self.tool.changed.connect(self._update_summary)
        self.tool.edited.connect(lambda: (self.changed.emit(), self.released.emit()))
        self._update_summary()

    def value(self) -> Any:
        return self.tool.value

    def set_value(self, value: Any) -> None:
        self.tool.set_value(
            tuple(value) if value else (() if isinstance(self.tool, PointsTool) else None)
        )

    def deactivate(self) -> None:
        self.edit_button.blockSignals(True)
        self.edit_button.setChecked(False)
        self.edit_button.blockSignals(False)

    def _on_edit_toggled(self, on: bool) -> None:
        self.context.activate_tool(self.tool if on else None, self if on else None)

    def _on_clear_clicked(self) -> None:
        self.set_value(None)
        self.changed.emit()
        self.released.emit()

    def _update_summary(self) -> None:
        v = self.tool.value
        if isinstance(self.tool, PointsTool):
            text = f"{len(v)} point{'s' if len(v) != 1 else ''}" if v else "No points"
        else:
            text = f"{v[2]:.0f}×{v[3]:.0f} at {v[0]:.0f},{v[1]:.0f}" if v else "No region"
        self.summary.setText(text)
        self.summary.setToolTip(text)  # the panel may be too narrow for all of it


class MaskParamWidget(ParamWidget):
    """MASK: the selection (edited on the canvas with the selection tools) or a layer's mask."""

    def __init__(self, param: Param, context: ParamContext, parent: QWidget | None = None) -> None:
        super().__init__(param, context, parent)
        self.combo = shrinkable_combo()
        self._layout.addWidget(self.combo, 1)
        self.edit_button = QToolButton()
        self.edit_button.setText("Select on canvas")
        self.edit_button.clicked.connect(lambda: self.context.activate_tool(None, None))
        self._layout.addWidget(self.edit_button)
        self.refresh_layers()
        self.combo.currentIndexChanged.connect(
            lambda _: (self.changed.emit(), self.released.emit())
        )

    def refresh_layers(self) -> None:
        current = self.combo.currentData() if self.combo.count() else SELECTION
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem("Selection", SELECTION)
        self.combo.addItem("None (whole layer)", None)
        for layer_id, name in self.context.layer_choices():
            self.combo.addItem(f"Mask of “{name}”", layer_id)
        index = self.combo.findData(current)
        self.combo.setCurrentIndex(index if index >= 0 else 0)
        self.combo.blockSignals(False)

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index >= 0:
            self.combo.setCurrentIndex(index)


WIDGETS: dict[ParamType, type[ParamWidget]] = {
    ParamType.NUMBER: NumberParamWidget,
    ParamType.INTEGER: NumberParamWidget,
    ParamType.BOOL: BoolParamWidget,
    ParamType.CHOICE: ChoiceParamWidget,
    ParamType.IMAGE: ImageParamWidget,
    ParamType.IMAGES: ImageParamWidget,
    ParamType.POINTS: CanvasParamWidget,
    ParamType.RECT: CanvasParamWidget,
    ParamType.MASK: MaskParamWidget,
    ParamType.FILE: FileParamWidget,
}


def make_param_widget(
    param: Param,
    context: ParamContext,
    thumbnail: Callable[[str, str, int], Any] | None = None,
) -> ParamWidget:
    """The editor for `param`, chosen by its type (a gallery for a `gallery`
    CHOICE whose effect draws thumbnails)."""
    if param.type is ParamType.CHOICE and param.gallery and thumbnail is not None:
        widget: ParamWidget = GalleryParamWidget(param, context, thumbnail)
    else:
        widget = WIDGETS[param.type](param, context)
    wheel_only_with_focus(widget)
    return widget
