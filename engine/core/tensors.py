"""Conversions between the engine's numpy images and effect tensors.

Engine images are (H, W, C) float32 numpy arrays in [0, 1]; effects work on
(N, C, H, W) float32 tensors. These are the only conversions, used at the edge
of every effect run.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(image: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """(H, W, C) float32 array -> (1, C, H, W) float32 tensor on `device`."""
    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {image.shape}")
    # Move first, then reorder on the device: the (H, W, C) -> (C, H, W)
    # copy is the costly part on big images and is far cheaper on a GPU.
    array = np.ascontiguousarray(image, dtype=np.float32)
    return torch.from_numpy(array).to(device).permute(2, 0, 1)[None].contiguous()


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) tensor -> (H, W, C) float32 array on the CPU."""
    if tensor.ndim != 4 or tensor.shape[0] != 1:
        raise ValueError(f"expected a (1, C, H, W) tensor, got shape {tuple(tensor.shape)}")
    return tensor[0].detach().float().permute(1, 2, 0).contiguous().cpu().numpy()


def premultiply(rgba: torch.Tensor) -> torch.Tensor:
    """(N, 4, H, W) straight alpha -> premultiplied."""
    return torch.cat([rgba[:, :3] * rgba[:, 3:4], rgba[:, 3:4]], dim=1)


def unpremultiply(rgba: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(N, 4, H, W) premultiplied -> straight alpha (colour 0 where alpha is 0)."""
    alpha = rgba[:, 3:4]
    colour = torch.where(
        alpha > eps, rgba[:, :3] / alpha.clamp_min(eps), torch.zeros_like(rgba[:, :3])
    )
    return torch.cat([colour.clamp(0.0, 1.0), alpha], dim=1)
