"""Losses and colour tools shared by the neural-optimisation effects.

Functional, torch only, no module state. Feature maps are (N, C, h, w);
images (N, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

# Rec. 601 luma and the YIQ chroma axes (Gatys et al. 2016 transfer luminance in YIQ).
_RGB_TO_YIQ = (
    (0.299, 0.587, 0.114),
    (0.595716, -0.274453, -0.321263),
    (0.211456, -0.522591, 0.311135),
)


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, C) Gram matrix divided by the number of positions h*w."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def gram_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared Gram difference divided by the target Gram's mean square (scale-free)."""
    return (gram(features) - target).square().mean() / target.square().mean().clamp_min(1e-12)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared feature difference divided by the target's mean square, each
    sample's own, averaged over the batch: (N, C, h, w) twice -> scalar.

    Per sample, so that a batch's loss is the mean of its samples' losses
    (`engine.neural.sample_split` computes them one by one) and an image's
    term never depends on the others in its batch."""
    dims = tuple(range(1, features.dim()))
    sq = (features - target).square().mean(dims)
    return (sq / target.square().mean(dims).clamp_min(1e-12)).mean()


def tv_beta(image: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Mahendran & Vedaldi's total variation: mean of (dx^2 + dy^2)^(beta/2)."""
    dx = image[..., :-1, 1:] - image[..., :-1, :-1]
    dy = image[..., 1:, :-1] - image[..., :-1, :-1]
    return (dx.square() + dy.square() + 1e-8).pow(beta / 2).mean()


def rgb_to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    m = torch.tensor(_RGB_TO_YIQ, dtype=rgb.dtype, device=rgb.device)
    return torch.einsum("ij,njhw->nihw", m, rgb)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    m = torch.linalg.inv(torch.tensor(_RGB_TO_YIQ, dtype=torch.float64)).to(yiq)
    return torch.einsum("ij,njhw->nihw", m, yiq)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) Rec. 601 luma."""
    return rgb_to_yiq(rgb)[:, :1]


def with_chroma_of(luma_rgb: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """The luminance of `luma_rgb` with the chroma (I, Q) of `colour`, same size."""
    yiq = rgb_to_yiq(colour)
    yiq = torch.cat([luminance(luma_rgb), yiq[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0.0, 1.0)


def match_luminance(style_luma: torch.Tensor, content_luma: torch.Tensor) -> torch.Tensor:
    """Style luminance shifted and scaled to the content's mean and std."""
    s_mean, s_std = style_luma.mean(), style_luma.std().clamp_min(1e-6)
    return ((style_luma - s_mean) / s_std * content_luma.std() + content_luma.mean()).clamp(0, 1)


def match_colour_statistics(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`source` (N, 3, H, W) with its colour mean and covariance set to `reference`'s.

    The linear map uses symmetric matrix square roots (Gatys et al. 2016,
    'colour histogram matching'), so the result keeps the source's structure.
    """

    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(3, -1).double()
        mean = flat.mean(1, keepdim=True)
        centred = flat - mean
        cov = centred @ centred.T / flat.shape[1] + 1e-5 * torch.eye(3, dtype=flat.dtype)
        return mean, cov

    def sqrtm(m: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(m)
        vals = vals.clamp_min(1e-8).sqrt()
        if inverse:
            vals = 1.0 / vals
        return vecs @ torch.diag(vals) @ vecs.T

    if source.shape[0] != 1 or reference.shape[0] != 1:
        raise ValueError("colour matching takes one image at a time")
    s_mean, s_cov = stats(source.cpu())
    r_mean, r_cov = stats(reference.cpu())
    transform = sqrtm(r_cov) @ sqrtm(s_cov, inverse=True)
    flat = source.reshape(3, -1).double().cpu()
    out = transform @ (flat - s_mean) + r_mean
    return out.reshape(source.shape).to(source).clamp(0.0, 1.0)


def resize_to_side(image: torch.Tensor, side: int) -> torch.Tensor:
    """(N, C, H, W) resized (antialiased) so its longer side is `side`."""
    h, w = image.shape[-2:]
    scale = side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
