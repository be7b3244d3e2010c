"""An effect whose model is missing stays in the chooser, disabled, saying why."""

from __future__ import annotations

from PySide6.QtCore import Qt

from warpaint.engine.runtime.registry import effects
from warpaint.gui.effects_panel import EffectsPanel


def test_an_effect_without_its_model_is_a_disabled_entry_with_the_reason(
    qtbot, window, tmp_path, monkeypatch
):
    monkeypatch.setenv("WARPAINT_FAST_STYLE_MODEL", str(tmp_path / "absent.safetensors"))
    panel = EffectsPanel(effects(), window)
    qtbot.addWidget(panel)
    index = panel.chooser.findData("fast-style")
    assert index >= 0, "the effect vanished from the chooser"
    assert panel.chooser.itemText(index).endswith("(unavailable)")
    assert not panel.chooser.model().item(index).isEnabled()
    tip = panel.chooser.itemData(index, Qt.ItemDataRole.ToolTipRole)
    assert "fast-style.safetensors is not installed" in tip
    assert "warpaint train style --presets" in tip
    blur = panel.chooser.findData("gaussian-blur")
    assert panel.chooser.model().item(blur).isEnabled()
