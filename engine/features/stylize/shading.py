"""The content photo's light and shade, put back under a stylized result.

A Gatys result keeps the photo's edges but lets the style repaint its broad
luminance: a night sky or a flat grey wall comes back in the style's bright
colours, and the subject loses the light and shade a viewer recognises it
by. `restore_shading` moves the result's low-frequency luminance (a Gaussian
low pass) part of the way to the photo's and keeps the result's detail above
that scale and its chroma (YIQ), so the style's marks and colours stay.
"""

from __future__ import annotations

import torch

from warpaint.engine.features.blur.effect import gaussian_blur
from warpaint.engine.neural.style_losses import rgb_to_yiq, yiq_to_rgb


def restore_shading(
    result: torch.Tensor, content: torch.Tensor, amount: float, sigma: float
) -> torch.Tensor:
    """`result` (N, 3, H, W) in [0, 1] with its luminance below the scale
    `sigma` (px, the Gaussian low pass) moved `amount` (0: unchanged, 1: the
    content's) of the way to `content`'s, resized to `result`'s size first;
    chroma and the detail above `sigma` kept. Returns (N, 3, H, W) in [0, 1]."""
    if result.ndim != 4 or result.shape[1] != 3:
        raise ValueError(f"result must be (N, 3, H, W), got {tuple(result.shape)}")
    if content.ndim != 4 or content.shape[1] != 3:
        raise ValueError(f"content must be (N, 3, H, W), got {tuple(content.shape)}")
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be in [0, 1], got {amount}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if amount == 0.0:
        return result.clone()
    content = content.to(result.device, result.dtype)
    if content.shape[-2:] != result.shape[-2:]:
        content = torch.nn.functional.interpolate(
            content, size=result.shape[-2:], mode="bilinear", align_corners=False, antialias=True
        )
    yiq = rgb_to_yiq(result)
    luma = yiq[:, :1]
    shift = gaussian_blur(rgb_to_yiq(content)[:, :1] - luma, sigma)
    return yiq_to_rgb(torch.cat([luma + amount * shift, yiq[:, 1:]], dim=1)).clamp(0.0, 1.0)
