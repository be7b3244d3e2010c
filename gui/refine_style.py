""" "Refine for this style": a row of the arbitrary-style panel.

The button fine-tunes the AdaIN decoder on the panel's style image and the
current layer (`warpaint.engine.features.arbitrary_style.refine`) as a job on
the long lane: the window's progress bar and Cancel follow it, the panel's
loss plot shows its losses, and the row's own Cancel stops it too. A
cancelled refinement keeps its state on disk; pressing the button again with
the same style and layer resumes it. When it finishes, the row shows the
judged gain on the layer (texture and style distance as a share of the
photo's own, content SSIM, shipped decoder -> refined) and the preview
starts again: the effect now finds the refined decoder by the style's pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from warpaint.engine.runtime.jobs import Job, JobContext, JobState

if TYPE_CHECKING:
    from warpaint.engine.features.arbitrary_style.refine import RefineConfig
    from warpaint.gui.effects_panel import EffectPanel
    from warpaint.gui.main_window import MainWindow

EFFECT_ID = "arbitrary-style"
JOB_LABEL = "Refine for this style"


class RefineStyleWidget(QWidget):
    """The button, its Cancel and a line saying what happened."""

    def __init__(
        self,
        window: MainWindow,
        panel: EffectPanel,
        config: RefineConfig | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from warpaint.engine.features.arbitrary_style.refine import RefineConfig

        self.host, self.panel = window, panel
        # The training settings; tests give a budget of a few steps.
        self.config: RefineConfig = config or RefineConfig()
        self.job: Job | None = None
        self.result: Any = None  # the last finished refinement (engine RefineResult)
        self.refine_button = QPushButton(JOB_LABEL)
        self.refine_button.setObjectName("RefineStyleButton")
        self.refine_button.setToolTip(
            "Fine-tune the decoder on this style and this layer (about a minute); "
            "the effect then uses it whenever this style is chosen"
        )
        self.refine_button.clicked.connect(self._on_refine_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop refining; pressing Refine again resumes it")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.cancel_button.setVisible(False)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.refine_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status_label)

    @property
    def running(self) -> bool:
        return self.job is not None

    def _say(self, text: str) -> None:
        self.status_label.setText(text)

    def _style_name(self, ref: Any) -> str:
        import os

        if isinstance(ref, int):
            doc = self.host.doc
            try:
                return doc.layer(ref).name if doc is not None else "style"
            except KeyError:
                return "style"
        return os.path.splitext(os.path.basename(str(ref)))[0] or "style"

    def start(self) -> Job | None:
        """Refine on the current layer with the panel's style; None (and a
        reason shown) when there is nothing to refine on."""
        if self.job is not None:
            return self.job
        window, doc = self.host, self.host.doc
        layer = window.current_layer()
        if doc is None or layer is None:
            self._say("Open an image and choose a layer first.")
            return None
        params = window.session.effect_params(self.panel)
        ref = params.get("style")
        if ref is None:
            self._say("Choose a style image first.")
            return None
        from warpaint.engine.runtime.registry import get_effect

        spec = get_effect(EFFECT_ID)
        state, name, config = doc.state, self._style_name(ref), self.config

        def work(ctx: JobContext) -> Any:
            from warpaint.engine.core.tensors import to_tensor
            from warpaint.engine.features.arbitrary_style.refine import refine_decoder
            from warpaint.engine.neural.effect_helpers import rgb
            from warpaint.engine.runtime.apply import resolve_references

            style = resolve_references(spec, {"style": ref}, state)["style"]
            content = state.layer(layer.id).pixels.read_float()
            return refine_decoder(
                rgb(to_tensor(content, ctx.device)),
                rgb(to_tensor(style, ctx.device)),
                name,
                config,
                device=ctx.device,
                check=ctx.check,
                progress=lambda fraction, info: ctx.report(fraction, data=info),
            )

        self.job = window.bridge.submit(
            work, JOB_LABEL, on_progress=self._on_job_progress, on_done=self._on_job_done
        )
        self.refine_button.setEnabled(False)
        self.cancel_button.setVisible(True)
        self._say(f"Refining the decoder for “{name}”…")
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.host.bridge.cancel(self.job)

    # -- handlers -----------------------------------------------------------------
    def _on_refine_clicked(self) -> None:
        self.start()

    def _on_cancel_clicked(self) -> None:
        self.cancel()

    def _on_job_progress(self, job: Job, fraction: float, _preview: Any) -> None:
        info = job.data if isinstance(job.data, dict) else {}
        resumed = info.get("resumed_from", 0)
        where = f", resumed at step {resumed}" if resumed else ""
        self._say(f"Refining: step {info.get('step', 0)}, {fraction * 100:.0f} %{where}")
        self.panel.show_progress_data(info)

    def _on_job_done(self, job: Job) -> None:
        self.job = None
        self.refine_button.setEnabled(True)
        self.cancel_button.setVisible(False)
        self.panel.clear_progress_data()
        if job.state is JobState.DONE:
            self.result = job.result
            self._say(
                f"Refined ({job.result.steps} steps, {job.result.seconds:.0f} s); "
                f"judged on this layer: {job.result.summary()}"
            )
            # The effect now finds the refined decoder: show it.
            self.host.session.edited(self.panel)
        elif job.state is JobState.CANCELLED:
            step = job.data.get("step", 0) if isinstance(job.data, dict) else 0
            self._say(f"Cancelled at step {step}; press {JOB_LABEL} again to resume.")
        elif job.state is JobState.FAILED:
            self._say(f"Refining failed: {job.error_message}")


def attach_refine_tool(
    window: MainWindow, panel: EffectPanel, config: RefineConfig | None = None
) -> RefineStyleWidget:
    """Put a "Refine for this style" row under the arbitrary-style panel's parameters."""
    widget = RefineStyleWidget(window, panel, config)
    panel.add_tools(widget)
    return widget
