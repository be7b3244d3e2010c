"""Running Krita headless, writing .ora files by hand, W3C reference compositing.

Krita (Debian's `krita`, under `xvfb-run`) is the other program these tests
trust: `krita --export --export-filename OUT IN` renders IN to OUT and quits,
PNG for a flattened picture, .ora for a Krita-written layered file. Its
failure mode is a hang (a modal dialog on an invisible display), so every call
runs in its own process group under a hard timeout that kills the group.

The .ora files for the composite-op checks are written here by hand (zipfile
and Pillow), not by Warpaint, so the check does not assume Warpaint's writer.
`w3c_composite` is an independent, plain transcription of W3C Compositing and
Blending Level 1 in float64, the reference both programs are measured against.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import imagecodecs
import numpy as np
from PIL import Image

# Every composite-op OpenRaster 0.0.6 names for a layer.
OPENRASTER_OPS: tuple[str, ...] = (
    "svg:src-over",
    "svg:multiply",
    "svg:screen",
    "svg:overlay",
    "svg:darken",
    "svg:lighten",
    "svg:color-dodge",
    "svg:color-burn",
    "svg:hard-light",
    "svg:soft-light",
    "svg:difference",
    "svg:color",
    "svg:luminosity",
    "svg:hue",
    "svg:saturation",
    "svg:plus",
    "svg:dst-in",
    "svg:dst-out",
    "svg:src-atop",
    "svg:dst-atop",
)

# A fresh Krita home spends ~15 s building its resource database on the
# first start (`Krita.start`); later calls take ~1.5 s on a 2-core machine.
FIRST_START_TIMEOUT_S = 120.0
EXPORT_TIMEOUT_S = 60.0
# After this many hangs the remaining calls fail at once, which keeps a run
# with a broken Krita to a few minutes.
MAX_HANGS = 2
# What Qt prints when Krita finds no display to draw on: the virtual X server
# xvfb-run started was not ready or was lost (seen once in a CI run, 0.2 s
# after the start, on a machine where other Xvfb servers come and go). That
# is the harness's failure, not a result, so the call is made once more on
# another display; `Krita.restarts` counts these.
NO_DISPLAY = "no Qt platform plugin could be initialized"
# Krita time one run may spend before further calls fail at once: with one
# call's timeout on top it keeps `make interop` under 10 minutes.
BUDGET_S = 420.0


def krita_missing() -> str | None:
    """Why Krita cannot run here, or None when `krita`, `xvfb-run` and `xauth` are on PATH."""
    absent = [tool for tool in ("krita", "xvfb-run", "xauth") if shutil.which(tool) is None]
    if absent:
        return (
            f"Krita interop checks skipped: {', '.join(absent)} not installed "
            "(`make interop` installs Debian's krita and xvfb)"
        )
    return None


class KritaTimeout(AssertionError):
    """Krita did not finish in time (most likely a modal dialog); it was killed."""


class KritaFailed(AssertionError):
    """Krita wrote no file, or was not started (after hangs or past the time budget)."""


@dataclass
class KritaCall:
    """One finished `krita --export` call."""

    source: Path
    target: Path
    seconds: float
    log: str


@dataclass
class Krita:
    """Runs `xvfb-run -a krita --export` with its own home and runtime folders.

    One home per test run: Krita keeps its resource database and settings
    there, so the user's own Krita setup is neither read nor changed.
    """

    home: Path
    calls: list[KritaCall] = field(default_factory=list)
    hangs: int = 0
    restarts: int = 0  # calls made again after Krita found no display (NO_DISPLAY)
    spent: float = 0.0  # seconds in Krita calls, hangs included
    last_pid: int | None = None  # also the process group id of the last call

    def _env(self) -> dict[str, str]:
        runtime = self.home / "runtime"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = dict(os.environ)
        # The suite sets QT_QPA_PLATFORM=offscreen for Warpaint; Krita draws on
        # the virtual X display instead, as it would for a user.
        env.pop("QT_QPA_PLATFORM", None)
        env.update(HOME=str(self.home), XDG_RUNTIME_DIR=str(runtime), LC_ALL="C.UTF-8")
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "DISPLAY"):
            env.pop(name, None)
        return env

    def export(self, source: Path, target: Path, timeout: float = EXPORT_TIMEOUT_S) -> KritaCall:
        """Krita opens `source` and writes `target` (format from its suffix).

        Raises KritaTimeout after `timeout` seconds (the whole process group,
        Xvfb included, is killed) and KritaFailed when no file was written.
        """
        if self.hangs >= MAX_HANGS:
            # A Krita that hangs on everything would take the run past its
            # budget one timeout at a time.
            raise KritaFailed(f"Krita hung {self.hangs} times in this run; not started again")
        if self.spent >= BUDGET_S:
            raise KritaFailed(
                f"Krita calls took {self.spent:.0f} s in this run, over the "
                f"{BUDGET_S:.0f} s budget; not started again"
            )
        try:
            return self._export_once(source, target, timeout)
        except KritaFailed as failed:
            if NO_DISPLAY not in str(failed):
                raise
            self.restarts += 1
            return self._export_once(source, target, timeout)

    def _export_once(self, source: Path, target: Path, timeout: float) -> KritaCall:
        target.unlink(missing_ok=True)
        command = [
            "xvfb-run",
            "-a",
            # -a takes the first free display from -n up; starting at a random
            # number keeps concurrent runs from racing for the same one.
            "-n",
            str(random.randrange(100, 30000)),
            "krita",
            "--nosplash",
            "--export",
            "--export-filename",
            str(target),
            str(source),
        ]
        start = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self._env(),
            cwd=self.home,
            start_new_session=True,
        )
        self.last_pid = proc.pid
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            self.hangs += 1
            self.spent += time.monotonic() - start
            raise KritaTimeout(
                f"Krita did not finish {source.name} -> {target.name} within {timeout:.0f} s "
                "(killed; a hang usually means a modal dialog)"
            ) from None
        except BaseException:
            # Interrupted (Ctrl-C, pytest-timeout): leave no Krita or Xvfb behind.
            _kill_group(proc)
            raise
        seconds = time.monotonic() - start
        self.spent += seconds
        log = out.decode("utf-8", "replace")
        if not target.exists() or target.stat().st_size == 0:
            tail = "\n".join(log.strip().splitlines()[-5:])
            raise KritaFailed(
                f"Krita wrote no {target.name} from {source.name} "
                f"(exit {proc.returncode}, {seconds:.1f} s): {tail}"
            )
        call = KritaCall(source, target, seconds, log)
        self.calls.append(call)
        return call

    def start(self) -> KritaCall:
        """Krita's first start in this home (it builds its resource database),
        converting a 1 x 1 PNG, so that later calls time only their own work."""
        source = self.home / "start.png"
        source.write_bytes(png_bytes(np.zeros((1, 1, 4), np.uint8)))
        return self.export(source, self.home / "start.ora", timeout=FIRST_START_TIMEOUT_S)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop every process in `proc`'s group (xvfb-run, Xvfb, Krita) and wait for them."""
    # SIGTERM first so Xvfb can remove its lock file; SIGKILL whatever is left
    # (Krita in a modal loop may not stop on TERM).
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            proc.poll()  # reap xvfb-run itself; the others are reaped by init
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
    proc.wait(timeout=5.0)


# -- hand-written OpenRaster ---------------------------------------------------


@dataclass(frozen=True)
class OraLayer:
    """A layer for `write_plain_ora`: (h, w, 4) uint8 straight RGBA pixels."""

    name: str
    pixels: np.ndarray
    op: str = "svg:src-over"
    x: int = 0
    y: int = 0
    opacity: float = 1.0
    visible: bool = True


def png_bytes(rgba: np.ndarray) -> bytes:
    """(h, w, 4) uint8 RGBA -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def write_plain_ora(
    path: Path, width: int, height: int, layers: Sequence[OraLayer | Sequence[OraLayer]]
) -> None:
    """An OpenRaster file as the spec describes it, layers given bottom first.

    A nested sequence becomes an isolated group (<stack>) of its layers.
    mergedimage.png holds the bottom layer only: readers under test must
    composite the stack themselves.
    """
    members: dict[str, bytes] = {}

    def layer_xml(layer: OraLayer) -> str:
        src = f"data/layer{len(members)}.png"
        members[src] = png_bytes(layer.pixels)
        return (
            f"<layer name={quoteattr(layer.name)} src={quoteattr(src)} "
            f'composite-op="{layer.op}" x="{layer.x}" y="{layer.y}" '
            f'opacity="{layer.opacity!r}" '
            f'visibility="{"visible" if layer.visible else "hidden"}"/>'
        )

    items: list[str] = []
    for item in layers:
        if isinstance(item, OraLayer):
            items.append(layer_xml(item))
        else:
            inner = [layer_xml(layer) for layer in item]
            items.append('<stack isolation="isolate">' + "".join(reversed(inner)) + "</stack>")
    stack_xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<image version="0.0.6" w="{width}" h="{height}"><stack>'
        + "".join(reversed(items))
        + "</stack></image>"
    )
    first = layers[0] if isinstance(layers[0], OraLayer) else layers[0][0]
    merged = np.zeros((height, width, 4), np.uint8)
    h, w = first.pixels.shape[:2]
    merged[first.y : first.y + h, first.x : first.x + w] = first.pixels
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster", compress_type=zipfile.ZIP_STORED)
        zf.writestr("stack.xml", stack_xml, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("mergedimage.png", png_bytes(merged))


# -- pixels --------------------------------------------------------------------


def read_png(path: Path) -> np.ndarray:
    """A PNG of any bit depth as (h, w, 4) float64 straight RGBA in [0, 1]."""
    raw = imagecodecs.png_decode(path.read_bytes())
    scale = 65535.0 if raw.dtype == np.uint16 else 255.0
    pixels = raw.astype(np.float64) / scale
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    channels = pixels.shape[2]
    if channels in (1, 2):  # grey (+ alpha)
        grey = np.repeat(pixels[..., :1], 3, axis=2)
        alpha = pixels[..., 1:2] if channels == 2 else np.ones_like(grey[..., :1])
        pixels = np.concatenate([grey, alpha], axis=2)
    elif channels == 3:
        pixels = np.concatenate([pixels, np.ones_like(pixels[..., :1])], axis=2)
    return pixels


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) straight RGBA -> (h, w, 4) premultiplied RGBA (what a viewer sees)."""
    out = np.asarray(rgba, np.float64).copy()
    out[..., :3] *= out[..., 3:4]
    return out


@dataclass(frozen=True)
class Difference:
    """How far two renderings are apart, on premultiplied RGBA in 1/255 units."""

    max: float
    mean: float
    share_over_1: float  # share of pixels with any channel more than 1/255 off

    def __str__(self) -> str:
        return (
            f"max {self.max:.1f}/255, mean {self.mean:.2f}/255, "
            f"{100 * self.share_over_1:.1f} % of pixels over 1/255"
        )


def difference(a: np.ndarray, b: np.ndarray) -> Difference:
    """Compare two (h, w, 4) straight-alpha float renderings as a viewer sees them.

    Colour under zero alpha is invisible, so both are premultiplied first.
    """
    if a.shape != b.shape:
        raise AssertionError(f"renderings differ in size: {a.shape} vs {b.shape}")
    diff = np.abs(premultiplied(a) - premultiplied(b)) * 255.0
    return Difference(
        max=float(diff.max()),
        mean=float(diff.mean()),
        share_over_1=float((diff.max(axis=2) > 1.0).mean()),
    )


# -- W3C Compositing and Blending Level 1, float64 ---------------------------------


W3C_LUMA = (0.3, 0.59, 0.11)


def _lum(c: np.ndarray, luma: tuple[float, float, float]) -> np.ndarray:
    return luma[0] * c[..., 0:1] + luma[1] * c[..., 1:2] + luma[2] * c[..., 2:3]


def _clip_color(c: np.ndarray, luma: tuple[float, float, float]) -> np.ndarray:
    lum = _lum(c, luma)
    low = c.min(axis=-1, keepdims=True)
    high = c.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(low < 0.0, lum + (c - lum) * lum / (lum - low), c)
        c = np.where(high > 1.0, lum + (c - lum) * (1.0 - lum) / (high - lum), c)
    return c


def _set_lum(c: np.ndarray, lum: np.ndarray, luma: tuple[float, float, float]) -> np.ndarray:
    return _clip_color(c + (lum - _lum(c, luma)), luma)


def _sat(c: np.ndarray) -> np.ndarray:
    return c.max(axis=-1, keepdims=True) - c.min(axis=-1, keepdims=True)


def _set_sat(c: np.ndarray, sat: np.ndarray) -> np.ndarray:
    low = c.min(axis=-1, keepdims=True)
    spread = _sat(c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0.0, (c - low) * sat / spread, 0.0)


def _hard_light(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    return np.where(cs <= 0.5, cb * 2.0 * cs, cb + (2.0 * cs - 1.0) - cb * (2.0 * cs - 1.0))


def _color_dodge(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.minimum(1.0, cb / (1.0 - cs))
    return np.where(cb == 0.0, 0.0, np.where(cs == 1.0, 1.0, ratio))


def _color_burn(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 1.0 - np.minimum(1.0, (1.0 - cb) / cs)
    return np.where(cb == 1.0, 1.0, np.where(cs == 0.0, 0.0, ratio))


def _soft_light(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    d = np.where(cb <= 0.25, ((16.0 * cb - 12.0) * cb + 4.0) * cb, np.sqrt(cb))
    return np.where(
        cs <= 0.5,
        cb - (1.0 - 2.0 * cs) * cb * (1.0 - cb),
        cb + (2.0 * cs - 1.0) * (d - cb),
    )


Blend = Callable[[np.ndarray, np.ndarray], np.ndarray]

SEPARABLE_BLENDS: dict[str, Blend] = {
    "svg:src-over": lambda cb, cs: cs,
    "svg:multiply": lambda cb, cs: cb * cs,
    "svg:screen": lambda cb, cs: cb + cs - cb * cs,
    "svg:overlay": lambda cb, cs: _hard_light(cs, cb),
    "svg:darken": np.minimum,
    "svg:lighten": np.maximum,
    "svg:color-dodge": _color_dodge,
    "svg:color-burn": _color_burn,
    "svg:hard-light": _hard_light,
    "svg:soft-light": _soft_light,
    "svg:difference": lambda cb, cs: np.abs(cb - cs),
}


def _non_separable(op: str, luma: tuple[float, float, float]) -> Blend:
    def lum(c: np.ndarray) -> np.ndarray:
        return _lum(c, luma)

    def set_lum(c: np.ndarray, value: np.ndarray) -> np.ndarray:
        return _set_lum(c, value, luma)

    blends: dict[str, Blend] = {
        "svg:color": lambda cb, cs: set_lum(cs, lum(cb)),
        "svg:luminosity": lambda cb, cs: set_lum(cb, lum(cs)),
        "svg:hue": lambda cb, cs: set_lum(_set_sat(cs, _sat(cb)), lum(cb)),
        "svg:saturation": lambda cb, cs: set_lum(_set_sat(cb, _sat(cs)), lum(cb)),
    }
    return blends[op]


NON_SEPARABLE_OPS = ("svg:color", "svg:luminosity", "svg:hue", "svg:saturation")

# Porter-Duff operators in W3C's general form: co = cs*as*Fa + cb*ab*Fb,
# ao = as*Fa + ab*Fb; each entry gives (Fa, Fb) from (as, ab).
W3C_OPERATORS = {
    "svg:plus": lambda a_s, ab: (1.0, 1.0),
    "svg:dst-in": lambda a_s, ab: (0.0, a_s),
    "svg:dst-out": lambda a_s, ab: (0.0, 1.0 - a_s),
    "svg:src-atop": lambda a_s, ab: (ab, 1.0 - a_s),
    "svg:dst-atop": lambda a_s, ab: (1.0 - ab, a_s),
}


def w3c_composite(
    backdrop: np.ndarray,
    source: np.ndarray,
    op: str,
    *,
    luma: tuple[float, float, float] = W3C_LUMA,
    blend: Blend | None = None,
) -> np.ndarray:
    """`source` composited onto `backdrop` with OpenRaster composite-op `op`.

    backdrop, source: (h, w, 4) straight RGBA in [0, 1] (the source's opacity
    already in its alpha). Returns (h, w, 4) float64 straight RGBA. Blend modes
    use source-over with the blend function; the Porter-Duff operators and
    plus use no blending, as OpenRaster specifies. `luma` (the weights of Lum
    in the non-separable modes) and `blend` (any blend function under
    source-over, replacing `op`) model other programs' departures from W3C.
    """
    cb, ab = backdrop[..., :3].astype(np.float64), backdrop[..., 3:4].astype(np.float64)
    cs, a_s = source[..., :3].astype(np.float64), source[..., 3:4].astype(np.float64)
    if blend is None and op in SEPARABLE_BLENDS:
        blend = SEPARABLE_BLENDS[op]
    elif blend is None and op in NON_SEPARABLE_OPS:
        blend = _non_separable(op, luma)
    if blend is not None:
        mixed = (1.0 - ab) * cs + ab * np.clip(blend(cb, cs), 0.0, 1.0)
        co = a_s * mixed + (1.0 - a_s) * ab * cb
        ao = a_s + ab * (1.0 - a_s)
    elif op in W3C_OPERATORS:
        fa, fb = W3C_OPERATORS[op](a_s, ab)
        co = cs * a_s * fa + cb * ab * fb
        ao = a_s * fa + ab * fb
        if op == "svg:plus":
            co, ao = np.minimum(co, 1.0), np.minimum(ao, 1.0)
    else:
        raise ValueError(f"not an OpenRaster composite-op: {op!r}")
    out = np.zeros(backdrop.shape, np.float64)
    ao_full = np.broadcast_to(ao, co.shape)
    np.divide(co, ao_full, out=out[..., :3], where=ao_full > 0)
    out[..., 3:4] = ao
    return out


# -- the test picture -----------------------------------------------------------


def varied_pair(size: int = 64, seed: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A backdrop and a source layer, each (size, size, 4) uint8 straight RGBA.

    Colours are random per pixel with a fifth of the channels at exactly 0 or
    255 (where dodge, burn and the saturation modes take their special
    branches), plus grey pixels. The backdrop's alpha steps across columns
    (255, 255, 150, 0 in quarters), the source's down rows (255, 190, 70,
    0), so every op meets opaque, partly covered and empty pixels on both sides.
    """
    rng = np.random.default_rng(seed)
    pair = []
    for axis, alphas in ((1, (255, 255, 150, 0)), (0, (255, 190, 70, 0))):
        rgba = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
        extremes = rng.random((size, size, 3)) < 0.2
        rgba[..., :3][extremes] = rng.choice(np.array([0, 255], np.uint8), extremes.sum())
        grey = rng.random((size, size)) < 0.1
        rgba[grey, 1] = rgba[grey, 0]
        rgba[grey, 2] = rgba[grey, 0]
        quarter = size // 4
        for i, alpha in enumerate(alphas):
            block = slice(i * quarter, (i + 1) * quarter if i < 3 else size)
            if axis == 1:
                rgba[:, block, 3] = alpha
            else:
                rgba[block, :, 3] = alpha
        pair.append(rgba)
    return pair[0], pair[1]


def to_unit(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) uint8/uint16 -> float64 in [0, 1]."""
    return rgba.astype(np.float64) / float(np.iinfo(rgba.dtype).max)


@dataclass
class Figures:
    """Measured figures, collected over a run and printed at its end."""

    ops: dict[str, tuple[Difference, Difference]] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.ops:
            out += [
                "Krita vs Warpaint per composite-op (premultiplied RGBA, 1/255 units;"
                " Warpaint vs W3C reference after the bar):",
                f"{'op':<18} {'max':>6} {'mean':>6} | {'W3C max':>8}",
            ]
            for op, (krita, w3c) in self.ops.items():
                out.append(f"{op:<18} {krita.max:6.1f} {krita.mean:6.2f} | {w3c.max:8.2f}")
        out += [f"{name}: {value}" for name, value in self.other.items()]
        return out


FIGURES = Figures()
