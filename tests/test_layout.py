"""Packaging contract: engine never imports Qt; `import warpaint` is light; every source
folder is a listed package."""

import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


# Top-level packages of the optional extras (`cluster`, `video`): an engine
# module may import them at its top when only the extra's users import it.
OPTIONAL_EXTRA_PACKAGES = frozenset({"dask", "distributed", "av"})


def test_importing_every_engine_module_loads_no_qt():
    code = (
        "import sys, pkgutil, importlib\n"
        "import warpaint.engine as engine\n"
        "names = [m.name for m in pkgutil.walk_packages(engine.__path__, 'warpaint.engine.')]\n"
        "for n in names:\n"
        "    try:\n"
        "        importlib.import_module(n)\n"
        "    except ModuleNotFoundError as err:\n"
        "        # A module of an optional extra (Dask for --cluster) without the extra.\n"
        f"        if err.name.split('.')[0] not in {sorted(OPTIONAL_EXTRA_PACKAGES)!r}:\n"
        "            raise\n"
        "print(len(names))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, qt = out.stdout.strip().splitlines()
    assert int(count) >= 15, "the walk found the engine modules"
    assert qt == "[]"


def test_every_source_folder_is_an_installed_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = {v: k for k, v in config["package-dir"].items()}
    found = set()
    for top, package in mapping.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found <= listed, f"folders missing from pyproject packages: {sorted(found - listed)}"
    assert listed <= found, f"pyproject packages with no folder: {sorted(listed - found)}"


def test_installed_names_live_under_the_warpaint_namespace():
    import warpaint.engine
    import warpaint.resources

    assert warpaint.engine.__name__ == "warpaint.engine"
    assert "engine" not in sys.modules or sys.modules["engine"] is not warpaint.engine


def test_importing_warpaint_loads_neither_torch_nor_qt():
    code = (
        "import sys, warpaint\n"
        "print(warpaint.__version__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    version, heavy = out.stdout.strip().splitlines()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert version == config["project"]["version"]
    assert heavy == "[]"
