"""Warpaint's engine: document model, compositing, history, effects, jobs and files.

Pure Python, numpy, Pillow and (lazily) torch. Never imports Qt, the GUI or
the app, so the same engine drives the GUI, the command line and tests.
docs/engine.md has the map: `core/`, `runtime/`, `io/`, `neural/` and one
package per feature under `features/`.
"""
