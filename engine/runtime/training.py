"""Training commands: `warpaint train KIND ...`.

Each module here (not starting with `_`) is one KIND. It defines `HELP` (one
line), `add_arguments(parser)` and `run(args) -> int`, and imports torch only
inside `run`, so `warpaint --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from types import ModuleType


def trainers() -> dict[str, ModuleType]:
    """{kind: module} for every training module in this package, sorted by kind."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", info.name)
        found[kind] = module
    return dict(sorted(found.items()))


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """One sub-parser per training kind under `warpaint train`."""
    for kind, module in trainers().items():
        p = sub.add_parser(kind, help=module.HELP)
        module.add_arguments(p)
        p.set_defaults(train_run=module.run)
