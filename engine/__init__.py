"""Warpaint's engine: document model, compositing, history, effects, jobs and files.

Pure Python, numpy, Pillow and (lazily) torch. Never imports Qt, so the same
engine drives the GUI, the command line and tests.
"""

__version__ = "0.1.0"
