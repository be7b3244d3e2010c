"""New attribute sliders from layers of the open document (a row of the attributes panel).

"New slider…" asks for a name and for the example layers without and with
the attribute (or image files); the engine computes the vector off the GUI
thread (`warpaint.engine.features.eyes.effect_attributes.add_slider`, through the host's
background lane) and the panel shows the new slider as soon as it is there.
The slider belongs to the panel's model for this session; "Save sliders…"
writes a copy of the model file holding them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from warpaint.engine.runtime.errors import WarpaintError

if TYPE_CHECKING:
    from warpaint.engine.core.document import Document
    from warpaint.gui.dialogs import Prompter
    from warpaint.gui.effects_panel import EffectPanel

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.ora)"
MODEL_FILTER = "Model files (*.safetensors)"
STATUS_TIMEOUT_MS = 6000


class SliderHost(Protocol):
    """What the builder needs from the window."""

    doc: Document | None
    prompter: Prompter

    def run_background(
        self, key: Hashable, fn: Callable[[], Any], on_done: Callable[[Any], None]
    ) -> None: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name


@dataclass(frozen=True)
class SliderRequest:
    """What the dialog asks for: sources are ("layer", id) or ("file", path)."""

    name: str
    without: tuple[tuple[str, Any], ...]
    with_: tuple[tuple[str, Any], ...]
    paired: bool
    use_region: bool


class NewSliderDialog(QDialog):
    """Name, the example layers (or files) without and with the attribute, options."""

    def __init__(
        self,
        layers: list[tuple[int, str]],
        prompter: Prompter,
        has_region: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New attribute slider")
        self.prompter = prompter
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. smile")
        self.without_list = self._list(layers)
        self.with_list = self._list(layers)
        self.paired_check = QCheckBox("Pairs: each 'with' example is the 'without' one above it")
        self.region_check = QCheckBox("Only the panel's region of each example")
        self.region_check.setEnabled(has_region)
        self.region_check.setChecked(has_region)

        grid = QGridLayout()
        for col, (title, widget) in enumerate(
            (("Without the attribute", self.without_list), ("With the attribute", self.with_list))
        ):
            add = QPushButton("Add images…")
            add.clicked.connect(lambda _=False, w=widget: self._add_files(w))
            grid.addWidget(QLabel(title), 0, col)
            grid.addWidget(widget, 1, col)
            grid.addWidget(add, 2, col)
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Build slider")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Tick the layers that show the attribute's absence and presence:"))
        layout.addLayout(grid)
        layout.addWidget(self.paired_check)
        layout.addWidget(self.region_check)
        layout.addWidget(buttons)

    @staticmethod
    def _list(layers: list[tuple[int, str]]) -> QListWidget:
        widget = QListWidget()
        for layer_id, name in layers:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, ("layer", layer_id))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            widget.addItem(item)
        return widget

    def _add_files(self, widget: QListWidget) -> None:
        for path in self.prompter.open_paths(self, "Example images", "", IMAGE_FILTER):
            item = QListWidgetItem(Path(path).name)
            item.setToolTip(path)
            item.setData(Qt.ItemDataRole.UserRole, ("file", path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            widget.addItem(item)

    def check_layers(self, without: list[int], with_: list[int]) -> None:
        """Tick these layer ids in the two lists (and untick the others)."""
        for widget, ids in ((self.without_list, without), (self.with_list, with_)):
            for row in range(widget.count()):
                item = widget.item(row)
                kind, value = item.data(Qt.ItemDataRole.UserRole)
                on = kind == "layer" and value in ids
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    @staticmethod
    def _checked(widget: QListWidget) -> tuple[tuple[str, Any], ...]:
        return tuple(
            tuple(widget.item(row).data(Qt.ItemDataRole.UserRole))
            for row in range(widget.count())
            if widget.item(row).checkState() == Qt.CheckState.Checked
        )

    def request(self) -> SliderRequest:
        return SliderRequest(
            self.name_edit.text(),
            self._checked(self.without_list),
            self._checked(self.with_list),
            self.paired_check.isChecked(),
            self.region_check.isEnabled() and self.region_check.isChecked(),
        )


class SliderBuilderWidget(QWidget):
    """The "New slider…" and "Save sliders…" buttons under the attributes panel's parameters."""

    slider_added = Signal(str)  # the new slider's parameter name

    def __init__(self, panel: EffectPanel, host: SliderHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.host = host
        self.new_button = QPushButton("New slider from layers…")
        self.new_button.setToolTip(
            "Make a slider from example layers without and with an attribute (no training)"
        )
        self.new_button.clicked.connect(self._on_new_clicked)
        self.save_button = QPushButton("Save sliders…")
        self.save_button.setToolTip("Write a copy of the model file with the sliders made here")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setEnabled(False)  # secondary text
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.save_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.host.statusBar().showMessage(text, STATUS_TIMEOUT_MS)

    def _on_new_clicked(self) -> None:
        doc = self.host.doc
        if doc is None:
            return
        layers = [(layer.id, layer.name) for layer in reversed(doc.layers)]
        values = self.panel.values()
        dialog = NewSliderDialog(layers, self.host.prompter, values.get("region") is not None, self)
        if self.host.prompter.run_dialog(dialog):
            self.build(dialog.request())

    def build(self, request: SliderRequest) -> None:
        """Compute the slider off the GUI thread; the panel shows it when done."""
        doc = self.host.doc
        if doc is None:
            return
        values = self.panel.values()
        model = values.get("model")
        region = values.get("region") if request.use_region else None
        mirror = bool(values.get("mirror")) and request.use_region

        def sources(items: tuple[tuple[str, Any], ...]) -> list[Any]:
            # Layer pixels are immutable snapshots; they are read on the worker.
            return [doc.layer(v).pixels if k == "layer" else v for k, v in items]

        without, with_ = sources(request.without), sources(request.with_)

        def work() -> Any:
            from warpaint.engine.features.eyes.effect_attributes import add_slider

            def pixels(items: list[Any]) -> list[Any]:
                return [i if isinstance(i, str) else i.read_float() for i in items]

            try:
                return add_slider(
                    request.name,
                    pixels(without),
                    pixels(with_),
                    model=model,
                    paired=request.paired,
                    region=region,
                    mirror=mirror,
                )
            except WarpaintError as exc:
                return exc

        self._say("Building the slider…")
        self.host.run_background(("attribute-slider", model), work, self._on_built)

    def _on_built(self, result: Any) -> None:
        if isinstance(result, Exception):
            self._say(f"No slider: {result}")
            return
        self.panel.refresh_params()
        self.save_button.setEnabled(True)
        self._say(f"Added the slider “{result.label}” ({result.name}) for this session")
        self.slider_added.emit(result.name)

    def _on_save_clicked(self) -> None:
        model = self.panel.values().get("model")
        path = self.host.prompter.save_path(
            self, "Save the model with the new sliders", "my-sliders.safetensors", MODEL_FILTER
        )
        if not path:
            return

        def work() -> Any:
            from warpaint.engine.features.eyes.effect_attributes import save_model_copy

            try:
                return save_model_copy(path, model=model)
            except WarpaintError as exc:
                return exc

        def done(result: Any) -> None:
            if isinstance(result, Exception):
                self._say(f"Not saved: {result}")
            else:
                self._say(f"Saved {result}; choose it as the model file to use its sliders later")

        self.host.run_background(("attribute-save", path), work, done)
