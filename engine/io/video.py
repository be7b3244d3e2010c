"""Video files: frames in, frames out, the audio carried across.

Needs the optional `video` extra (`pip install 'warpaint[video]'`: PyAV, whose
wheel bundles FFmpeg's libraries); `av` is imported only when a video is read
or written, so nothing else in Warpaint loads it. Frames are (H, W, 3) uint8
RGB arrays.

`VideoWriter` writes into a temporary name in the target's folder and renames
it over the target only in `finish`; leaving its `with` block any other way
(an error, Ctrl+C) removes the temporary file, so a cancelled video leaves no
half-written output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from warpaint.engine.io.atomic import TEMP_SUFFIX, temp_prefix
from warpaint.engine.runtime.errors import BadInputError

VIDEO_EXTENSIONS = frozenset({"mp4", "m4v", "mov", "mkv", "webm"})
# The encoder per output suffix: H.264 where players expect it, VP9 in WebM.
ENCODERS = {"mp4": "libx264", "m4v": "libx264", "mov": "libx264", "mkv": "libx264"}
ENCODERS["webm"] = "libvpx-vp9"
# Audio codecs a container takes as they are, and the encoder for the others;
# Matroska and QuickTime take any.
_MP4_AUDIO = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
_AUDIO_COPY = {"mp4": _MP4_AUDIO, "m4v": _MP4_AUDIO, "webm": frozenset({"opus", "vorbis"})}
_AUDIO_ENCODER = {"mp4": "aac", "m4v": "aac", "webm": "libopus"}
INSTALL_HINT = "video needs the optional extra: pip install 'warpaint[video]'"


def load_av() -> ModuleType:
    """The `av` module, or BadInputError saying how to install it."""
    try:
        import av
    except ImportError:
        raise BadInputError(INSTALL_HINT) from None
    return av


def video_available() -> bool:
    """Whether the `video` extra is installed."""
    try:
        load_av()
    except BadInputError:
        return False
    return True


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether `path`'s suffix is one of `VIDEO_EXTENSIONS`."""
    return Path(path).suffix.lower().lstrip(".") in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    """A video's first video stream: size, frame rate, frame count (from the
    container; 0 when it does not say) and whether it has an audio stream."""

    width: int
    height: int
    rate: Fraction
    frames: int
    has_audio: bool


def _open_input(path: str | os.PathLike[str]) -> Any:
    av = load_av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise BadInputError(f"{path}: cannot read as a video ({_reason(err)})") from None
    if not container.streams.video:
        container.close()
        raise BadInputError(f"{path}: has no video stream")
    return container


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:160] if text else type(err).__name__


# FFmpeg's numbers for BT.601 (SMPTE 170M) and limited ("MPEG") range.
_BT601 = 6
_LIMITED = 1


def _i420(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB (even sizes) -> (H * 3 / 2, W) uint8 planar 4:2:0
    in BT.601 limited range. OpenCV rounds where FFmpeg's scaler darkens a
    detailed picture by about 1.3 levels per conversion."""
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # type: ignore[no-any-return]


def _rgb(frame: Any) -> np.ndarray:
    """A decoded frame as (H, W, 3) uint8 RGB: converted by OpenCV when it is
    4:2:0 BT.601 limited range of even size (as `VideoWriter` writes), by
    FFmpeg otherwise (other matrices and ranges)."""
    if (
        frame.format.name == "yuv420p"
        and frame.colorspace == _BT601
        and frame.color_range == _LIMITED
        and frame.width % 2 == 0
        and frame.height % 2 == 0
    ):
        import cv2

        planes = frame.to_ndarray(format="yuv420p")
        return cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420)  # type: ignore[no-any-return]
    return frame.to_ndarray(format="rgb24")  # type: ignore[no-any-return]


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """What `path` holds, without decoding it. Raises BadInputError for a file
    that is not a video."""
    with _open_input(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        return VideoInfo(
            stream.codec_context.width,
            stream.codec_context.height,
            Fraction(rate),
            int(stream.frames or 0),
            bool(container.streams.audio),
        )


def read_frames(path: str | os.PathLike[str], start: int = 0) -> Iterator[np.ndarray]:
    """The video's frames in order from frame `start` (earlier ones are
    decoded and dropped: seeking lands on key frames only), each (H, W, 3)
    uint8 RGB."""
    av = load_av()
    with _open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index >= start:
                    yield _rgb(frame)
        except av.FFmpegError as err:
            raise BadInputError(f"{path}: damaged video ({_reason(err)})") from None


def count_frames(path: str | os.PathLike[str]) -> int:
    """The number of frames, by reading the packets (no decoding): the
    container's own count is missing or approximate in some formats."""
    with _open_input(path) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


class VideoWriter:
    """Frames to a video file at a constant `rate`, with the audio of
    `audio_from` (a video file) copied in at the end, or re-encoded when the
    output's container does not take its codec.

    `codec` defaults by suffix (`ENCODERS`); `crf` is the H.264/VP9 quality
    (lower is better, 18 is near transparent) and `preset` the H.264/H.265
    encoder's speed (x264's names: "medium" is its default, "veryfast" spends
    a third of the time at a few percent more bytes). Odd sizes lose their last
    row or column (4:2:0 video needs even sizes). Use as a context manager
    and call `finish()` to keep the file.

    With `like` (a video file, e.g. a part written earlier by a writer with
    the same codec, size and settings) the stream takes that file's codec
    parameters and is filled with `append`, which copies encoded parts
    whole (no decoding, no second encoding) instead of `write`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        rate: Fraction,
        audio_from: str | os.PathLike[str] | None = None,
        codec: str | None = None,
        crf: int = 18,
        preset: str = "medium",
        like: str | os.PathLike[str] | None = None,
    ) -> None:
        av = load_av()
        self.path = Path(path)
        suffix = self.path.suffix.lower().lstrip(".")
        if suffix not in VIDEO_EXTENSIONS:
            known = ", ".join(sorted(VIDEO_EXTENSIONS))
            raise BadInputError(f"{self.path}: not a video name (use one of: {known})")
        self.temp = self.path.with_name(
            f"{temp_prefix(self.path)}{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        )
        self.width, self.height = width - width % 2, height - height % 2
        self.audio_from = audio_from
        self.count = 0
        self._done = False
        self._audio_src: Any = None
        self._audio_in: Any = None
        self._audio_out: Any = None
        self._transcode = False
        self.rate = Fraction(rate)
        self.copying = like is not None
        fmt = "matroska" if suffix == "mkv" else suffix if suffix != "m4v" else "mp4"
        self.container = av.open(str(self.temp), "w", format=fmt)
        try:
            if like is not None:
                with _open_input(like) as source:
                    self.stream = self.container.add_stream_from_template(source.streams.video[0])
                self.stream.time_base = 1 / self.rate
                if audio_from is not None:
                    self._add_audio(audio_from)
                return
            self.stream = self.container.add_stream(codec or ENCODERS[suffix], rate=rate)
            self.stream.pix_fmt = "yuv420p"
            # BT.601 limited range, as `_i420` converts, stated for players.
            context = self.stream.codec_context
            context.colorspace = context.color_primaries = context.color_trc = _BT601
            context.color_range = _LIMITED
            if context.name in ("libx264", "libx265"):
                self.stream.options = {"crf": str(crf), "preset": preset}
            elif context.name == "libvpx-vp9":
                self.stream.options = {"crf": str(crf + 13), "b": "0", "row-mt": "1"}
            self.stream.width, self.stream.height = self.width, self.height
            self.stream.time_base = Fraction(1) / Fraction(rate)
            if audio_from is not None:
                self._add_audio(audio_from)
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._done:
            self._discard()

    def write(self, frame: np.ndarray) -> None:
        """Add one (H, W, 3) uint8 RGB frame of the writer's size (or one
        row/column more where that size was odd)."""
        av = load_av()
        if self.copying:
            raise ValueError("a writer made `like` a file takes parts (`append`), not frames")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
        frame = np.ascontiguousarray(frame[: self.height, : self.width])
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, the video {self.width}x{self.height}"
            )
        video_frame = av.VideoFrame.from_ndarray(_i420(frame), format="yuv420p")
        video_frame.colorspace, video_frame.color_range = _BT601, _LIMITED
        video_frame.pts = self.count
        self.container.mux(self.stream.encode(video_frame))
        self.count += 1

    def append(self, part: str | os.PathLike[str]) -> None:
        """Add every frame of `part` (a video of this writer's `like` codec
        and settings, starting with a key frame) after those written so far,
        its encoded packets copied as they are."""
        with _open_input(part) as source:
            stream = source.streams.video[0]
            base = stream.time_base
            count = 0
            for packet in source.demux(stream):
                if not packet.size:
                    continue
                # The part's timestamps in frames, moved after the frames before it.
                packet.pts = self.count + round(packet.pts * base * self.rate)
                packet.dts = self.count + round(packet.dts * base * self.rate)
                packet.time_base = 1 / self.rate
                packet.duration = 1
                packet.stream = self.stream
                self.container.mux(packet)
                count += 1
        self.count += count

    def finish(self) -> None:
        """Flush the encoder, add the audio, close and rename over the target."""
        os.replace(self.finish_staged(), self.path)

    def finish_staged(self) -> Path:
        """Flush the encoder, add the audio and close, leaving the whole file,
        synced to disk, under its temporary name for the caller to rename
        (a batch renames and journals it in one step); returns that name."""
        if not self.copying:
            self.container.mux(self.stream.encode(None))
        self._mux_audio()
        self.container.close()
        fd = os.open(self.temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._done = True
        return self.temp

    def _add_audio(self, source: str | os.PathLike[str]) -> None:
        """Open `source`'s audio and add its stream (before anything is written:
        the container's header lists every stream)."""
        av = load_av()
        self._audio_src = av.open(str(source))
        if not self._audio_src.streams.audio:
            return
        audio = self._audio_src.streams.audio[0]
        suffix = self.path.suffix.lower().lstrip(".")
        takes = _AUDIO_COPY.get(suffix)
        if takes is None or audio.codec_context.name in takes:
            self._audio_out = self.container.add_stream_from_template(audio)
            self._audio_in = audio
            return
        encoder = _AUDIO_ENCODER[suffix]
        rate = 48000 if encoder == "libopus" else audio.rate
        self._audio_out = self.container.add_stream(encoder, rate=rate)
        self._audio_in = audio
        self._transcode = True

    def _mux_audio(self) -> None:
        if self._audio_in is None:
            return
        src, out = self._audio_src, self._audio_out
        if not self._transcode:
            for packet in src.demux(self._audio_in):
                if packet.dts is None:
                    continue
                packet.stream = out
                self.container.mux(packet)
        else:
            for frame in src.decode(self._audio_in):
                frame.pts = None
                self.container.mux(out.encode(frame))
            self.container.mux(out.encode(None))
        src.close()
        self._audio_src = None

    def _discard(self) -> None:
        for container in (self.container, self._audio_src):
            try:
                if container is not None:
                    container.close()
            except Exception:  # noqa: BLE001 - the file is removed whatever state it is in
                pass
        self.temp.unlink(missing_ok=True)
