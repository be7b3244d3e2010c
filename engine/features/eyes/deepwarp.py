"""DeepWarp gaze redirection (Ganin, Kononenko, Sungatullina, Lempitsky, ECCV 2016).

The network never paints an eye: it predicts where each output pixel should be
read from in the input crop (a backward flow), coarse to fine, and may then
lighten a pixel toward a palette colour (white) to show eye white that the
warp uncovered. Inputs are an eye crop in the canonical frame of
`warpaint.engine.features.eyes.align` (CROP_SIZE), landmark anchor maps and the
redirection angle; everything is differentiable so it trains on rendered pairs
with an L2 loss plus flow smoothness.

Conventions: images (N, 3, H, W) float32 in [0, 1]; landmarks (N, L, 2) as
(x, y) crop pixel coordinates (pixel centres at integers); angles (N, 2) as
(dyaw, dpitch) in degrees in the crop frame (+yaw turns the iris toward crop
right, +pitch looks up); flows (N, 2, H, W) in pixels, (dx, dy), with
output(p) = input(p + flow(p)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Mapping

CROP_SIZE = (48, 64)  # (H, W) of the canonical crop; even, so the coarse stage halves exactly
FORMAT = 1
KIND = "gaze"
# Angles enter the embedding scaled to about [-1, 1] for the trained range.
ANGLE_SCALE = 20.0
# tanh bounds of the flows, in full-resolution pixels: the coarse flow must
# carry a whole iris shift at the largest redirection, the residual only
# refines it.
COARSE_FLOW_PX = 14.0
FINE_FLOW_PX = 4.0
PALETTE = (1.0, 1.0, 1.0)


def anchor_maps(landmarks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, L, 2) landmarks -> (N, 2L, H, W) offset maps.

    Channel 2l holds (x - x_l) / W and channel 2l + 1 holds (y - y_l) / H at
    every pixel: each map tells a convolution where it is relative to one
    landmark, which the small receptive field could not see otherwise.
    """
    if landmarks.ndim != 3 or landmarks.shape[2] != 2:
        raise ValueError(f"landmarks must be (N, L, 2), got {tuple(landmarks.shape)}")
    h, w = size
    n, count, _ = landmarks.shape
    ys = torch.arange(h, dtype=landmarks.dtype, device=landmarks.device)
    xs = torch.arange(w, dtype=landmarks.dtype, device=landmarks.device)
    dx = (xs.view(1, 1, 1, w) - landmarks[..., 0].view(n, count, 1, 1)) / w
    dy = (ys.view(1, 1, h, 1) - landmarks[..., 1].view(n, count, 1, 1)) / h
    maps = torch.stack([dx.expand(n, count, h, w), dy.expand(n, count, h, w)], dim=2)
    return maps.reshape(n, 2 * count, h, w)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear backward warp: (N, C, H, W) image, (N, 2, H, W) pixel flow.

    output(x, y) = image(x + dx, y + dy); samples outside repeat the border.
    With align_corners=False, pixel centre i sits at (2 i + 1) / size - 1 in
    grid_sample's [-1, 1] coordinates.
    """
    n, _, h, w = image.shape
    if flow.shape != (n, 2, h, w):
        raise ValueError(f"flow must be {(n, 2, h, w)}, got {tuple(flow.shape)}")
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    gx = (2.0 * (xs + flow[:, 0]) + 1.0) / w - 1.0
    gy = (2.0 * (ys + flow[:, 1]) + 1.0) / h - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def flow_tv(flow: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring flow vectors (scalar): the smoothness term."""
    return (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean() + (
        flow[..., :, 1:] - flow[..., :, :-1]
    ).abs().mean()


def _stage(in_channels: int, out_channels: int, width: int) -> nn.Sequential:
    # The reimplementations' per-stage stack: 5x5/16, 3x3/32, 3x3/32, 1x1/32,
    # then a 1x1 head. A dilated 3x3 widens the receptive field to the whole
    # iris at no cost in parameters.
    return nn.Sequential(
        nn.Conv2d(in_channels, width // 2, 5, padding=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(width // 2, width, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, padding=2, dilation=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, out_channels, 1),
    )


class DeepWarp(nn.Module):
    """Coarse-to-fine flow with a lightness correction module.

    `forward(image, landmarks, angle)` -> dict with "output" (N, 3, H, W),
    "flow" (N, 2, H, W) (the final flow), "coarse_flow" (N, 2, H, W) and
    "lightness" (N, 1, H, W) (the palette's weight).
    """

    def __init__(self, landmarks: int = 2, width: int = 32, embed: int = 16) -> None:
        super().__init__()
        self.landmarks = landmarks
        self.width = width
        self.embed_units = embed
        self.embed = nn.Sequential(
            nn.Linear(2, embed), nn.ReLU(inplace=True), nn.Linear(embed, embed), nn.ReLU()
        )
        base = 3 + 2 * landmarks + embed
        self.coarse = _stage(base, 2, width)
        # The fine stage also sees the coarse warp and its flow; it predicts a
        # residual flow and two lightness logits (keep the pixel / palette).
        self.fine = _stage(base + 3 + 2, 4, width)
        with torch.no_grad():
            for stage in (self.coarse, self.fine):
                head = stage[-1]
                assert isinstance(head, nn.Conv2d) and head.bias is not None
                head.weight.mul_(0.1)
                head.bias.zero_()
                if stage is self.fine:
                    # Start by keeping pixels: the palette logit begins far below.
                    head.bias[3:4].fill_(-4.0)

    def config(self) -> dict[str, int]:
        return {"landmarks": self.landmarks, "width": self.width, "embed": self.embed_units}

    def forward(
        self, image: torch.Tensor, landmarks: torch.Tensor, angle: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        n, c, h, w = image.shape
        if c != 3 or h % 2 or w % 2:
            raise ValueError(f"image must be (N, 3, even H, even W), got {tuple(image.shape)}")
        if landmarks.shape != (n, self.landmarks, 2) or angle.shape != (n, 2):
            raise ValueError(
                f"expected landmarks {(n, self.landmarks, 2)} and angle {(n, 2)}, got "
                f"{tuple(landmarks.shape)} and {tuple(angle.shape)}"
            )
        code = self.embed(angle / ANGLE_SCALE)[..., None, None]
        anchors = anchor_maps(landmarks, (h, w))
        half = (h // 2, w // 2)
        small = F.avg_pool2d(image, 2)
        coarse_in = torch.cat(
            [small, anchor_maps(landmarks / 2.0, half), code.expand(-1, -1, *half)], 1
        )
        # Coarse flow in full-resolution pixels, upsampled (values are already
        # full-resolution displacements, so no rescaling after interpolation).
        coarse = COARSE_FLOW_PX * torch.tanh(self.coarse(coarse_in))
        coarse = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
        warped = warp(image, coarse)
        fine_in = torch.cat(
            [image, anchors, code.expand(-1, -1, h, w), warped, coarse / COARSE_FLOW_PX], 1
        )
        head = self.fine(fine_in)
        flow = coarse + FINE_FLOW_PX * torch.tanh(head[:, :2])
        mix = torch.softmax(head[:, 2:4], dim=1)
        palette = torch.tensor(PALETTE, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        output = warp(image, flow) * mix[:, :1] + palette * mix[:, 1:2]
        return {"output": output, "flow": flow, "coarse_flow": coarse, "lightness": mix[:, 1:2]}


def loss_terms(
    model: DeepWarp,
    image: torch.Tensor,
    landmarks: torch.Tensor,
    angle: torch.Tensor,
    target: torch.Tensor,
    tv_weight: float = 0.01,
) -> dict[str, torch.Tensor]:
    """{"loss", "l2", "tv"}: the training objective, L2 to the target plus flow TV."""
    out = model(image, landmarks, angle)
    l2 = F.mse_loss(out["output"], target)
    tv = flow_tv(out["flow"])
    return {"loss": l2 + tv_weight * tv, "l2": l2, "tv": tv}


def model_meta(model: DeepWarp, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata stored in a gaze model file (see models.save_model)."""
    meta: dict[str, Any] = {
        "kind": KIND,
        "format": FORMAT,
        "crop": list(CROP_SIZE),
        **model.config(),
    }
    if extra:
        meta.update(extra)
    return meta


# Sizes a model file may ask for (the shipped model: 2 landmarks, width 32, embed 16).
SIZE_BOUNDS = {"landmarks": (1, 64), "width": (1, 1024), "embed": (1, 1024)}


def model_from_file(path: str, device: str | torch.device = "cpu") -> DeepWarp:
    """A DeepWarp in eval mode from a model file; BadInputError on a foreign file."""
    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import build_within_file, load_model

    tensors, meta = load_model(path, KIND, SIZE_BOUNDS, sizes_at=None)
    if meta.get("format") != FORMAT or list(meta.get("crop", [])) != list(CROP_SIZE):
        raise BadInputError(f"{path}: a gaze model of another format or crop size")
    try:
        model = build_within_file(
            lambda: DeepWarp(
                landmarks=int(meta["landmarks"]),  # type: ignore[call-overload]
                width=int(meta["width"]),  # type: ignore[call-overload]
                embed=int(meta["embed"]),  # type: ignore[call-overload]
            ),
            tensors,
        )
        model.load_state_dict(tensors)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else "mismatch"
        raise BadInputError(f"{path}: gaze weights do not fit the network ({first})") from None
    return model.to(device).eval()
