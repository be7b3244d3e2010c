"""The import rules of the source tree (docs/engine.md, "Map"), read statically.

Every module's imports are read with `ast`, not by loading it: module-level
and function-level `import` / `from ... import`, and string literals given to
`importlib.import_module(...)` or `__import__(...)`. The rules:

1. nothing under engine/ imports the GUI (`warpaint.gui`) or the app (`warpaint.app`);
2. the engine's core, runtime, io and shared neural packages import no feature;
3. an effect module (a feature's `effect.py` / `effect_*.py`), with everything it
   imports in turn, never reaches a training module (`train.py`, `train_*.py`,
   `runtime.training`) or a benchmark module (`bench.py`, `bench_*.py`, `runtime.bench`);
4. a training module, with everything it imports in turn, never reaches a benchmark.

The GUI and the app start training and benchmarks through the runtime
(`runtime.training`, `runtime.bench`), which find them by module name.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Installed package -> folder of the checkout (pyproject's package-dir).
ROOTS = {
    "warpaint": "warpaint",
    "warpaint.app": "app",
    "warpaint.engine": "engine",
    "warpaint.gui": "gui",
}
ENGINE = "warpaint.engine"
FEATURES = "warpaint.engine.features"
NO_FEATURES = tuple(f"{ENGINE}.{name}" for name in ("core", "runtime", "io", "neural"))


@dataclass(frozen=True)
class Import:
    target: str  # a dotted module name, or module.name for `from module import name`
    line: int
    from_name: bool = False  # `name` of `from module import name`: a module or an attribute


def module_files(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """{dotted module name: file} for every .py under the mapped folders of `root`."""
    found: dict[str, pathlib.Path] = {}
    for package, folder in ROOTS.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _literal_imports(node: ast.Call) -> Iterator[str]:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in ("import_module", "__import__") and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield first.value


def read_imports(module: str, path: pathlib.Path) -> list[Import]:
    """Every import of `module` (at any depth of its code), absolute."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            out.append(Import(source, node.lineno))
            out += [Import(f"{source}.{alias.name}", node.lineno, True) for alias in node.names]
        elif isinstance(node, ast.Call):
            out += [Import(name, node.lineno) for name in _literal_imports(node)]
    return out


def import_graph(root: pathlib.Path) -> dict[str, list[Import]]:
    """{module: its imports of other modules of the tree} (names that are
    attributes, not modules, are dropped; parent packages are kept, since
    importing a module runs its packages' __init__)."""
    files = module_files(root)
    graph: dict[str, list[Import]] = {}
    for module, path in files.items():
        edges: dict[str, Import] = {}
        for imp in read_imports(module, path):
            parts = imp.target.split(".")
            for n in range(1, len(parts) + 1):
                name = ".".join(parts[:n])
                if name in files and name != module:
                    edges.setdefault(name, Import(name, imp.line))
            above = parts[0] == "warpaint" and len(parts) > 1 and parts[1] in ("gui", "app")
            if above and not imp.from_name:
                edges.setdefault(imp.target, imp)  # kept even where the folder is absent
        graph[module] = list(edges.values())
    return graph


def _leaf(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def is_effect(module: str) -> bool:
    return module.startswith(FEATURES + ".") and (
        _leaf(module) == "effect" or _leaf(module).startswith("effect_")
    )


def is_training(module: str) -> bool:
    leaf = _leaf(module)
    return module == f"{ENGINE}.runtime.training" or (
        module.startswith(ENGINE + ".") and (leaf == "train" or leaf.startswith("train_"))
    )


def is_benchmark(module: str) -> bool:
    leaf = _leaf(module)
    return module.startswith(ENGINE + ".") and (leaf == "bench" or leaf.startswith("bench_"))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _reach(graph: dict[str, list[Import]], start: str) -> dict[str, list[str]]:
    """{module reachable from start: the chain of imports that gets there}."""
    chains = {start: [start]}
    todo = [start]
    while todo:
        here = todo.pop()
        for imp in graph.get(here, []):
            if imp.target not in chains:
                chains[imp.target] = chains[here] + [f"{imp.target} (line {imp.line})"]
                todo.append(imp.target)
    return chains


def violations(graph: dict[str, list[Import]]) -> list[str]:
    """One line per broken rule: the offending module, the import and where."""
    found: list[str] = []
    for module, imports in sorted(graph.items()):
        if not _within(module, ENGINE):
            continue
        named = {imp.target for imp in imports}
        for imp in imports:
            if any(other.startswith(imp.target + ".") for other in named):
                continue  # a package of a module imported too: name the module alone
            if _within(imp.target, "warpaint.gui") or _within(imp.target, "warpaint.app"):
                why = "the engine is below the GUI and the app"
                found.append(f"{module} imports {imp.target} (line {imp.line}): {why}")
            if module.startswith(NO_FEATURES) and _within(imp.target, FEATURES):
                why = "core, runtime, io and neural import no feature"
                found.append(f"{module} imports {imp.target} (line {imp.line}): {why}")
        if is_effect(module) or is_training(module):
            for reached, chain in sorted(_reach(graph, module).items()):
                bad = is_benchmark(reached) or (is_effect(module) and is_training(reached))
                if reached != module and bad:
                    kind = "an effect" if is_effect(module) else "a training module"
                    found.append(f"{module} ({kind}) reaches {reached}: {' -> '.join(chain)}")
    return found


def test_the_source_tree_keeps_the_import_rules():
    graph = import_graph(ROOT)
    assert sum(is_effect(m) for m in graph) >= 10, "the scan found the effect modules"
    assert sum(is_training(m) for m in graph) >= 5, "the scan found the training modules"
    assert sum(is_benchmark(m) for m in graph) >= 8, "the scan found the benchmark modules"
    broken = violations(graph)
    assert not broken, "import rules broken:\n" + "\n".join(broken)


def _tree(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # a lazy GUI import inside a function
            {"engine/demo.py": "def f():\n    from warpaint.gui.app import run_gui\n"},
            "warpaint.engine.demo imports warpaint.gui.app (line 2)",
        ),
        (  # the importlib trick
            {"engine/cli.py": "import importlib\nimportlib.import_module('warpaint.app.cli')\n"},
            "warpaint.engine.cli imports warpaint.app.cli (line 2)",
        ),
        (  # an effect reaching training through a helper of its feature
            {
                "engine/features/x/effect.py": "from warpaint.engine.features.x import helper\n",
                "engine/features/x/helper.py": (
                    "def f():\n    import warpaint.engine.features.x.train\n"
                ),
                "engine/features/x/train.py": "",
            },
            "warpaint.engine.features.x.effect (an effect) reaches "
            "warpaint.engine.features.x.train",
        ),
        (  # training reaching a benchmark (relative import)
            {
                "engine/features/x/train.py": "from .bench_x import evaluate\n",
                "engine/features/x/bench_x.py": "def evaluate(): ...\n",
            },
            "warpaint.engine.features.x.train (a training module) reaches "
            "warpaint.engine.features.x.bench_x",
        ),
        (  # the runtime naming a feature
            {
                "engine/runtime/registry.py": "import warpaint.engine.features.x.effect\n",
                "engine/features/x/effect.py": "",
            },
            "warpaint.engine.runtime.registry imports warpaint.engine.features.x.effect (line 1)",
        ),
    ],
)
def test_each_rule_names_the_offending_module_and_import(tmp_path, files, expected):
    _tree(tmp_path, files)
    broken = violations(import_graph(tmp_path))
    assert any(line.startswith(expected) for line in broken), broken
