"""Benchmarks that live beside their effect family.

Every module here (not starting with `_`) registers its benchmarks with
`warpaint.engine.bench.benchmark` at import; `bench.load_all()` imports them.
"""
