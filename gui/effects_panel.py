"""Effect panels generated from parameter metadata, in one dock with an effect chooser.

A panel knows nothing about a particular effect: it lays out one widget per
`Param` (see `param_widgets`), re-lays out when the effect derives extra
parameters from the current values, and asks its host for previews (on every
edit, superseding the previous one) and for Apply.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from warpaint.engine.runtime.params import ParamType
from warpaint.engine.runtime.registry import EffectSpec
from warpaint.gui.icons import icon
from warpaint.gui.loss_plot import LossPlotWidget
from warpaint.gui.param_widgets import (
    SELECTION,
    GalleryParamWidget,
    ImageParamWidget,
    ParamContext,
    ParamWidget,
    make_param_widget,
)


class EffectPanel(QWidget):
    """Controls for one effect, built from `spec.all_params(values)`."""

    preview_requested = Signal(object)  # self: a value or the live-preview box changed
    preview_pressed = Signal(object)  # self: the Preview button (effects too slow to preview live)
    apply_requested = Signal(object)  # self

    def __init__(
        self, spec: EffectSpec, context: ParamContext, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.spec = spec
        self.context = context
        self.widgets: dict[str, ParamWidget] = {}
        self._hidden: set[str] = set()
        self.setObjectName(f"EffectPanel-{spec.id}")

        title = QLabel(spec.title)
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        title.setFont(font)
        description = QLabel(spec.description)
        description.setWordWrap(True)
        description.setEnabled(False)  # the disabled palette greys it as secondary text

        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # Narrow docks put a field under its label instead of clipping it.
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        params_box = QWidget()
        params_box.setLayout(self.form)
        self._params_box = params_box

        output = QGroupBox("Result")
        self.new_layer_radio = QRadioButton("On a new layer")
        self.replace_radio = QRadioButton("Replace the layer")
        self.new_layer_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.new_layer_radio)
        group.addButton(self.replace_radio)
        # Where the result goes changes what Apply makes, so the preview follows it.
        self.new_layer_radio.toggled.connect(self._on_param_changed)
        self.selection_check = QCheckBox("Only inside the selection")
        self.selection_check.toggled.connect(self._on_param_changed)
        self.selection_check.setEnabled(False)
        output_layout = QVBoxLayout(output)
        output_layout.addWidget(self.new_layer_radio)
        output_layout.addWidget(self.replace_radio)
        output_layout.addWidget(self.selection_check)

        self.preview_check = QCheckBox("Live preview")
        self.preview_check.setChecked(True)
        self.preview_check.toggled.connect(self._on_preview_toggled)
        # A long effect (seconds per preview) previews only when asked.
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Show this effect on the canvas (it takes a while)")
        self.preview_button.clicked.connect(lambda: self.preview_pressed.emit(self))
        self.preview_check.setVisible(not spec.long)
        self.preview_button.setVisible(spec.long)
        self.reset_button = QPushButton("Reset")
        self.reset_button.clicked.connect(self.reset)
        self.apply_button = QPushButton(icon("effect-apply"), "Apply")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(lambda: self.apply_requested.emit(self))
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_check)
        buttons.addWidget(self.preview_button)
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.apply_button)
        # Live loss curves of an optimisation (stylize, texture, ...); hidden
        # until a running job of this effect reports losses.
        self.loss_plot = LossPlotWidget()
        self.loss_plot.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(title)
        if spec.description:
            layout.addWidget(description)
        layout.addWidget(params_box)
        layout.addWidget(output)
        layout.addLayout(buttons)
        layout.addWidget(self.loss_plot)
        layout.addStretch(1)

        # Coalesce bursts of edits (a slider drag) into one preview per event-loop turn.
        self._preview_timer = QTimer(self, singleShot=True, interval=0)
        self._preview_timer.timeout.connect(lambda: self.preview_requested.emit(self))
        self._build(spec.defaults())
        document_changed = getattr(context, "document_changed", None)
        if document_changed is not None:
            document_changed.connect(self.refresh_layers)

    # -- values -------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {name: widget.value() for name, widget in self.widgets.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in self.widgets:
                self.widgets[name].set_value(value)
        self._on_param_changed()

    def prefill(self, values: dict[str, Any]) -> list[str]:
        """Take values found in the layer (see the `prefill` hook) for the
        parameters still at their defaults; returns the names taken. Starts no
        preview: nothing was edited."""
        taken = []
        defaults = {p.name: p.default for p in self.spec.all_params(self.values())}
        for name, value in values.items():
            widget = self.widgets.get(name)
            if widget is None or value is None:
                continue
            current, default = widget.value(), defaults.get(name)
            if current == default or current in (None, ()):
                widget.blockSignals(True)
                try:
                    widget.set_value(value)
                finally:
                    widget.blockSignals(False)
                taken.append(name)
        return taken

    def reset_image_bound(self) -> None:
        """Put the values that belong to one image (`Param.image_bound`: eye points,
        a region, a face) back to their defaults, without previewing; settings stay."""
        defaults = {p.name: p.default for p in self.spec.all_params(self.values())}
        for name, widget in self.widgets.items():
            # A mask picker starts at the selection, whatever the engine's default.
            start = SELECTION if widget.param.type is ParamType.MASK else defaults.get(name)
            if widget.param.image_bound and widget.value() != start:
                widget.blockSignals(True)
                try:
                    widget.set_value(start)
                finally:
                    widget.blockSignals(False)

    def take_values(self, values: dict[str, Any]) -> None:
        """Set values found for the user's choice (a face picked), without previewing."""
        for name, value in values.items():
            widget = self.widgets.get(name)
            if widget is not None:
                widget.blockSignals(True)
                try:
                    widget.set_value(value)
                finally:
                    widget.blockSignals(False)

    def hide_params(self, names: set[str]) -> None:
        """Leave these parameters' rows out of the form (a tool edits them instead)."""
        self._hidden = set(names)
        for name, widget in self.widgets.items():
            self.form.setRowVisible(widget, name not in self._hidden)

    def refresh_params(self) -> None:
        """Lay the parameters out again if the effect now derives others (a slider
        was added to its model); values are kept and no preview starts."""
        values = self.values()
        if [p.name for p in self.spec.all_params(values)] != list(self.widgets):
            self._build(values)

    def add_tools(self, widget: QWidget) -> None:
        """Put an effect's own tools (e.g. building sliders) under its parameters."""
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(layout.indexOf(self._params_box) + 1, widget)

    def reset(self) -> None:
        self._build(self.spec.defaults())
        self._on_param_changed()

    @property
    def target(self) -> str:
        return "replace" if self.replace_radio.isChecked() else "new_layer"

    @property
    def restrict_to_selection(self) -> bool:
        return self.selection_check.isEnabled() and self.selection_check.isChecked()

    @property
    def live_preview(self) -> bool:
        return self.preview_check.isChecked()

    @property
    def dragging(self) -> bool:
        return any(w.dragging for w in self.widgets.values())

    def set_has_selection(self, has: bool) -> None:
        self.selection_check.setEnabled(has)

    def set_busy(self, busy: bool) -> None:
        self.apply_button.setEnabled(not busy)
        self.apply_button.setText("Applying…" if busy else "Apply")

    def show_progress_data(self, data: Any) -> None:
        """Show a running job's progress data: the loss curves if it reports
        losses (`{"losses": [(fraction, {name: value}), ...]}`), else nothing."""
        history = data.get("losses") if isinstance(data, dict) else None
        if not history:
            self.clear_progress_data()
            return
        self.loss_plot.set_history(history)
        self.loss_plot.setVisible(True)

    def clear_progress_data(self) -> None:
        self.loss_plot.clear()
        self.loss_plot.setVisible(False)

    def refresh_layers(self) -> None:
        for widget in self.widgets.values():
            widget.refresh_layers()

    def follow_current_layer(self) -> None:
        """The current layer changed: single-layer pickers not yet set by the user
        move off it (lists of images and the rest have nothing to update)."""
        for widget in self.widgets.values():
            if isinstance(widget, ImageParamWidget) and not widget.multiple:
                widget.refresh_layers()

    def remember_images(self) -> None:
        """The effect is being applied: image pickers record their images as recent."""
        for widget in self.widgets.values():
            if isinstance(widget, ImageParamWidget):
                widget.remember()

    # -- building -------------------------------------------------------------
    def _build(self, values: dict[str, Any]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.widgets.clear()
        for param in self.spec.all_params(values):
            widget = make_param_widget(param, self.context, self.spec.hook("thumbnail"))
            if param.name in values and values[param.name] is not None:
                widget.set_value(values[param.name])
            widget.changed.connect(self._on_param_changed)
            label = QLabel(param.label + ":")
            label.setToolTip(param.help)
            label.setBuddy(widget)
            if isinstance(widget, GalleryParamWidget):
                # A grid of pictures takes the panel's whole width (two or more
                # to a row in the default dock, not one beside its label).
                self.form.addRow(label)
                self.form.addRow(widget)
            else:
                self.form.addRow(label, widget)
            self.widgets[param.name] = widget
            if param.name in self._hidden:
                self.form.setRowVisible(widget, False)

    def _on_param_changed(self) -> None:
        values = self.values()
        names = [p.name for p in self.spec.all_params(values)]
        if names != list(self.widgets):
            self._build(values)  # the effect derives other parameters from these values
        if self.live_preview:
            self._preview_timer.start()

    def _on_preview_toggled(self, on: bool) -> None:
        self.preview_requested.emit(self)


class _CurrentPageStack(QStackedWidget):
    """A stack sized by its visible page only, so one wide effect panel does
    not force a horizontal scrollbar onto every other effect."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        page = self.currentWidget()
        return page.sizeHint() if page is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        page = self.currentWidget()
        return page.minimumSizeHint() if page is not None else super().minimumSizeHint()


class EffectsPanel(QWidget):
    """A chooser of all effects (grouped by category) over a stack of their panels."""

    effect_changed = Signal(object)  # the visible EffectPanel

    def __init__(
        self, specs: dict[str, EffectSpec], context: ParamContext, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("EffectsPanel")
        self.context = context
        self.chooser = QComboBox()
        self.stack = _CurrentPageStack()
        self.panels: dict[str, EffectPanel] = {}
        for spec in specs.values():
            self.chooser.addItem(f"{spec.category} › {spec.title}", spec.id)
            reason = spec.unavailable_reason()
            if reason is not None:
                # Listed, never hidden: the entry says why and how to make the model.
                index = self.chooser.count() - 1
                self.chooser.setItemText(index, f"{spec.category} › {spec.title} (unavailable)")
                self.chooser.setItemData(index, reason, Qt.ItemDataRole.ToolTipRole)
                item = self.chooser.model().item(index)  # type: ignore[attr-defined]
                item.setEnabled(False)
            panel = EffectPanel(spec, context)
            self.panels[spec.id] = panel
            self.stack.addWidget(panel)
        self.chooser.currentIndexChanged.connect(self._on_chooser_changed)
        scroll = QScrollArea()
        self.scroll = scroll
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.stack)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.chooser)
        layout.addWidget(scroll, 1)
        if self.panels:
            self._on_chooser_changed(self.chooser.currentIndex())

    @property
    def current(self) -> EffectPanel | None:
        widget = self.stack.currentWidget()
        return widget if isinstance(widget, EffectPanel) else None

    def show_effect(self, effect_id: str) -> EffectPanel:
        self.chooser.setCurrentIndex(self.chooser.findData(effect_id))
        return self.panels[effect_id]

    def _on_chooser_changed(self, index: int) -> None:
        panel = self.panels[self.chooser.itemData(index)]
        for page in self.panels.values():
            # Hidden pages must not widen the stack (QStackedLayout skips
            # pages whose size policy is Ignored).
            policy = QSizePolicy.Policy.Preferred if page is panel else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)
        self.stack.setCurrentWidget(panel)
        self.stack.updateGeometry()
        # Every effect opens at its top, not where the previous one was scrolled to.
        self.scroll.verticalScrollBar().setValue(0)
        self.effect_changed.emit(panel)
