"""Finding the feature packages' effects, benchmarks and training commands.

Each package under `warpaint.engine.features` holds one feature. Its modules
are found by name: `effect.py` and `effect_*.py` define effects,
`bench.py` and `bench_*.py` register benchmarks, `train.py` and `train_*.py`
are `warpaint train` commands. Only the kind asked for is imported, so
listing effects never imports a feature's training or benchmark code, and a
new feature needs no entry anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

FEATURES_PACKAGE = "warpaint.engine.features"
KINDS = ("effect", "bench", "train")


def feature_module_names(kind: str) -> list[str]:
    """Dotted names of every feature module of `kind` ("effect", "bench" or
    "train"), sorted by feature and module name."""
    if kind not in KINDS:
        raise ValueError(f"unknown feature module kind {kind!r}")
    package = importlib.import_module(FEATURES_PACKAGE)
    names: list[str] = []
    for feature in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not feature.ispkg or feature.name.startswith("_"):
            continue
        sub = importlib.import_module(f"{FEATURES_PACKAGE}.{feature.name}")
        for info in sorted(pkgutil.iter_modules(sub.__path__), key=lambda i: i.name):
            if info.name == kind or info.name.startswith(f"{kind}_"):
                names.append(f"{sub.__name__}.{info.name}")
    return names


def feature_modules(kind: str) -> list[ModuleType]:
    """The modules `feature_module_names(kind)` names, imported."""
    return [importlib.import_module(name) for name in feature_module_names(kind)]
