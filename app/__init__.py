"""The `warpaint` command and the demo: above the engine and the GUI, which they start."""
