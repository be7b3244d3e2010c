"""The fast-style panel's own presets: "Your presets" and "New preset from image…".

Shown under the fast-style parameters. The gallery lists the user's presets
(`user_presets`), each drawn by its own network on the gallery's photo;
picking one sets the effect's `model` to its file (a recipe then names it by
file name and sha256), and picking a shipped preset again clears it.

"New preset from image…" asks for a style image and a name and trains the
preset on the long lane (`preset_job.train_preset`): progress and ETA here
and in the status bar, Cancel here or with the window's Cancel. A stopped job
keeps its state on disk; "Resume" continues it, in this run of the editor or the next.
When the job finishes, the preset joins the gallery and is selected.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
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

from warpaint.engine.features.fast_style import user_presets
from warpaint.engine.runtime.errors import WarpaintError
from warpaint.engine.runtime.jobs import Job, JobState

if TYPE_CHECKING:
    from warpaint.engine.features.fast_style.preset_job import PresetBudget
    from warpaint.gui.bridge import JobBridge
    from warpaint.gui.dialogs import Prompter
    from warpaint.gui.effects_panel import EffectPanel

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.ora)"
STATUS_TIMEOUT_MS = 6000


class PresetHost(Protocol):
    """What the preset tools need from the window."""

    prompter: Prompter
    bridge: JobBridge

    def run_background(
        self, key: Hashable, fn: Callable[[], Any], on_done: Callable[[Any], None]
    ) -> None: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name


class NewPresetDialog(QDialog):
    """A style image and a name for a new preset."""

    def __init__(self, prompter: Prompter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New preset from image")
        self.prompter = prompter
        self.image_edit = QLineEdit()
        self.image_edit.setPlaceholderText("The style image")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._on_choose_clicked)
        row = QHBoxLayout()
        row.addWidget(self.image_edit, 1)
        row.addWidget(choose)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Letters, digits, spaces, '-' or '_'")
        note = QLabel(
            "Training takes about 20 minutes on a 2-core CPU. It runs in the background; "
            "you can cancel it and resume it later."
        )
        note.setWordWrap(True)
        note.setEnabled(False)
        form = QFormLayout()
        form.addRow("Style image:", row)
        form.addRow("Name:", self.name_edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Train")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def set_image(self, path: str) -> None:
        self.image_edit.setText(path)
        if not self.name_edit.text().strip():
            self.name_edit.setText(Path(path).stem)

    def _on_choose_clicked(self) -> None:
        paths = self.prompter.open_paths(self, "Style image", "", IMAGE_FILTER)
        if paths:
            self.set_image(paths[0])

    def request(self) -> tuple[str, str]:
        """(style image path, preset name)."""
        return self.image_edit.text().strip(), self.name_edit.text().strip()


class NewPresetWidget(QWidget):
    """The user's presets as a gallery, and the job that makes a new one."""

    SIDE = 72
    preset_added = Signal(str)  # the finished preset's name

    def __init__(self, panel: EffectPanel, host: PresetHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("NewPreset")
        self.panel = panel
        self.host = host
        # None: the default budget (about 20 minutes); tests give a tiny one.
        self.budget: PresetBudget | None = None
        self.job: Job | None = None
        self._job_name = ""
        self._pictures: dict[tuple[str, int], QPixmap] = {}
        self._last_preset: Any = None
        self._watched_list: QListWidget | None = None

        self.title = QLabel("Your presets:")
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(self.SIDE, self.SIDE))
        line = self.gallery.fontMetrics().height()
        self.gallery.setGridSize(QSize(self.SIDE + 40, self.SIDE + line + 10))
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setWrapping(True)
        self.gallery.setWordWrap(True)
        self.gallery.setMinimumHeight(self.gallery.gridSize().height() + 8)
        self.gallery.setMaximumHeight(2 * self.gallery.gridSize().height() + 8)
        self.gallery.itemClicked.connect(self._on_gallery_clicked)
        self.new_button = QPushButton("New preset from image…")
        self.new_button.setToolTip("Train a preset from your own style image (about 20 minutes)")
        self.new_button.clicked.connect(self._on_new_clicked)
        self.resume_label = QLabel()
        self.resume_label.setWordWrap(True)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue training this preset from where it stopped")
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop training; the work so far is kept for Resume")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setEnabled(False)  # secondary text
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        # Its own row, the name in a label that wraps: a long name never widens the panel.
        resume = QHBoxLayout()
        resume.addWidget(self.resume_label, 1)
        resume.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.gallery)
        layout.addLayout(buttons)
        layout.addLayout(resume)
        layout.addWidget(self.status)
        # A bound slot: Qt drops the connection when this widget goes.
        panel.preview_requested.connect(self._on_panel_preview_requested)
        self.refresh()

    # -- the gallery ----------------------------------------------------------
    def refresh(self) -> None:
        """List the presets on disk again, and what can be resumed."""
        current = self.selected()
        self.gallery.clear()
        placeholder = QPixmap(self.SIDE, self.SIDE)
        placeholder.fill(QColor(128, 128, 128, 60))
        for preset in user_presets.user_presets():
            item = QListWidgetItem(preset.name)
            item.setData(Qt.ItemDataRole.UserRole, str(preset.path))
            item.setToolTip(self._tooltip(preset))
            key = (str(preset.path), preset.path.stat().st_mtime_ns)
            item.setIcon(QIcon(self._pictures.get(key, placeholder)))
            self.gallery.addItem(item)
            if key not in self._pictures:
                self._draw(preset.name, key)
        has = self.gallery.count() > 0
        self.title.setVisible(has)
        self.gallery.setVisible(has)
        if current is not None:
            self._select(current)
        self._update_buttons()

    @staticmethod
    def _tooltip(preset: user_presets.UserPreset) -> str:
        source = preset.record.get("style_file")
        return f"{preset.name}: from {source}" if source else preset.name

    def _draw(self, name: str, key: tuple[str, int]) -> None:
        path, side = key[0], self.SIDE

        def work() -> Any:
            from warpaint.engine.features.fast_style.effect import preset_thumbnail

            try:
                return preset_thumbnail(name, side, model=path)
            except WarpaintError:
                return None

        self.host.run_background(
            ("user-preset", key), work, lambda picture: self._on_drawn(key, picture)
        )

    def _on_drawn(self, key: tuple[str, int], picture: Any) -> None:
        if picture is None:
            return
        from warpaint.engine.core.tiles import from_float
        from warpaint.gui.canvas import rgba_to_qimage

        rgba = np.asarray(picture, np.float32) / 255.0
        rgba = np.concatenate([rgba, np.ones_like(rgba[..., :1])], axis=2)
        pixmap = QPixmap.fromImage(rgba_to_qimage(from_float(rgba, np.uint8)))
        self._pictures[key] = pixmap
        for i in range(self.gallery.count()):
            item = self.gallery.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == key[0]:
                item.setIcon(QIcon(pixmap))

    def names(self) -> list[str]:
        return [self.gallery.item(i).text() for i in range(self.gallery.count())]

    def selected(self) -> str | None:
        """The selected preset's name, or None (a shipped preset is in use)."""
        items = self.gallery.selectedItems()
        return items[0].text() if items else None

    def select(self, name: str) -> None:
        """Use preset `name`: select it here and set the effect's model to its file."""
        path = self._select(name)
        if path is not None:
            self.panel.set_values({"model": path})
            self._last_preset = self.panel.values().get("preset")
            shipped = self.panel.widgets.get("preset")
            shipped_list = getattr(shipped, "list", None)
            if isinstance(shipped_list, QListWidget):
                # One preset looks chosen; a click on the shipped one still shown as
                # current (which changes no value) goes back to it.
                shipped_list.clearSelection()
                if shipped_list is not self._watched_list:
                    shipped_list.itemClicked.connect(self._on_shipped_clicked)
                    self._watched_list = shipped_list

    def _on_shipped_clicked(self, _item: QListWidgetItem) -> None:
        if self.selected() is not None:
            self.gallery.clearSelection()
            self.panel.set_values({"model": None})

    def _select(self, name: str) -> str | None:
        for i in range(self.gallery.count()):
            item = self.gallery.item(i)
            if item.text() == name:
                self.gallery.setCurrentItem(item)
                return str(item.data(Qt.ItemDataRole.UserRole))
        return None

    def _on_gallery_clicked(self, item: QListWidgetItem) -> None:
        self.select(item.text())

    def _on_panel_preview_requested(self, _panel: Any) -> None:
        self._follow_panel()

    def _follow_panel(self) -> None:
        """The panel's values changed: picking a shipped preset leaves the user's
        preset; a model file set elsewhere (reset, Browse…) is shown as it is."""
        values = self.panel.values()
        model = values.get("model")
        ours = {
            str(self.gallery.item(i).data(Qt.ItemDataRole.UserRole)): self.gallery.item(i)
            for i in range(self.gallery.count())
        }
        if model in ours and values.get("preset") != self._last_preset:
            self.gallery.clearSelection()
            self.panel.set_values({"model": None})
            return
        if model in ours:
            self.gallery.setCurrentItem(ours[model])
        else:
            self.gallery.clearSelection()

    # -- the job --------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.host.statusBar().showMessage(text, STATUS_TIMEOUT_MS)

    def _update_buttons(self) -> None:
        running = self.job is not None
        unfinished = [] if running else user_presets.unfinished_presets()
        self.new_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.resume_button.setVisible(bool(unfinished))
        self.resume_label.setVisible(bool(unfinished))
        if unfinished:
            job = unfinished[0]
            self.resume_label.setText(f"Unfinished: “{job.name}”, step {job.step} of {job.steps}")
            self.resume_button.setProperty("preset", job.name)

    def _on_new_clicked(self) -> None:
        dialog = NewPresetDialog(self.host.prompter, self)
        if self.host.prompter.run_dialog(dialog):
            image, name = dialog.request()
            if not image:
                self._say("No preset: choose a style image")
                return
            self.start(name, image)

    def _on_resume_clicked(self) -> None:
        name = self.resume_button.property("preset")
        if name:
            self.start(str(name), None)

    def start(self, name: str, image: str | None) -> Job | None:
        """Train preset `name` from `image` (None: resume its unfinished job)."""
        from warpaint.engine.features.fast_style import preset_job

        try:
            user_presets.check_name(name)
            if image is not None:
                preset_job.read_style_image(image)
            if user_presets.preset_path(name).exists():
                raise WarpaintError(f"a preset named “{name}” exists; choose another name")
        except WarpaintError as exc:
            self._say(f"No preset: {exc}")
            return None
        budget = self.budget

        def work(ctx: Any) -> Path:
            return preset_job.train_preset(name, image, budget, ctx, device=ctx.device)

        self._job_name = name
        self.job = self.host.bridge.submit(
            work,
            f"New preset “{name}”",
            on_progress=self._on_job_progress,
            on_done=self._on_job_done,
        )
        self._say(f"{name}: starting…")
        self._update_buttons()
        return self.job

    def _on_cancel_clicked(self) -> None:
        if self.job is not None:
            self.host.bridge.cancel(self.job)
            self.status.setText(f"{self._job_name}: stopping…")

    def _on_job_progress(self, job: Job, fraction: float, _preview: Any) -> None:
        data = job.data
        if hasattr(data, "text"):
            self.status.setText(f"{data.text(self._job_name)} ({fraction * 100:.0f} %)")

    def _on_job_done(self, job: Job) -> None:
        self.job = None
        name = self._job_name
        if job.state is JobState.DONE:
            self.refresh()
            self.select(name)
            self._say(f"Preset “{name}” is ready")
            self.preset_added.emit(name)
        elif job.state is JobState.CANCELLED:
            self._say(f"{name}: stopped; Resume continues from where it was")
        else:
            self._say(f"No preset “{name}”: {job.error_message}")
        self._update_buttons()
