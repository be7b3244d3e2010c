"""Repainting only what the stabilizer cannot carry: fast style between keyframes.

The stabilizer (`temporal.Stabilizer`) carries the previous output along the
optical flow and trusts it where the carried content matches the frame. On
most frames of a clip that is nearly everywhere, so the network need not
repaint those pixels. `Repainter` runs the whole network on a keyframe (the
result is exactly the full-frame stable path's) and records its
instance-norm statistics; on the frames between, it repaints only boxes
covering the pixels the flow cannot carry, each with `BOX_HALO` px of
context, under the keyframe's frozen statistics
(`neural.feedforward.frozen_statistics`), so a box's pixels are those a whole
pass would give with those statistics (within a level 8 px inside a box).
The generator's noise is tied to absolute pixel coordinates and each box
starts on its stride grid, so a box gets the noise the whole frame has
there.

Where a box has new network pixels the stabilizer blends as it does on a
keyframe; elsewhere the carried output is taken as it is; between the two, a
ramp (`fresh_weight`). Between keyframes the previous output is carried
bicubically: a pixel may be carried ten times, and bilinear resampling
blurs the marks (docs/video.md). A frame whose boxes would cost more than
`MAX_REPAINT` of a whole pass (a cut, fast motion) is made a keyframe.

Only a recipe of one fast-style step that puts the network's result
unchanged over the frame (`fast_style_step`) can be repainted in parts; the
batch path runs any other recipe on whole frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from warpaint.engine.features.video.temporal import Motion, Stabilizer

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.fast_style.generator import NoiseInputs
    from warpaint.engine.runtime.recipes import Recipe

# Boxes are made of cells this many pixels wide (a multiple of the generator's stride).
CELL = 16
# A pixel is repainted where the stabilizer's trust in the carried output is below this.
TRUSTED = 0.5
# Around each such pixel the new pixels fade into the carried ones over this
# many pixels, so a box's edge draws no seam.
RAMP = 8
# The context a box is repainted with: the generator's receptive radius is 55
# px (64 with the stride grid), but what lies beyond 32 px moves a box's edge
# pixels by at most 7 levels (mean 0.04) on the bench scene, and those edge
# pixels lie where the ramp keeps the carried output (docs/video.md).
BOX_HALO = 32
# A frame whose boxes (with their halos) would cost more than this share of a
# whole pass is a keyframe.
MAX_REPAINT = 0.5
# A box is split when its cells are filled less than this.
FILL = 0.7

Box = tuple[int, int, int, int]  # top, left, bottom, right (pixels, end exclusive)


@dataclass(frozen=True)
class FastStyleStep:
    """A fast-style step's resolved parameters, as the effect runs them."""

    params: dict[str, Any]


def fast_style_step(recipe: Recipe) -> FastStyleStep | None:
    """The step when `recipe` is one fast-style step whose result covers the
    frame as the network made it (no mask, full opacity, normal blend, some
    strength); None for any other recipe."""
    from warpaint.engine.runtime.registry import get_effect

    if len(recipe.steps) != 1:
        return None
    step = recipe.steps[0]
    if step.effect_id != "fast-style" or step.opacity != 1.0 or step.blend_mode != "normal":
        return None
    params = get_effect("fast-style").resolve(dict(step.params))
    if params.get("mask") is not None or float(params["strength"]) <= 0.0:
        return None
    return FastStyleStep(params)


class FastStyleRunner:
    """The fast-style network on whole frames and on boxes of them.

    `whole` gives what the effect gives (the batch path's one-layer document,
    its step, its flatten; exactly) and the instance-norm statistics it used;
    `boxes` gives the network's pixels in boxes of a frame under given
    statistics. Frames are (H, W, 3) uint8.
    """

    def __init__(self, step: FastStyleStep, device: str, box_halo: int | None = None) -> None:
        from warpaint.engine.features.fast_style.effect import (
            halo,
            load_generator,
            noise_origin,
            style_mix,
        )

        p = step.params
        self.gen, styles = load_generator(p.get("model"), device)
        self.mix = style_mix(styles, p["preset"], p["mix_with"], float(p["mix"]))
        self.origin = noise_origin(int(p["seed"]))
        self.strength = float(p["strength"])
        self.preserve_colours = bool(p["preserve_colours"])
        self.device = device
        # The whole pass's context; boxes may take less (`halo`).
        self.full_halo = halo(self.gen)
        self.halo = self.full_halo if box_halo is None else box_halo
        self._noise: tuple[tuple[int, int], NoiseInputs] | None = None

    def _tensor(self, frame: np.ndarray) -> torch.Tensor:
        import torch

        # As the document reads a uint8 layer (tiles.to_float).
        rgb = frame.astype(np.float32) * np.float32(1.0 / 255)
        return torch.from_numpy(rgb).to(self.device).permute(2, 0, 1)[None].contiguous()

    def _finish(self, out: torch.Tensor, content: torch.Tensor) -> np.ndarray:
        """The effect's steps after the network, then 8 bits as the document stores them."""
        from warpaint.engine.features.fast_style.effect import finish_stylized

        out = finish_stylized(out, content, self.strength, self.preserve_colours)
        rgb = out.clamp(0.0, 1.0)[0].permute(1, 2, 0).contiguous().cpu().numpy()
        return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)

    def _frame_noise(self, height: int, width: int) -> NoiseInputs:
        """The generator's noise planes for a whole frame, made once per size
        (they depend only on where each pixel is)."""
        if self._noise is None or self._noise[0] != (height, width):
            planes = self.gen.noise_inputs(height, width, [self.origin], self.device)
            self._noise = ((height, width), planes)
        return self._noise[1]

    def _forward(self, x: torch.Tensor, origin: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """The generator on `x`, a crop of the frame at `origin` (on the
        stride grid), reading its part of the frame's noise planes."""
        from warpaint.engine.features.fast_style.generator import NoiseInputs

        assert self._noise is not None
        pixel, coarse = self._noise[1]
        top, left = origin
        h, w = self.gen.padded_size(x.shape[-2], x.shape[-1])
        stride = self.gen.STRIDE
        noise = NoiseInputs(
            None if pixel is None else pixel[:, :, top : top + h, left : left + w],
            None
            if coarse is None
            else coarse[
                :, :, top // stride : (top + h) // stride, left // stride : (left + w) // stride
            ],
        )
        return self.gen(x, noise=noise)  # type: ignore[no-any-return]

    def whole(self, frame: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        """(the effect's (H, W, 3) uint8 result, the statistics it used)."""
        import torch

        from warpaint.engine.features.fast_style.effect import _GENERATOR_LOCK
        from warpaint.engine.neural.feedforward import tiled_forward

        content = self._tensor(frame)
        self._frame_noise(*frame.shape[:2])
        stats: list[Any] = []
        with torch.inference_mode(), _GENERATOR_LOCK:
            self.gen.set_style(torch.tensor(self.mix, dtype=torch.float32, device=self.device))
            out = tiled_forward(
                self.gen,
                self._forward,
                content,
                halo=self.full_halo,
                align=self.gen.STRIDE,
                with_origin=True,
                record=stats,
            )
            return self._finish(out, content), stats

    def boxes(self, frame: np.ndarray, stats: list[Any], boxes: list[Box]) -> list[np.ndarray]:
        """The network's (h, w, 3) uint8 pixels in each box of `frame`, each
        computed with the generator's halo of context under `stats`."""
        import torch

        from warpaint.engine.features.fast_style.effect import _GENERATOR_LOCK
        from warpaint.engine.neural.feedforward import frozen_statistics

        h, w = frame.shape[:2]
        stride = self.gen.STRIDE
        self._frame_noise(h, w)
        pieces = []
        with torch.inference_mode(), _GENERATOR_LOCK:
            self.gen.set_style(torch.tensor(self.mix, dtype=torch.float32, device=self.device))
            with frozen_statistics(self.gen, stats):
                for y0, x0, y1, x1 in boxes:
                    # Context on every side, starting on the stride grid as in
                    # a whole pass (the strided layers and the noise see the same grid).
                    cy0 = max(0, (y0 - self.halo) // stride * stride)
                    cx0 = max(0, (x0 - self.halo) // stride * stride)
                    cy1, cx1 = min(h, y1 + self.halo), min(w, x1 + self.halo)
                    crop = self._tensor(frame[cy0:cy1, cx0:cx1])
                    out = self._forward(crop, (cy0, cx0))
                    inner = (slice(None), slice(None), slice(y0 - cy0, y1 - cy0))
                    out = out[(*inner, slice(x0 - cx0, x1 - cx0))]
                    pieces.append(self._finish(out, crop[(*inner, slice(x0 - cx0, x1 - cx0))]))
        return pieces


def _tight(cells: np.ndarray, box: Box) -> Box | None:
    """`box` (in cells) shrunk to the marked cells inside it; None if none are."""
    y0, x0, y1, x1 = box
    part = cells[y0:y1, x0:x1]
    rows, cols = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
    if rows.size == 0:
        return None
    return y0 + int(rows[0]), x0 + int(cols[0]), y0 + int(rows[-1]) + 1, x0 + int(cols[-1]) + 1


def plan_boxes(need: np.ndarray, halo: int, cell: int = CELL) -> list[Box]:
    """Boxes (top, left, bottom, right in pixels) covering every pixel within
    `cell` px of a True pixel of `need` ((H, W) bool), chosen to keep the
    network's work small: a box costs its area grown by `halo` on every side
    (`boxes_cost`). Each connected group of cells gets a box, split in two
    where that costs less; boxes whose union costs less are merged."""
    import cv2

    h, w = need.shape
    gh, gw = -(-h // cell), -(-w // cell)
    padded = np.zeros((gh * cell, gw * cell), np.uint8)
    padded[:h, :w] = need
    cells = padded.reshape(gh, cell, gw, cell).max(axis=(1, 3))
    # One cell more on every side: the ramp around the repainted pixels lies inside.
    cells = cv2.dilate(cells, np.ones((3, 3), np.uint8))

    def cost(box: Box) -> int:
        y0, x0, y1, x1 = box
        ph = min(h, y1 * cell + halo) - max(0, y0 * cell - halo)
        pw = min(w, x1 * cell + halo) - max(0, x0 * cell - halo)
        return ph * pw

    def split(box: Box) -> list[Box]:
        y0, x0, y1, x1 = box
        if marked[y0:y1, x0:x1].mean() >= FILL:
            return [box]
        best: tuple[int, list[Box]] = (cost(box), [box])
        cuts = [((y0, x0, c, x1), (c, x0, y1, x1)) for c in range(y0 + 1, y1)]
        cuts += [((y0, x0, y1, c), (y0, c, y1, x1)) for c in range(x0 + 1, x1)]
        for a, b in cuts:
            parts = [t for t in (_tight(marked, a), _tight(marked, b)) if t is not None]
            total = sum(cost(t) for t in parts)
            if total < best[0]:
                best = (total, parts)
        if best[1] == [box]:
            return [box]
        return [piece for part in best[1] for piece in split(part)]

    count, labels, stats, _ = cv2.connectedComponentsWithStats(cells, connectivity=8)
    boxes: list[Box] = []
    for label in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[label, :4])
        marked = labels == label
        boxes += split((y, x, y + bh, x + bw))
    # Merge while a pair's union costs less than the two (their halos overlap).
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                if cost(union) <= cost(a) + cost(b):
                    boxes[i] = union
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [
        (y0 * cell, x0 * cell, min(h, y1 * cell), min(w, x1 * cell)) for y0, x0, y1, x1 in boxes
    ]


def boxes_cost(boxes: list[Box], halo: int, height: int, width: int) -> int:
    """The pixels the network reads for `boxes`, halos included."""
    total = 0
    for y0, x0, y1, x1 in boxes:
        total += (min(height, y1 + halo) - max(0, y0 - halo)) * (
            min(width, x1 + halo) - max(0, x0 - halo)
        )
    return total


def fresh_weight(need: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 on `need`'s True pixels (and 1 px around
    them), falling to 0 by 2 * `RAMP` - 1 px from them, inside the cells that
    `plan_boxes` covers."""
    import cv2

    size = 2 * RAMP + 1
    grown = cv2.dilate(need.astype(np.uint8), np.ones((size, size), np.uint8))
    return cv2.blur(grown.astype(np.float32), (size - 2, size - 2))  # type: ignore[no-any-return]


class Repainter:
    """Stable fast style, repainting only what cannot be carried.

    Call it with each frame in order and whether the frame must be a
    keyframe (the schedule is the caller's); `resume` goes on after a
    given frame, and the next frame is then a keyframe.
    """

    def __init__(self, runner: FastStyleRunner, stabilizer: Stabilizer) -> None:
        self.runner = runner
        self.stabilizer = stabilizer
        self._stats: list[Any] | None = None
        self.keyframes = 0
        self.repainted = 0.0  # share of a whole pass the last in-between frame cost

    def resume(self, content: np.ndarray, output: np.ndarray) -> None:
        """Go on after a frame whose content and stable output are given."""
        self.stabilizer.resume(content, output)
        self._stats = None

    def __call__(self, frame: np.ndarray, key: bool = False) -> np.ndarray:
        """The stable output of `frame` ((H, W, 3) uint8)."""
        motion = self.stabilizer.motion(frame)
        if not key and motion is not None and self._stats is not None:
            out = self._between(frame, motion, self._stats)
            if out is not None:
                return out
        stylized, self._stats = self.runner.whole(frame)
        self.keyframes += 1
        return self.stabilizer.apply(frame, stylized, motion)

    def _between(self, frame: np.ndarray, motion: Motion, stats: list[Any]) -> np.ndarray | None:
        """A frame between keyframes; None when repainting it would cost more
        than `MAX_REPAINT` of a whole pass."""
        h, w = frame.shape[:2]
        need = motion.mask < TRUSTED
        boxes = plan_boxes(need, self.runner.halo)
        share = boxes_cost(boxes, self.runner.halo, h, w) / (h * w)
        if share > MAX_REPAINT:
            return None
        self.repainted = share
        stylized = np.zeros_like(frame)
        for (y0, x0, y1, x1), piece in zip(
            boxes, self.runner.boxes(frame, stats, boxes), strict=True
        ):
            stylized[y0:y1, x0:x1] = piece
        # Bicubic: carried bilinearly frame after frame, the marks blur (docs/video.md).
        return self.stabilizer.apply(frame, stylized, motion, fresh_weight(need), cubic=True)
