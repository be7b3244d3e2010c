"""Smoke test of a built bundle: `make package-smoke`.

    python packaging/smoke_test.py [dist/warpaint/warpaint]

Runs the bundled executable headless (offscreen Qt, a throwaway HOME) and
checks what it produces, then prints one JSON report: bundle size, the time to
`--version`, the time to a shown editor window (median of 3; process start to
the window's event loop running with it shown) and the demo's outputs. Exits 1
with the reason when something is wrong.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def timed(cmd: list[str], env: dict[str, str], timeout: float = 300) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def check_png(path: Path) -> None:
    with path.open("rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            raise SystemExit(f"{path} is not a PNG")


def check_ora(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        if z.read("mimetype") != b"image/openraster" or "stack.xml" not in z.namelist():
            raise SystemExit(f"{path} is not an OpenRaster document")


def main(argv: list[str]) -> int:
    exe = Path(argv[0]) if argv else ROOT / "dist" / "warpaint" / "warpaint"
    if not exe.is_file():
        raise SystemExit(f"no bundle at {exe}: run 'make package' first")
    with tempfile.TemporaryDirectory() as home:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "XDG_STATE_HOME": str(Path(home) / "state"),
            "XDG_CONFIG_HOME": str(Path(home) / "config"),
            "QT_QPA_PLATFORM": "offscreen",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        }
        version_s, out = timed([str(exe), "--version"], env)
        if not out.startswith("warpaint "):
            raise SystemExit(f"unexpected --version output: {out!r}")
        demo_dir = Path(home) / "demo"
        demo_s, out = timed([str(exe), "demo", "--quick", "-o", str(demo_dir)], env, timeout=900)
        written = [Path(line) for line in out.splitlines() if line.strip()]
        if not written:
            raise SystemExit("the demo wrote nothing")
        for path in written:
            if not path.is_file():
                raise SystemExit(f"the demo listed {path} but it is missing")
            if path.suffix == ".png":
                check_png(path)
            elif path.suffix == ".ora":
                check_ora(path)
        probe = dict(env, WARPAINT_STARTUP_PROBE="1")
        starts = []
        for _ in range(3):
            seconds, out = timed([str(exe), "gui"], probe)
            if "window shown: True" not in out:
                raise SystemExit(f"the editor window did not show: {out!r}")
            starts.append(seconds)
    report = {
        "bundle": str(exe.parent),
        "bundle_mib": round(folder_mib(exe.parent), 1),
        "version_s": round(version_s, 2),
        "gui_start_s_median": round(statistics.median(starts), 2),
        "gui_start_s_runs": [round(s, 2) for s in starts],
        "gui_start_goal_s": 2.0,
        "demo_quick_s": round(demo_s, 1),
        "demo_outputs": sorted(p.name for p in written),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
