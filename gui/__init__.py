"""Warpaint's Qt shell: main window, canvas, panels and the bridge to the engine's job lanes.

Everything here is PySide6 on the GUI thread; image math (compositing,
resampling, transforms, selection masks, effects) lives in `warpaint.engine`.
"""
