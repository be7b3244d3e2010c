"""The main window: one document, its canvas, docks, menus, status bar and files.

Everything the user does ends in a document edit (one undoable step), a job
handed to the engine's lanes through the bridge, or a file operation. Slow
work (effects, whole-image transforms, drawing) runs on the lanes; the GUI
thread only submits it and applies the results.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QRectF, QSettings, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QDoubleSpinBox,
    QLabel,
    QMainWindow,
    QProgressBar,
    QToolButton,
    QWidget,
)

from warpaint.engine.core import transform
from warpaint.engine.core.compositing import composite
from warpaint.engine.core.document import DocState, Document, Group, Layer
from warpaint.engine.core.selection import Selection
from warpaint.engine.core.tiles import Rect, TiledImage, from_float
from warpaint.engine.runtime.errors import WarpaintError
from warpaint.engine.runtime.jobs import Job, JobContext, JobRunner, JobState
from warpaint.engine.runtime.params import ParamType
from warpaint.engine.runtime.registry import effects
from warpaint.engine.runtime.settings import Settings
from warpaint.gui.attribute_sliders import SliderBuilderWidget
from warpaint.gui.bridge import JobBridge
from warpaint.gui.canvas import CanvasView
from warpaint.gui.canvas_tools import CanvasTool, SelectionTool
from warpaint.gui.device_menu import DeviceMenu, DeviceResolver
from warpaint.gui.dialogs import ExportOptionsDialog, NewDocumentDialog, Prompter, ResizeDialog
from warpaint.gui.effect_session import EffectSession
from warpaint.gui.effects_panel import EffectPanel, EffectsPanel
from warpaint.gui.face_picker import FacePickerWidget
from warpaint.gui.history_panel import HistoryPanel
from warpaint.gui.icons import icon
from warpaint.gui.keep_preview import KeepPreviewDialog
from warpaint.gui.layers_panel import LayersPanel
from warpaint.gui.masks import MaskActions
from warpaint.gui.new_preset import NewPresetWidget
from warpaint.gui.refine_style import attach_refine_tool

MAX_RECENT = 10
ORA_FILTER = "OpenRaster (*.ora)"
STATUS_TIMEOUT_MS = 6000


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """A QImage as an (h, w, 4) uint8 straight-alpha RGBA array (a copy)."""
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(h, image.bytesPerLine())[:, : w * 4].reshape(h, w, 4).copy()


def straight_qimage(rgba: np.ndarray) -> QImage:
    """An (h, w, 4) uint8 straight-alpha array as an RGBA8888 QImage (a copy).

    Straight, not premultiplied: soft edges keep their colour exactly.
    """
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, w * 4, QImage.Format.Format_RGBA8888).copy()


def with_selection_alpha(pixels: np.ndarray, selection: Selection, area: Rect) -> np.ndarray:
    """(h, w, 4) float RGBA of canvas `area` with alpha multiplied by the selection's coverage.

    The mask is rendered for `area` only (the selection moved by the area's
    origin), not for the whole canvas.
    """
    local = dataclasses.replace(selection, x=selection.x - area.x, y=selection.y - area.y)
    out = pixels.copy()
    out[..., 3] *= local.mask(area.w, area.h)
    return out


def local_paths(urls: list[QUrl]) -> list[str]:
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile()]


class MainWindow(QMainWindow):
    """A window editing one document."""

    document_changed = Signal()  # any change of the shown document (after the panels updated)

    def __init__(
        self,
        settings: QSettings | None = None,
        bridge: JobBridge | None = None,
        prompter: Prompter | None = None,
        engine_settings: Settings | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.setWindowIcon(icon("app-icon"))
        self.settings = settings if settings is not None else QSettings()
        self.engine_settings = engine_settings or Settings.from_env()
        self._owns_bridge = bridge is None
        self._device_resolver: DeviceResolver | None = None
        if bridge is None:
            bridge = JobBridge(JobRunner("cpu"))
            self._device_resolver = DeviceResolver(self)
            self._device_resolver.resolved.connect(self._on_device_resolved)
            # After the first paint: the import competes for the GIL.
            QTimer.singleShot(
                250,
                lambda: (
                    self._device_resolver and self._device_resolver.start(device, self.settings)
                ),
            )
        self.bridge = bridge
        self.prompter = prompter or Prompter()
        self.doc: Document | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._tool_owner: QWidget | None = None
        self._autosaver: Any = None
        self._autosaving: _AutosaveWrite | None = None
        self._save_then: tuple[Job, Callable[[], object]] | None = None
        self._quitting = False

        self.canvas = CanvasView(self.bridge)
        self.setCentralWidget(self.canvas)
        self.selection_tool = SelectionTool("rectangle", self)
        self.selection_tool.edited.connect(self._on_selection_edited)
        self.selection_tool.changed.connect(self.canvas.update)

        self._make_actions()
        self._make_docks()
        self._make_menus()
        self._make_toolbars()
        self._make_status_bar()
        self.setAcceptDrops(True)
        self.canvas.zoom_changed.connect(self._on_canvas_zoom_changed)
        self.canvas.cursor_moved.connect(self._on_canvas_cursor_moved)
        self.bridge.long_jobs_changed.connect(self._on_long_jobs_changed)
        self.bridge.job_progress.connect(self._on_job_progress)
        self._autosave_timer = QTimer(self, interval=5000)
        self._autosave_timer.timeout.connect(self._on_autosave_timer)
        self._restore_layout()
        self._set_tool(self.selection_tool, None)
        self._update_actions()

    # ======================================================================
    # construction
    # ======================================================================
    def _action(
        self,
        text: str,
        slot: Callable[[], Any],
        shortcut: QKeySequence.StandardKey | str | None = None,
        icon_name: str | None = None,
        tip: str | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if isinstance(shortcut, QKeySequence.StandardKey):
            action.setShortcuts(shortcut)
        elif shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip or text.replace("&", "").rstrip("…"))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        a = self._action
        self.new_action = a("&New…", self.new_document, K.New, "document-new")
        self.open_action = a("&Open…", self.open_dialog, K.Open, "document-open")
        self.save_action = a("&Save", self.save, K.Save, "document-save")
        self.save_as_action = a("Save &As…", self.save_as, K.SaveAs)
        self.export_action = a("&Export…", self.export_dialog, "Ctrl+Shift+E", "document-export")
        self.close_action = a("&Close", self.close, K.Close)
        self.quit_action = a("&Quit", self._quit, K.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        self.undo_action = a("&Undo", self.undo, K.Undo, "edit-undo")
        self.redo_action = a("&Redo", self.redo, K.Redo, "edit-redo")
        # Qt's Redo keys differ per platform (on X11 only Ctrl+Shift+Z): both
        # common keys redo everywhere, beside whatever the platform adds.
        redo_keys = [QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")]
        platform_keys = [k for k in self.redo_action.shortcuts() if k not in redo_keys]
        self.redo_action.setShortcuts(redo_keys + platform_keys)
        self.copy_action = a("&Copy", self.copy, K.Copy)
        self.copy_merged_action = a("Copy &Merged", lambda: self.copy(merged=True), "Ctrl+Shift+C")
        self.paste_action = a("&Paste as New Layer", self.paste, K.Paste)
        self.select_all_action = a("Select &All", self.select_all, K.SelectAll)
        self.deselect_action = a("&Deselect", self.deselect, "Ctrl+Shift+A")
        self.invert_selection_action = a("&Invert Selection", self.invert_selection, "Ctrl+I")

        self.crop_action = a("Cro&p to Selection", self.crop_to_selection, None, "image-crop")
        self.resize_action = a("&Resize Image…", self.resize_image_dialog, "Ctrl+Alt+I")
        self.canvas_size_action = a("Canvas &Size…", self.canvas_size_dialog, "Ctrl+Alt+C")
        self.rotate_cw_action = a(
            "Rotate 90° &Clockwise", lambda: self.rotate(90), None, "rotate-cw"
        )
        self.rotate_ccw_action = a(
            "Rotate 90° C&ounter-clockwise", lambda: self.rotate(270), None, "rotate-ccw"
        )
        self.rotate_180_action = a("Rotate &180°", lambda: self.rotate(180), None, "rotate-180")
        self.flip_h_action = a(
            "Flip &Horizontally", lambda: self.flip(True), None, "flip-horizontal"
        )
        self.flip_v_action = a("Flip &Vertically", lambda: self.flip(False), None, "flip-vertical")

        self.new_layer_action = a("&New Layer", self.new_layer, "Ctrl+Shift+N", "layer-new")
        self.layer_from_file_action = a(
            "Add Layer from &File…", self.add_layers_dialog, None, "layer-from-file"
        )
        self.duplicate_layer_action = a(
            "&Duplicate Layer", self.duplicate_layer, "Ctrl+J", "layer-duplicate"
        )
        self.delete_layer_action = a("De&lete Layer", self.delete_layer, None, "layer-delete")
        self.merge_down_action = a("&Merge Down", self.merge_down, "Ctrl+E", "layer-merge-down")
        self.raise_layer_action = a(
            "&Raise Layer", lambda: self.shift_layer(1), "Ctrl+]", "layer-raise"
        )
        self.lower_layer_action = a(
            "Lo&wer Layer", lambda: self.shift_layer(-1), "Ctrl+[", "layer-lower"
        )

        self.zoom_in_action = a("Zoom &In", self.canvas.zoom_in, K.ZoomIn, "zoom-in")
        self.zoom_out_action = a("Zoom &Out", self.canvas.zoom_out, K.ZoomOut, "zoom-out")
        self.fit_action = a("&Fit in Window", self.canvas.fit, "Ctrl+0", "zoom-fit")
        self.actual_size_action = a("&100 %", self.canvas.actual_size, "Ctrl+1", "zoom-original")

        self.rect_select_action = a(
            "&Rectangle Select",
            lambda: self._choose_selection("rectangle"),
            "M",
            "select-rectangle",
        )
        self.ellipse_select_action = a(
            "&Ellipse Select",
            lambda: self._choose_selection("ellipse"),
            "Shift+M",
            "select-ellipse",
        )
        self.lasso_select_action = a(
            "&Lasso Select", lambda: self._choose_selection("polygon"), "L", "tool-lasso"
        )
        self.masks = MaskActions(self)
        self.tool_group = QActionGroup(self)
        for action in (
            self.rect_select_action,
            self.ellipse_select_action,
            self.lasso_select_action,
            self.masks.brush_action,
            self.masks.move_action,
        ):
            action.setCheckable(True)
            self.tool_group.addAction(action)
        self.rect_select_action.setChecked(True)
        self.cancel_jobs_action = a("&Cancel Running Jobs", self.cancel_jobs, "Esc", "job-cancel")
        self.about_action = a("&About Warpaint", self._about)
        self._make_group_actions()

    def _make_group_actions(self) -> None:
        a = self._action
        self.group_layers_action = a("&Group Layers", self.group_layers, "Ctrl+G")
        self.ungroup_action = a("&Ungroup", self.ungroup, "Ctrl+Shift+G")
        self.merge_group_action = a("Merge Grou&p", self.merge_group)
        self.new_group_action = a("New Gr&oup", self.new_group)

    def _make_docks(self) -> None:
        self.layers_panel = LayersPanel(self.bridge)
        self.layers_panel.set_actions(
            [
                self.new_layer_action,
                self.layer_from_file_action,
                self.duplicate_layer_action,
                self.merge_down_action,
                self.raise_layer_action,
                self.lower_layer_action,
                self.delete_layer_action,
            ]
        )
        self.layers_panel.set_mask_actions(
            [
                self.masks.add_action,
                self.masks.invert_action,
                self.masks.remove_action,
                self.masks.show_action,
            ]
        )
        self.layers_panel.current_layer_changed.connect(self._on_current_layer_changed)
        self.layers_panel.current_node_changed.connect(lambda _node_id: self._update_actions())
        self.layers_panel.set_context_actions(
            [
                self.new_layer_action,
                self.new_group_action,
                self.duplicate_layer_action,
                self.delete_layer_action,
                None,
                self.group_layers_action,
                self.ungroup_action,
                self.merge_group_action,
                self.merge_down_action,
            ]
        )
        self.history_panel = HistoryPanel()
        self.effects_panel = EffectsPanel(effects(), self)
        attributes_panel = self.effects_panel.panels.get("attributes")
        if attributes_panel is not None:
            attributes_panel.add_tools(SliderBuilderWidget(attributes_panel, self))
        fast_style_panel = self.effects_panel.panels.get("fast-style")
        if fast_style_panel is not None:
            fast_style_panel.add_tools(NewPresetWidget(fast_style_panel, self))
        adain_panel = self.effects_panel.panels.get("arbitrary-style")
        if adain_panel is not None:
            self.refine_tool = attach_refine_tool(self, adain_panel)
        self.session = EffectSession(
            self.bridge,
            self.engine_settings.preview_max_side,
            lambda: self.selection,
            list(self.effects_panel.panels.values()),
            self,
        )
        self.session.confirm_keep = lambda title: bool(
            self.prompter.run_dialog(KeepPreviewDialog(title, self))
        )
        self.session.shown_changed.connect(self._on_session_shown_changed)
        self.session.message.connect(
            lambda text: self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)
        )
        self.session.failed.connect(lambda title, reason: self._error(title, reason, None))
        self.session.apply_finished.connect(self._update_actions)
        self.face_pickers: dict[EffectPanel, FacePickerWidget] = {}
        for panel in self.effects_panel.panels.values():
            if panel.spec.hook("prefill") is not None:
                # Values found in the layer are found for one face: the user picks it.
                picker = FacePickerWidget()
                picker.face_chosen.connect(self.session.pick_face)
                panel.add_tools(picker)
                panel.hide_params(
                    {
                        p.name
                        for p in panel.spec.params
                        if p.image_bound and p.type is ParamType.INTEGER
                    }
                )
                self.face_pickers[panel] = picker
        self.session.faces_changed.connect(self._on_session_faces_changed)
        self.canvas.mark_clicked.connect(self.session.pick_face)
        for panel in self.effects_panel.panels.values():
            panel.preview_requested.connect(self.session.edited)
            panel.preview_pressed.connect(lambda p: self.session.preview(explicit=True))
            panel.apply_requested.connect(self.apply_effect)
        self.effects_panel.effect_changed.connect(self.session.set_effect)
        self.effects_panel.effect_changed.connect(self._on_session_faces_changed)
        self.session.set_effect(self.effects_panel.current)

        self.layers_dock = self._dock(
            "Layers", "LayersDock", self.layers_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.effects_dock = self._dock(
            "Effects", "EffectsDock", self.effects_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.history_dock = self._dock(
            "History", "HistoryDock", self.history_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.tabifyDockWidget(self.effects_dock, self.history_dock)
        self.effects_dock.raise_()
        # An effect's panel (sliders, gallery, loss plot) needs the height more
        # than a short layer list does.
        self.resizeDocks([self.layers_dock, self.effects_dock], [280, 520], Qt.Orientation.Vertical)
        self.resizeDocks([self.layers_dock], [320], Qt.Orientation.Horizontal)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setMinimumWidth(260)
        self.addDockWidget(area, dock)
        return dock

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addActions([self.new_action, self.open_action])
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addSeparator()
        file.addActions([self.save_action, self.save_as_action, self.export_action])
        file.addSeparator()
        file.addActions([self.close_action, self.quit_action])

        edit = bar.addMenu("&Edit")
        edit.addActions([self.undo_action, self.redo_action])
        edit.addSeparator()
        edit.addActions([self.copy_action, self.copy_merged_action, self.paste_action])
        edit.addSeparator()
        edit.addActions(
            [self.select_all_action, self.deselect_action, self.invert_selection_action]
        )
        edit.addSeparator()
        self.device_menu = DeviceMenu(self.settings, self.bridge, self)
        self.device_menu.device_changed.connect(
            lambda name: self.statusBar().showMessage(f"Effects now run on: {name}", 5000)
        )
        edit.addMenu(self.device_menu)

        image = bar.addMenu("&Image")
        image.addActions([self.crop_action, self.resize_action, self.canvas_size_action])
        image.addSeparator()
        image.addActions([self.rotate_cw_action, self.rotate_ccw_action, self.rotate_180_action])
        image.addActions([self.flip_h_action, self.flip_v_action])

        layer = bar.addMenu("&Layer")
        layer.addActions(
            [self.new_layer_action, self.layer_from_file_action, self.duplicate_layer_action]
        )
        layer.addActions([self.delete_layer_action, self.merge_down_action])
        layer.addSeparator()
        layer.addActions([self.raise_layer_action, self.lower_layer_action])
        layer.addSeparator()
        layer.addActions([self.new_group_action, self.group_layers_action, self.ungroup_action])
        layer.addAction(self.merge_group_action)
        layer.addSeparator()
        m = self.masks
        layer.addActions([m.add_action, m.remove_action, m.invert_action])
        layer.addActions([m.from_selection_action, m.from_alpha_action, m.from_file_action])

        effects_menu = bar.addMenu("Effec&ts")
        for spec in effects().values():
            action = effects_menu.addAction(f"{spec.title}…")
            reason = spec.unavailable_reason()
            action.setStatusTip(reason or spec.description)
            action.setEnabled(reason is None)
            action.triggered.connect(lambda _c=False, eid=spec.id: self.show_effect(eid))
        effects_menu.addSeparator()
        effects_menu.addAction(self.cancel_jobs_action)

        view = bar.addMenu("&View")
        view.addActions(
            [self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_size_action]
        )
        view.addSeparator()
        view.addAction(self.masks.show_action)
        view.addSeparator()
        for dock in (self.layers_dock, self.effects_dock, self.history_dock):
            view.addAction(dock.toggleViewAction())

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)
        self.menus = {"file": file, "edit": edit, "image": image, "layer": layer, "view": view}

    def _make_toolbars(self) -> None:
        main = self.addToolBar("Main")
        main.setObjectName("MainToolBar")
        main.setIconSize(QSize(20, 20))
        main.addActions([self.new_action, self.open_action, self.save_action, self.export_action])
        main.addSeparator()
        main.addActions([self.undo_action, self.redo_action])
        main.addSeparator()
        main.addActions(
            [self.zoom_out_action, self.zoom_in_action, self.fit_action, self.actual_size_action]
        )
        main.addSeparator()
        main.addActions([self.crop_action, self.rotate_ccw_action, self.rotate_cw_action])
        main.addActions([self.flip_h_action, self.flip_v_action])

        tools = self.addToolBar("Selection")
        tools.setObjectName("SelectionToolBar")
        tools.setIconSize(QSize(20, 20))
        tools.addActions(
            [self.rect_select_action, self.ellipse_select_action, self.lasso_select_action]
        )
        tools.addWidget(QLabel("  Feather: "))
        self.feather_spin = QDoubleSpinBox()
        self.feather_spin.setRange(0.0, 500.0)
        self.feather_spin.setSuffix(" px")
        self.feather_spin.setDecimals(1)
        self.feather_spin.setToolTip("Soften the selection's edge over this many pixels")
        self.feather_spin.valueChanged.connect(self._on_feather_changed)
        tools.addWidget(self.feather_spin)
        self.addToolBarBreak()
        self.addToolBar(self.masks.make_toolbar())

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.zoom_label = QLabel("100 %")
        self.zoom_label.setMinimumWidth(60)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.position_label = QLabel("")
        self.position_label.setMinimumWidth(90)
        self.swatch_label = QLabel()
        self.swatch_label.setFixedSize(14, 14)
        self.colour_label = QLabel("")
        self.colour_label.setMinimumWidth(150)
        self.job_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setFixedWidth(160)
        self.progress_bar.setMaximumHeight(16)
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.cancel_jobs_action)
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.setToolTip("Cancel the running job")
        for widget in (self.job_label, self.progress_bar, self.cancel_button):
            widget.setVisible(False)
            bar.addPermanentWidget(widget)
        for widget in (self.position_label, self.swatch_label, self.colour_label, self.zoom_label):
            bar.addPermanentWidget(widget)

    # ======================================================================
    # document
    # ======================================================================
    def set_document(self, doc: Document) -> None:
        """Show `doc` in this window (the caller has dealt with unsaved changes)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._discard_autosave()
        self._autosaver = None
        self.doc = doc
        self._unsubscribe = doc.subscribe(self._on_document_changed)
        self.set_selection(None)
        self.session.set_document(doc)
        self.canvas.set_document(doc)
        self.layers_panel.set_document(doc)
        self.history_panel.set_document(doc)
        self.session.set_layer(self.current_layer_id)
        self._start_autosave()
        self._on_document_changed(doc)

    @property
    def current_layer_id(self) -> int | None:
        return self.layers_panel.current_layer_id

    def current_layer(self) -> Layer | None:
        if self.doc is None or self.current_layer_id is None:
            return None
        try:
            return self.doc.layer(self.current_layer_id)
        except KeyError:
            return None

    def _on_device_resolved(self, device: str, note: str | None) -> None:
        self.bridge.runner.device = device
        if note:
            self.statusBar().showMessage(note, 10000)

    def _on_document_changed(self, doc: Document) -> None:
        self.setWindowTitle(f"{doc.name}[*] — Warpaint")
        self.setWindowModified(doc.dirty)
        self.session.document_edited()  # a preview follows the edit
        self._update_actions()
        self.document_changed.emit()

    def _update_actions(self) -> None:
        doc = self.doc
        has_doc = doc is not None
        layer = self.current_layer()
        history = doc.history if doc is not None else None
        self.undo_action.setEnabled(bool(history and history.can_undo))
        self.redo_action.setEnabled(bool(history and history.can_redo))
        self.undo_action.setText(
            f"&Undo {history.undo_label}" if history and history.undo_label else "&Undo"
        )
        self.redo_action.setText(
            f"&Redo {history.redo_label}" if history and history.redo_label else "&Redo"
        )
        for action in (
            self.save_action,
            self.save_as_action,
            self.export_action,
            self.copy_merged_action,
            self.paste_action,
            self.select_all_action,
            self.resize_action,
            self.canvas_size_action,
            self.rotate_cw_action,
            self.rotate_ccw_action,
            self.rotate_180_action,
            self.flip_h_action,
            self.flip_v_action,
            self.new_layer_action,
            self.layer_from_file_action,
        ):
            action.setEnabled(has_doc)
        has_selection = self.selection is not None
        self.crop_action.setEnabled(has_doc and has_selection)
        self.deselect_action.setEnabled(has_selection)
        self.invert_selection_action.setEnabled(has_selection)
        self.copy_action.setEnabled(layer is not None)
        self._update_layer_tree_actions()
        self.masks.update()
        for panel in self.effects_panel.panels.values():
            panel.set_has_selection(has_selection)
            panel.apply_button.setEnabled(
                layer is not None and panel.apply_button.text() == "Apply"
            )

    def _update_layer_tree_actions(self) -> None:
        """Layer actions for the current row, a layer or a group: a group is
        duplicated, deleted, raised and lowered whole; merge down needs a
        layer below in the same group."""
        doc, node = self.doc, self.layers_panel.current_node()
        if doc is None or (node is not None and not doc.state.contains(node.id)):
            node = None  # the panel still shows the document this window is leaving
        is_group = isinstance(node, Group)
        self.duplicate_layer_action.setEnabled(node is not None)
        # The document keeps at least one pixel layer.
        self.delete_layer_action.setEnabled(
            doc is not None and node is not None and bool(doc.state.remove_node(node.id).layers)
        )
        self.new_group_action.setEnabled(doc is not None)
        self.group_layers_action.setEnabled(node is not None)
        self.ungroup_action.setEnabled(is_group)
        self.merge_group_action.setEnabled(is_group)
        if doc is None or node is None:
            for action in (
                self.merge_down_action,
                self.lower_layer_action,
                self.raise_layer_action,
            ):
                action.setEnabled(False)
            return
        state = doc.state
        place, siblings = state.path_of(node.id)[-1], state.siblings_of(node.id)
        self.merge_down_action.setEnabled(
            not is_group and place > 0 and isinstance(siblings[place - 1], Layer)
        )
        if is_group:
            self.lower_layer_action.setEnabled(place > 0)
            self.raise_layer_action.setEnabled(place < len(siblings) - 1)
        else:
            index, count = state.index_of(node.id), len(state.layers)
            self.lower_layer_action.setEnabled(index > 0)
            self.raise_layer_action.setEnabled(index < count - 1)

    def _on_current_layer_changed(self, _layer_id: object) -> None:
        self._update_actions()
        for each in self.effects_panel.panels.values():
            each.follow_current_layer()
        self.session.set_layer(self.current_layer_id)

    # ======================================================================
    # files
    # ======================================================================
    def maybe_save(self, then: Callable[[], object]) -> bool:
        """True when the document may be dropped now (clean, or the user chose Discard).

        After "Save" it returns False: the save runs on the files lane, and
        once it succeeded `then` runs on the GUI thread to resume what the
        user was doing (close, open, ...). A failed or cancelled save leaves
        everything as it is.
        """
        if self._save_then is not None:
            self.statusBar().showMessage(
                "Still saving: the window goes on when the save has finished", STATUS_TIMEOUT_MS
            )
            return False
        if self.doc is None or not self.doc.dirty:
            return True
        answer = self.prompter.ask_save_changes(self, self.doc.name)
        if answer != "save":
            return answer == "discard"
        job = self.save()
        if job is not None:
            self._save_then = (job, then)
        return False

    def new_document(self) -> bool:
        dialog = NewDocumentDialog(self)
        if not self.prompter.run_dialog(dialog):
            return False
        width, height = dialog.size
        background = dialog.background

        def create() -> None:
            self.set_document(Document.new(width, height, background))

        if not self.maybe_save(then=create):
            return False
        create()
        return True

    def open_dialog(self) -> None:
        from warpaint.engine.io import OPEN_EXTENSIONS

        patterns = _patterns(OPEN_EXTENSIONS)
        paths = self.prompter.open_paths(
            self, "Open Image", self._last_directory(), f"Images ({patterns});;All files (*)"
        )
        if paths:
            self.drop_files(paths, as_layers=False)

    def open_path(self, path: str, then: Callable[[], object] | None = None) -> bool:
        """Open `path` in this window after asking about unsaved changes.

        False when it did not open now; after a Save in the prompt it opens
        (and runs `then`) once the save has finished.
        """

        def resume() -> None:
            if self.open_path(path) and then is not None:
                then()

        if not self.maybe_save(then=resume):
            return False
        from warpaint.engine.io import open_document

        try:
            doc = open_document(path)
        except (WarpaintError, OSError) as exc:
            self._error("Could not open the file", exc, path)
            return False
        self.set_document(doc)
        self._add_recent(path)
        # What the reader noticed (unknown blend modes, a dropped live mask) is
        # said with the open, not in a dialog: the file did open.
        opened = "; ".join([f"Opened {os.path.basename(path)}", *doc.state.meta.warnings])
        self.statusBar().showMessage(opened, STATUS_TIMEOUT_MS)
        return True

    def save(self) -> Job | None:
        """Save in place (an .ora), else ask where; the write runs on the files lane."""
        if self.doc is None:
            return None
        if self.doc.path and self.doc.path.lower().endswith(".ora"):
            return self.save_to(self.doc.path)
        return self.save_as()

    def save_as(self) -> Job | None:
        if self.doc is None:
            return None
        stem = os.path.splitext(self.doc.name)[0]
        suggestion = os.path.join(self._last_directory(), f"{stem}.ora")
        path = self.prompter.save_path(self, "Save As", suggestion, ORA_FILTER)
        if not path:
            return None
        if not path.lower().endswith(".ora"):
            path += ".ora"
        return self.save_to(path)

    def save_to(self, path: str) -> Job:
        """Write the current state as OpenRaster to `path` on the files lane.

        The worker only sees the immutable snapshot. When the write is done
        the document is marked saved, on the GUI thread, if it is still at
        that snapshot; edits made meanwhile keep it dirty, but it now belongs
        to `path` either way.
        """
        from warpaint.engine.io import write_ora

        assert self.doc is not None
        doc, snapshot, name = self.doc, self.doc.state, os.path.basename(path)

        def work(ctx: JobContext) -> list[str]:
            ctx.check()  # a save cancelled while queued writes nothing
            return write_ora(snapshot, path)

        def done(job: Job) -> None:
            pending, self._save_then = self._save_then, None
            if pending is not None and pending[0] is not job:
                self._save_then = pending  # another save resumes the user's action
                pending = None
            if job.state is JobState.FAILED:
                self._error("Could not save the file", _job_reason(job), path)
                return
            if job.state is not JobState.DONE:
                self.statusBar().showMessage(f"Saving {name} cancelled", STATUS_TIMEOUT_MS)
                return
            # Marks the snapshot that was written: edits made meanwhile stay
            # dirty; listeners (title, modified mark) are notified either way.
            doc.mark_saved(path, snapshot)
            self._add_recent(path)
            if not doc.dirty and doc is self.doc:
                self._discard_autosave()
            note = "" if not doc.dirty else " (changes made while saving are not saved yet)"
            # Foreign members that could not be carried (their source file
            # changed or went away) are said, not dropped silently.
            dropped = "".join(f"; {line}" for line in job.result or [])
            self.statusBar().showMessage(f"Saved {name}{note}{dropped}", STATUS_TIMEOUT_MS)
            if pending is not None:
                pending[1]()

        return self.bridge.submit(work, f"Saving {name}", on_done=done, busy=True, lane="files")

    def export_dialog(self) -> Job | None:
        from warpaint.engine.io import EXPORT_FORMATS

        if self.doc is None:
            return None
        stem = os.path.splitext(self.doc.name)[0]
        filters = _export_filters(EXPORT_FORMATS)
        path = self.prompter.save_path(
            self, "Export", os.path.join(self._last_directory(), f"{stem}.png"), filters
        )
        if not path:
            return None
        fmt = EXPORT_FORMATS.get(os.path.splitext(path)[1].lower().lstrip("."))
        if fmt is None:
            self._error(
                "Could not export the image",
                "unknown file type; choose one of the listed formats",
                path,
            )
            return None
        meta = self.doc.state.meta
        dialog = ExportOptionsDialog(path, fmt, meta.bit_depth, meta.icc_profile is not None, self)
        if not self.prompter.run_dialog(dialog):
            return None
        return self.export_to(**vars(dialog.choice()))

    def export_to(
        self, path: str, quality: int = 92, bit_depth: int | None = None, keep_profile: bool = False
    ) -> Job:
        """Flatten and write the current state to `path` on the files lane."""
        from warpaint.engine.io import export_image

        assert self.doc is not None
        snapshot, name = self.doc.state, os.path.basename(path)

        def work(ctx: JobContext) -> Any:
            ctx.check()
            return export_image(
                snapshot, path, quality=quality, bit_depth=bit_depth, keep_profile=keep_profile
            )

        def done(job: Job) -> None:
            if job.state is JobState.FAILED:
                self._error("Could not export the image", _job_reason(job), path)
            elif job.state is not JobState.DONE:
                self.statusBar().showMessage(f"Export of {name} cancelled", STATUS_TIMEOUT_MS)
            else:
                notes = "; ".join(getattr(job.result, "notes", ()) or ())
                message = f"Exported {name}" + (f" ({notes})" if notes else "")
                self.statusBar().showMessage(message, STATUS_TIMEOUT_MS)

        return self.bridge.submit(work, f"Exporting {name}", on_done=done, busy=True, lane="files")

    def add_layers_dialog(self) -> None:
        from warpaint.engine.io import OPEN_EXTENSIONS

        patterns = _patterns(OPEN_EXTENSIONS)
        for path in self.prompter.open_paths(
            self, "Add Layer from File", self._last_directory(), f"Images ({patterns})"
        ):
            self.add_layer_from_path(path)

    def add_layer_from_path(self, path: str) -> bool:
        from warpaint.engine.io import open_image_as_layer

        if self.doc is None:
            return self.open_path(path)
        try:
            layer = open_image_as_layer(path)
        except (WarpaintError, OSError) as exc:
            self._error("Could not add the layer", exc, path)
            return False
        self._add_layer_above_current(layer, f"Add layer '{layer.name}'")
        return True

    def _add_layer_above_current(self, layer: Layer, label: str) -> None:
        assert self.doc is not None
        state, node = self.doc.state, self.layers_panel.current_node()
        if node is None or not state.contains(node.id):
            self.doc.add_layer(layer, None, label)
        elif isinstance(node, Group):  # a group's row is current: the layer goes in at its top
            self.doc.add_node(layer, node.id, len(node.children), label)
        else:  # just above the current layer, in its group
            parent = state.parent_of(node.id)
            index = state.path_of(node.id)[-1] + 1
            self.doc.add_node(layer, None if parent is None else parent.id, index, label)

    def _last_directory(self) -> str:
        if self.doc is not None and self.doc.path:
            return os.path.dirname(self.doc.path)
        return str(self.settings.value("files/last_directory", os.path.expanduser("~")))

    # -- recent files -----------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value] if isinstance(value, list | tuple) else []

    def _add_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        recent = [p for p in self.recent_files() if p != path]
        self.settings.setValue("files/recent", [path, *recent][:MAX_RECENT])
        self.settings.setValue("files/last_directory", os.path.dirname(path))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for i, path in enumerate(recent):
            action = self.recent_menu.addAction(f"&{i + 1} {os.path.basename(path)}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.setEnabled(os.path.exists(path))
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("&Clear List")
        clear.setEnabled(bool(recent))
        clear.triggered.connect(lambda: self.settings.setValue("files/recent", []))

    # -- drag and drop --------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if local_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = local_paths(event.mimeData().urls())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        over = self.childAt(event.position().toPoint())
        onto_layers = over is not None and (
            over is self.layers_panel or self.layers_panel.isAncestorOf(over)
        )
        as_layers = onto_layers or bool(
            event.modifiers()
            & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        )
        # Defer so the drag source is released before any dialog can appear.
        QTimer.singleShot(0, lambda: self.drop_files(paths, as_layers))

    def drop_files(self, paths: list[str], as_layers: bool) -> None:
        """Open the first file (or add it as a layer); further files become layers."""

        def add(layers: list[str]) -> None:
            for path in layers:
                self.add_layer_from_path(path)

        if as_layers and self.doc is not None:
            add(paths)
        elif self.open_path(paths[0], then=lambda: add(paths[1:])):
            add(paths[1:])

    # -- crash recovery ----------------------------------------------------------------
    def _start_autosave(self) -> None:
        from warpaint.engine.io import Autosaver

        self._autosaver = Autosaver(self.engine_settings.autosave_interval_s)
        self._autosave_timer.start()

    def autosave(self, force: bool = False) -> Job | None:
        """Write a recovery copy on the files lane if due (or, with `force`, if changed)."""
        saver, doc = self._autosaver, self.doc
        if (
            saver is None
            or doc is None
            or (self._autosaving is not None and not self._autosaving.job.finished)
        ):
            return None
        if not (saver.needs_save(doc) if force else saver.due(doc)):
            return None

        def done(job: Job) -> None:
            if job.state is JobState.FAILED:
                self.statusBar().showMessage(
                    f"Autosave failed: {job.error_message}", STATUS_TIMEOUT_MS
                )

        self._autosaving = _AutosaveWrite(saver, saver.snapshot(doc))
        self._autosaving.job = self.bridge.submit(
            self._autosaving.run, "Autosave", on_done=done, quiet=True, lane="files"
        )
        return self._autosaving.job

    def _on_autosave_timer(self) -> None:
        self.autosave()

    def _discard_autosave(self) -> None:
        """Remove the recovery copy (after a save or a clean close), without waiting."""
        if self._autosaving is not None:
            self._autosaving.discard()  # also removes a copy still being written
            self._autosaving = None
        elif self._autosaver is not None:
            self._autosaver.discard()

    def offer_recovery(self) -> bool:
        """Offer autosaved documents left by a crash; True if one was restored here."""
        from warpaint.engine import io as wio

        restored = False
        for record in wio.list_recoveries():
            answer = self.prompter.ask_recover(self, str(record))
            if answer == "restore" and not restored:
                try:
                    doc = wio.restore_recovery(record)
                except (WarpaintError, OSError) as exc:
                    self._error("Could not recover the document", exc, None)
                    continue

                def restore(doc: Document = doc, record: Any = record) -> None:
                    self.set_document(doc)
                    wio.discard_recovery(record)

                if self.maybe_save(then=restore):
                    restore()
                    restored = True
            elif answer == "discard":
                wio.discard_recovery(record)
        return restored

    # ======================================================================
    # edit
    # ======================================================================
    def undo(self) -> None:
        if self.doc is not None and self.doc.undo():
            self.statusBar().showMessage(f"Undid {self.doc.history.redo_label}", STATUS_TIMEOUT_MS)

    def redo(self) -> None:
        if self.doc is not None and self.doc.redo():
            self.statusBar().showMessage(f"Redid {self.doc.history.undo_label}", STATUS_TIMEOUT_MS)

    def copy(self, merged: bool = False) -> Job | None:
        """Copy the current layer (or the visible image) inside the selection.

        The copy's alpha carries the selection's coverage, so a feathered or
        elliptical selection pastes with its soft edge. The pixels are made on
        the interactive lane; the clipboard is filled when they arrive.
        """
        if self.doc is None:
            return None
        state, selection = self.doc.state, self.selection
        area = state.bounds
        if selection is not None and not selection.inverted:
            area = Rect(*selection.bounds()).intersect(state.bounds)
        layer = None if merged else self.current_layer()
        if area.empty or (layer is None and not merged):
            self.statusBar().showMessage("Nothing to copy", STATUS_TIMEOUT_MS)
            return None

        def work(ctx: JobContext) -> np.ndarray:
            if layer is None:
                pixels = composite(state, area)
            else:
                pixels = layer.pixels.read_float(area.translated(-layer.x, -layer.y))
            if selection is not None:
                pixels = with_selection_alpha(pixels, selection, area)
            return from_float(pixels, np.uint8)

        def done(job: Job) -> None:
            if job.state is JobState.FAILED:
                self._error("Could not copy", _job_reason(job), None)
            elif job.state is JobState.DONE:
                QGuiApplication.clipboard().setImage(straight_qimage(job.result))
                self.statusBar().showMessage(f"Copied {area.w} × {area.h} px", STATUS_TIMEOUT_MS)

        return self.bridge.preview("clipboard", work, "Copy", on_done=done)

    def paste(self) -> bool:
        """Paste the clipboard's image (or image files) as a new layer."""
        if self.doc is None:
            return False
        clipboard = QGuiApplication.clipboard()
        mime = clipboard.mimeData()
        image = clipboard.image()
        if image.isNull():
            paths = local_paths(mime.urls()) if mime is not None else []
            if not paths:
                self.statusBar().showMessage("The clipboard holds no image", STATUS_TIMEOUT_MS)
                return False
            return all(self.add_layer_from_path(p) for p in paths)
        rgba = qimage_to_rgba(image)
        state = self.doc.state
        if self.selection is not None:
            x, y = self.selection.bounds()[:2]
        else:
            x, y = (state.width - rgba.shape[1]) // 2, (state.height - rgba.shape[0]) // 2
        self._add_layer_above_current(Layer.from_array("Pasted", rgba, x=x, y=y), "Paste")
        return True

    # -- selection ----------------------------------------------------------------------
    @property
    def selection(self) -> Selection | None:
        return self.selection_tool.selection

    def set_selection(self, selection: Selection | None) -> None:
        self.selection_tool.set_selection(selection)
        self._on_selection_edited()

    def select_all(self) -> None:
        if self.doc is not None:
            state = self.doc.state
            self.set_selection(
                Selection("rectangle", 0, 0, state.width, state.height, self.feather_spin.value())
            )

    def deselect(self) -> None:
        self.set_selection(None)

    def invert_selection(self) -> None:
        s = self.selection
        if s is not None:
            self.set_selection(dataclasses.replace(s, inverted=not s.inverted))

    def _choose_selection(self, shape: str) -> None:
        self.selection_tool.shape = shape
        self._set_tool(self.selection_tool, None)
        if self.selection is not None:
            self._on_selection_edited()

    def _on_feather_changed(self, value: float) -> None:
        self.selection_tool.feather = value
        self._on_selection_edited()

    def _on_selection_edited(self) -> None:
        self.canvas.set_selection(self.selection)
        self._update_actions()
        self.session.selection_edited()

    def activate_tool(self, tool: CanvasTool | None, owner: QWidget | None) -> None:
        """ParamContext: a parameter widget takes over the canvas (None: back to selecting)."""
        self._set_tool(tool or self.selection_tool, owner)

    def _set_tool(self, tool: CanvasTool, owner: QWidget | None) -> None:
        if self._tool_owner is not None and self._tool_owner is not owner:
            deactivate = getattr(self._tool_owner, "deactivate", None)
            if deactivate is not None:
                deactivate()
        self._tool_owner = owner
        if self.canvas.tool is self.masks.brush_tool and tool is not self.masks.brush_tool:
            self.masks.brush_tool.cancel(self.canvas)
        self.canvas.set_tool(tool)
        is_selection = tool is self.selection_tool
        shape = self.selection_tool.shape
        checked = {
            self.rect_select_action: is_selection and shape == "rectangle",
            self.ellipse_select_action: is_selection and shape == "ellipse",
            self.lasso_select_action: is_selection and shape == "polygon",
            self.masks.brush_action: tool is self.masks.brush_tool,
            self.masks.move_action: tool is self.masks.move_tool,
        }
        self.tool_group.setExclusive(any(checked.values()))
        for action, on in checked.items():
            action.setChecked(on)
        self.tool_group.setExclusive(True)

    # ======================================================================
    # image and layers
    # ======================================================================
    def _run_transform(self, label: str, fn: Callable[[DocState], DocState]) -> Job | None:
        """Run a whole-image operation on the long lane and commit it as one step."""
        if self.doc is None:
            return None
        doc, state = self.doc, self.doc.state

        def done(job: Job) -> None:
            if job.state is JobState.FAILED:
                self._error(f"Could not {label.lower()}", job.error_message, None)
            elif job.state is JobState.DONE and doc is self.doc:
                if doc.state is not state:
                    self.statusBar().showMessage(
                        f"{label} skipped: the image changed while it ran", STATUS_TIMEOUT_MS
                    )
                    return
                self.set_selection(None)
                doc.commit(label, job.result)

        return self.bridge.submit(lambda ctx: fn(state), label, on_done=done)

    def crop_to_selection(self) -> Job | None:
        if self.selection is None:
            return None
        rect = Rect(*self.selection.bounds())
        return self._run_transform("Crop", lambda s: transform.crop(s, rect))

    def resize_image_dialog(self) -> Job | None:
        if self.doc is None:
            return None
        dialog = ResizeDialog(
            self.doc.state.width, self.doc.state.height, canvas=False, parent=self
        )
        if not self.prompter.run_dialog(dialog):
            return None
        w, h = dialog.size
        method = dialog.method
        return self._run_transform(
            "Resize image", lambda s: transform.resize_image(s, w, h, method)
        )

    def canvas_size_dialog(self) -> Job | None:
        if self.doc is None:
            return None
        dialog = ResizeDialog(self.doc.state.width, self.doc.state.height, canvas=True, parent=self)
        if not self.prompter.run_dialog(dialog):
            return None
        w, h = dialog.size
        anchor = dialog.anchor
        return self._run_transform(
            "Canvas size", lambda s: transform.resize_canvas(s, w, h, anchor)
        )

    def rotate(self, degrees: int) -> Job | None:
        label = {
            90: "Rotate 90° clockwise",
            180: "Rotate 180°",
            270: "Rotate 90° counter-clockwise",
        }
        return self._run_transform(label[degrees], lambda s: transform.rotate(s, degrees))

    def flip(self, horizontal: bool) -> Job | None:
        label = "Flip horizontally" if horizontal else "Flip vertically"
        return self._run_transform(label, lambda s: transform.flip(s, horizontal))

    def new_layer(self) -> None:
        if self.doc is None:
            return
        state = self.doc.state
        names = {lay.name for lay in state.layers}
        n = len(state.layers) + 1
        while f"Layer {n}" in names:
            n += 1
        pixels = TiledImage.blank(state.width, state.height, 4, np.uint8)
        self._add_layer_above_current(Layer(f"Layer {n}", pixels), f"New layer 'Layer {n}'")

    def duplicate_layer(self) -> None:
        node_id = self.layers_panel.current_node_id
        if self.doc is not None and node_id is not None:
            self.doc.duplicate_layer(node_id)

    def delete_layer(self) -> None:
        node_id = self.layers_panel.current_node_id
        # The last pixel layer stays.
        if (
            self.doc is not None
            and node_id is not None
            and self.doc.state.remove_node(node_id).layers
        ):
            self.doc.delete_layer(node_id)

    def merge_down(self) -> None:
        if self.doc is None or self.current_layer_id is None:
            return
        try:
            merged = self.doc.merge_down(self.current_layer_id)
        except ValueError as exc:
            self._error("Could not merge down", exc, None)
            return
        self.layers_panel.set_current_layer(merged.id)

    def shift_layer(self, delta: int) -> None:
        node = self.layers_panel.current_node()
        if self.doc is not None and isinstance(node, Group):
            self._shift_group(node, delta)
            return
        if self.doc is None or self.current_layer_id is None:
            return
        index = self.doc.state.index_of(self.current_layer_id) + delta
        if 0 <= index < len(self.doc.layers):
            self.doc.move_layer(self.current_layer_id, index)

    def _shift_group(self, group: Group, delta: int) -> None:
        """Raise or lower a group past its neighbour in the group holding it."""
        assert self.doc is not None
        state = self.doc.state
        place, parent = state.path_of(group.id)[-1], state.parent_of(group.id)
        if 0 <= place + delta < len(state.siblings_of(group.id)):
            # move_node counts the index before the move: above the next one is place + 2.
            index = place + 2 if delta > 0 else place - 1
            self.doc.move_node(group.id, None if parent is None else parent.id, index)

    def group_layers(self) -> None:
        reason = self.layers_panel.group_selected()
        if reason is not None:
            self.statusBar().showMessage(reason, STATUS_TIMEOUT_MS)

    def ungroup(self) -> None:
        self.layers_panel.ungroup_current()

    def merge_group(self) -> None:
        self.layers_panel.merge_current_group()

    def new_group(self) -> None:
        self.layers_panel.add_group()

    # ======================================================================
    # effects
    # ======================================================================
    def show_effect(self, effect_id: str) -> EffectPanel:
        self.effects_dock.show()
        self.effects_dock.raise_()
        return self.effects_panel.show_effect(effect_id)

    # ParamContext
    def layer_choices(self) -> list[tuple[int, str]]:
        if self.doc is None:
            return []
        return [(layer.id, layer.name) for layer in reversed(self.doc.layers)]

    def ask_file(self, title: str) -> str | None:
        paths = self.prompter.open_paths(self, title, self._last_directory(), "All files (*)")
        return paths[0] if paths else None

    def run_background(
        self, key: Hashable, fn: Callable[[], Any], on_done: Callable[[Any], None]
    ) -> None:
        def done(job: Job) -> None:
            if job.state is JobState.DONE:
                on_done(job.result)
            elif job.state is JobState.FAILED:
                # Never silent: the hook's own errors come back as results, this is a bug.
                self.statusBar().showMessage(
                    f"Background task failed: {job.error_message}", STATUS_TIMEOUT_MS
                )

        # Behind canvas tiles and previews: a gallery's pictures never hold up the image.
        self.bridge.preview(("background", key), lambda _ctx: fn(), on_done=done, background=True)

    def _on_session_shown_changed(self) -> None:
        shown, controls = self.session.shown, self.session.controls
        if shown is None:
            self.canvas.set_preview_state(None)
            self.canvas.set_badge(None)
            return
        self.canvas.set_preview_state(shown.state, shown.reduced, shown.drawn, shown.since)
        title = controls.spec.title if controls is not None else "effect"
        if self.session.stale:
            self.canvas.set_badge(f"Preview: {title}, out of date (press Preview)", warning=True)
        else:
            self.canvas.set_badge(f"Preview: {title}")

    def _on_session_faces_changed(self) -> None:
        """Mark the faces on the canvas while a panel that picks one is shown."""
        session, layer = self.session, self.session.current_layer()
        for picker in self.face_pickers.values():
            picker.set_faces(len(session.faces), session.face)
        shown = self.effects_panel.current in self.face_pickers and layer is not None
        dx, dy = (layer.x, layer.y) if layer is not None else (0, 0)
        rects = [QRectF(x + dx, y + dy, w, h) for x, y, w, h in session.faces] if shown else []
        self.canvas.set_marks(rects, session.face)

    def apply_effect(self, panel: EffectPanel) -> Job | None:
        """Run the panel's effect at full resolution on the long lane; commit when done."""
        job = self.session.apply(panel)
        self._update_actions()
        return job

    # ======================================================================
    # jobs and status
    # ======================================================================
    def cancel_jobs(self) -> None:
        self.bridge.cancel_long_jobs()

    def _on_long_jobs_changed(self) -> None:
        jobs = self.bridge.long_jobs
        busy = bool(jobs)
        for widget in (self.job_label, self.progress_bar, self.cancel_button):
            widget.setVisible(busy)
        self.cancel_jobs_action.setEnabled(busy)
        if busy:
            # Only jobs on the first one's lane wait for it: a save runs beside a long job.
            queued = sum(1 for job in jobs[1:] if job.lane == jobs[0].lane)
            beside = [job.label for job in jobs[1:] if job.lane != jobs[0].lane]
            more = f" (+{queued} queued)" if queued else ""
            self.job_label.setText(" · ".join([jobs[0].label + more, *beside]))
            # File writes report no fractions: a busy bar rather than one stuck at 0 %.
            self.progress_bar.setMaximum(0 if self.bridge.is_busy(jobs[0]) else 100)
            self.progress_bar.setValue(round(jobs[0].progress * 100))

    def _on_job_progress(self, job: Job, fraction: float, _preview: object) -> None:
        if job.lane == "long" and self.bridge.long_jobs and job is self.bridge.long_jobs[0]:
            self.progress_bar.setValue(round(fraction * 100))

    def _on_canvas_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %" if zoom >= 0.1 else f"{zoom * 100:.1f} %")

    def _on_canvas_cursor_moved(self, position: tuple[int, int] | None) -> None:
        if position is None or self.doc is None:
            self.position_label.setText("")
            self.colour_label.setText("")
            self.swatch_label.clear()
            return
        x, y = position
        r, g, b, a = (
            round(float(c) * 255) for c in composite(self.doc.state, Rect(x, y, 1, 1))[0, 0]
        )
        self.position_label.setText(f"{x}, {y} px")
        self.colour_label.setText(f"R {r}  G {g}  B {b}  A {a}")
        swatch = QPixmap(14, 14)
        swatch.fill(QColor(r, g, b, a))
        self.swatch_label.setPixmap(swatch)

    def _error(self, title: str, reason: object, path: str | None) -> None:
        text = str(reason) or type(reason).__name__
        if isinstance(reason, OSError) and reason.strerror:
            text = reason.strerror
        if path:
            # The engine's reasons name the full path; the file's name is enough here.
            name = os.path.basename(path)
            text = text.replace(path, name) if path in text else f"{name}: {text}"
        self.prompter.error(self, title, text)

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(self, "About Warpaint", "Warpaint: an image editor with neural effects.")

    # ======================================================================
    # window state
    # ======================================================================
    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def _quit(self) -> None:
        from PySide6.QtWidgets import QApplication

        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.isVisible():
                widget._quitting = True
                closed = widget.close()
                widget._quitting = False
                if not closed:
                    return

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        # After "Save", closing (or quitting) resumes once the save succeeded.
        resume = self._quit if self._quitting else self.close
        if not self.maybe_save(then=resume):
            event.ignore()
            return
        self.save_layout()
        self._autosave_timer.stop()
        self._discard_autosave()  # a clean close leaves nothing to recover
        self._autosaver = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.canvas.set_document(None)
        self.layers_panel.set_document(None)
        self.history_panel.set_document(None)
        if self._owns_bridge:
            self.bridge.shutdown()
        event.accept()


class _AutosaveWrite:
    """One autosave on the files lane whose copy can be discarded without waiting.

    `Autosaver.discard` takes the lock `save_state` holds while writing, so
    the GUI thread never calls it during a write: it asks, and whichever side
    comes second (the finished write or the request) removes the copy.
    """

    def __init__(self, saver: Any, snapshot: tuple[DocState, str | None, str]) -> None:
        self.saver = saver
        self.snapshot = snapshot  # immutable: safe to write from the worker
        self.job: Job
        self._lock = threading.Lock()
        self._started = False
        self._finished = False
        self._discarded = False

    def run(self, ctx: JobContext) -> Any:
        with self._lock:
            if self._discarded:
                return None  # discarded while queued: nothing to write
            self._started = True
        try:
            return self.saver.save_state(*self.snapshot)
        finally:
            with self._lock:
                self._finished = True
                if self._discarded:
                    self.saver.discard()

    def discard(self) -> None:
        with self._lock:
            self._discarded = True
            if not self._started or self._finished:
                self.saver.discard()  # no write in progress: the saver's lock is free


def _job_reason(job: Job) -> object:
    """What a failed job tells the user: the plain reason for bad input or a failed write."""
    if isinstance(job.error, WarpaintError | OSError):
        return job.error
    return job.error_message


def _patterns(extensions: Any) -> str:
    return " ".join(f"*.{ext.lstrip('.')}" for ext in extensions)


def _export_filters(formats: Any) -> str:
    """File-dialog filters from the engine's export formats ({extension: ExportFormat})."""
    by_name: dict[str, Any] = {}
    for fmt in formats.values():
        by_name.setdefault(fmt.name, fmt)
    return ";;".join(f"{fmt.name} ({_patterns(fmt.extensions)})" for fmt in by_name.values())
