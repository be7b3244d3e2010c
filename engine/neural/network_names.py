"""The loss networks' ids, torch-free so that effect metadata can name them."""

from __future__ import annotations

NETWORKS: tuple[str, ...] = ("vgg19-random", "vgg19-random-slim", "vgg19", "efficientnet-lite0")
DEFAULT_NETWORK = "vgg19-random"
