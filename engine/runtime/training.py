"""Training commands: `warpaint train KIND ...`.

Each feature's `train.py` or `train_*.py` module is one KIND (found by
`runtime.features`; the GUI and the app start training through here, so no
effect imports it). It defines `KIND`, `HELP` (one line),
`add_arguments(parser)` and `run(args) -> int`, and imports torch only inside
`run`, so `warpaint --help` stays fast.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from warpaint.engine.runtime.features import feature_modules


def trainers() -> dict[str, ModuleType]:
    """{KIND: module} for every feature's training module, sorted by kind."""
    found: dict[str, ModuleType] = {}
    for module in feature_modules("train"):
        found[module.KIND] = module
    return dict(sorted(found.items()))


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """One sub-parser per training kind under `warpaint train`."""
    for kind, module in trainers().items():
        p = sub.add_parser(kind, help=module.HELP)
        module.add_arguments(p)
        p.set_defaults(train_run=module.run)
