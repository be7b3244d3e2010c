"""Splining (Laplacian-pyramid blends) and mosaic: the effects and their benchmark.

The pyramid itself is in `warpaint.engine.core.pyramid`: the compositor's spline
mode uses it too."""
