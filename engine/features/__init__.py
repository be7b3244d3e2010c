"""One package per feature: its effects (`effect.py`, `effect_*.py`), networks,
training commands (`train.py`, `train_*.py`) and benchmarks (`bench.py`,
`bench_*.py`). The registry, `warpaint bench` and `warpaint train` find them by
these names (`warpaint.engine.runtime.features`); nothing else lists them."""
