"""Resource limits applied to every file Warpaint reads.

Every reader checks sizes it can learn from headers (image dimensions, zip
member sizes, layer counts) against a `Limits` *before* it decodes or
allocates anything, so a hostile or absurd file fails with a one-line
`BadInputError` instead of exhausting memory.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, fields, replace

from warpaint.engine.runtime.errors import BadInputError

MIB = 1 << 20
GIB = 1 << 30


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _default_total_bytes() -> int:
    """Half the machine's physical memory (8 GiB where it cannot be read)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 8 * GIB
    return max(GIB, total // 2) if total > 0 else 8 * GIB


@dataclass(frozen=True)
class Limits:
    """Caps for decoding untrusted files.

    max_pixels: pixels in any one image, layer or canvas (decompression-bomb cap).
    max_dimension: width or height of any one image.
    max_layers: layers in one layered document.
    max_member_bytes: declared uncompressed size of one zip member.
    max_xml_bytes: uncompressed size of stack.xml.
    max_compression_ratio: uncompressed / compressed size of a zip member
        (checked for members over 1 MiB; PNG data barely compresses further).
    max_total_bytes: decoded pixel bytes of a whole document (all layers and
        masks at their storage precision); defaults to half the physical memory.
    max_total_pixels: decoded pixels of a whole document, all layers and masks
        counted (layers that share one image count once each: each is composited).
    """

    max_pixels: int = 200_000_000
    max_dimension: int = 300_000
    max_layers: int = 2_000
    max_member_bytes: int = 2 * GIB
    max_xml_bytes: int = 16 * MIB
    max_compression_ratio: float = 200.0
    max_total_bytes: int = 0
    max_total_pixels: int = 1_000_000_000

    def __post_init__(self) -> None:
        if self.max_total_bytes <= 0:
            object.__setattr__(self, "max_total_bytes", _default_total_bytes())

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """Defaults overridden by WARPAINT_MAX_PIXELS, WARPAINT_MAX_DIMENSION,
        WARPAINT_MAX_LAYERS, WARPAINT_MAX_MEMBER_BYTES, WARPAINT_MAX_XML_BYTES,
        WARPAINT_MAX_COMPRESSION_RATIO, WARPAINT_MAX_TOTAL_BYTES and
        WARPAINT_MAX_TOTAL_PIXELS."""
        env = os.environ if environ is None else environ
        changes: dict[str, int | float] = {}
        for f in fields(cls):
            name = "WARPAINT_" + f.name.upper()
            text = env.get(name)
            if text is None or not text.strip():
                continue
            try:
                value = float(text) if f.name == "max_compression_ratio" else int(text)
            except ValueError:
                raise BadInputError(f"{name}={text!r} is not a number") from None
            # nan passes `<= 0` and would switch the check off (every comparison is False).
            if not math.isfinite(value) or value <= 0:
                raise BadInputError(f"{name} must be a positive number, got {text!r}")
            changes[f.name] = value
        return replace(cls(), **changes)  # type: ignore[arg-type]

    # -- checks -------------------------------------------------------
    def check_image(self, width: int, height: int, what: str = "the image") -> None:
        """Raise BadInputError unless a width x height raster is acceptable."""
        if width < 1 or height < 1:
            raise BadInputError(f"{what} has an invalid size {width} x {height}")
        if width > self.max_dimension or height > self.max_dimension:
            raise BadInputError(
                f"{what} is {width} x {height} pixels; the largest side Warpaint accepts "
                f"is {self.max_dimension} (set WARPAINT_MAX_DIMENSION to change it)"
            )
        if width * height > self.max_pixels:
            raise BadInputError(
                f"{what} is {width} x {height} = {width * height / 1e6:.0f} megapixels, over the "
                f"limit of {self.max_pixels / 1e6:.0f} megapixels (possible decompression bomb; "
                "set WARPAINT_MAX_PIXELS to change it)"
            )

    def check_total_pixels(self, pixels: int, what: str = "the document") -> None:
        if pixels > self.max_total_pixels:
            raise BadInputError(
                f"{what} decodes to {pixels / 1e6:.0f} megapixels across its layers, over the "
                f"limit of {self.max_total_pixels / 1e6:.0f} megapixels "
                "(set WARPAINT_MAX_TOTAL_PIXELS to change it)"
            )

    def check_total(self, nbytes: int, what: str = "the document") -> None:
        if nbytes > self.max_total_bytes:
            raise BadInputError(
                f"{what} needs {human_bytes(nbytes)} of memory, more than the "
                f"{human_bytes(self.max_total_bytes)} allowed "
                "(set WARPAINT_MAX_TOTAL_BYTES to change it)"
            )

    def check_layers(self, count: int, what: str = "the document") -> None:
        if count > self.max_layers:
            raise BadInputError(
                f"{what} has {count} layers, over the limit of {self.max_layers} "
                "(set WARPAINT_MAX_LAYERS to change it)"
            )


def resolve(limits: Limits | None) -> Limits:
    """`limits`, or the defaults with environment overrides."""
    return limits if limits is not None else Limits.from_env()


def check_regular_file(path: str | os.PathLike[str], what: str | None = None) -> None:
    """Raise BadInputError unless `path` names an existing regular file.

    Every reader calls this before opening a path: opening a FIFO blocks until
    a writer appears (forever, from the user's point of view), and a device
    or folder is never an image or a model. Symbolic links are followed.
    """
    label = what or os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BadInputError(f"{label}: no such file") from None
    except PermissionError:
        raise BadInputError(f"{label}: permission denied") from None
    except (OSError, ValueError) as err:
        # ENAMETOOLONG, ELOOP, ENOTDIR, an embedded NUL (ValueError), ...
        reason = getattr(err, "strerror", None) or str(err)
        raise BadInputError(f"{label}: cannot be read ({reason})") from None
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise BadInputError(f"{label}: is a folder, not a file")
    kind = (
        "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise BadInputError(f"{label}: is {kind}; Warpaint reads only regular files")


def checked_offset(value: int, what: str, limits: Limits | None = None) -> int:
    """`value`, a layer's x or y offset, if it is within reach of a canvas.

    A layer placed farther than the largest accepted side from the origin lies
    wholly outside any canvas Warpaint can hold; growing a canvas to reach it
    would need hundreds of megapixels (or, for offsets near 2**31, more
    memory than exists). Raises BadInputError.
    """
    bound = resolve(limits).max_dimension
    if abs(value) > bound:
        raise BadInputError(
            f"{what} is placed at offset {_short(value)}; offsets beyond ±{bound} are "
            "refused (set WARPAINT_MAX_DIMENSION to change it)"
        )
    return value


def _short(number: int) -> str:
    """An integer for a message; one read from "1e300" has 301 digits."""
    text = str(number)
    return text if len(text) <= 20 else f"{text[:8]}... ({len(text.lstrip('-'))} digits)"
