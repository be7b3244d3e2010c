"""Softmax transformation of feature maps before their Gram matrices.

Wang et al. (CVPR 2021, "Rethinking and Improving the Robustness of Image
Style Transfer", SWAG): the activations of networks other than VGG are
dominated by a few large peaks, so their Gram matrices describe the peaks
and not the texture; a softmax with a temperature before the Gram smooths
the peaks away and lets such networks transfer style as VGG does. This is
our own version, applicable to any loss network:

- `over="channels"`: at each position, a softmax over the channels (which
  feature is present here, whatever its magnitude);
- `over="positions"`: for each channel, a softmax over the positions (where
  the feature fires, as a distribution over the image).

Each is scaled by the count it was normalised over, so a map's mean stays 1
whatever the number of channels or the image size, and styles of another
size give comparable Gram matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads when a transformation runs: listing effects needs none
    import torch

OVER = ("channels", "positions")


def softmax_features(features: torch.Tensor, temperature: float, over: str) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, h, w): softmax(features / temperature) over
    `over` ('channels' or 'positions'), times C or h*w (mean 1). Smooth, so
    gradients reach every activation."""
    import torch

    if features.ndim != 4:
        raise ValueError(f"features must be (N, C, h, w), got {tuple(features.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n, c, h, w = features.shape
    if over == "channels":
        return torch.softmax(features / temperature, dim=1) * c
    if over == "positions":
        flat = torch.softmax(features.reshape(n, c, h * w) / temperature, dim=2)
        return (flat * (h * w)).reshape(n, c, h, w)
    raise ValueError(f"unknown softmax axis {over!r} (choose from {', '.join(OVER)})")


@dataclass(frozen=True)
class SoftmaxTransform:
    """`softmax_features` with fixed settings, as a callable on feature maps."""

    temperature: float = 1.0
    over: str = "channels"

    def __post_init__(self) -> None:
        if self.over not in OVER:
            raise ValueError(f"unknown softmax axis {self.over!r} (choose from {', '.join(OVER)})")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, C, h, w)."""
        return softmax_features(features, self.temperature, self.over)
