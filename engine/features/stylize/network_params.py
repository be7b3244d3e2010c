"""The loss-network parameters shared by the neural effects (torch-free metadata)."""

from __future__ import annotations

from warpaint.engine.neural.network_names import NETWORKS
from warpaint.engine.runtime.params import Param, ParamType


def network_params(default: str = "vgg19-random") -> tuple[Param, ...]:
    """network, network_file and seed, the same in every neural effect's panel."""
    return (
        Param(
            "network",
            "Loss network",
            ParamType.CHOICE,
            default=default,
            choices=NETWORKS,
            help="efficientnet-lite0 (ImageNet weights) is the fastest on a CPU and "
            "judged closest to the style; the slim random network is about 3x "
            "faster than the full one, judged alike, and needs no package.",
        ),
        Param(
            "network_file",
            "Network weights file",
            ParamType.FILE,
            default=None,
            help="torchvision's vgg19-dcbb9e9d.pth for the 'vgg19' network, or "
            "efficientnet-lite0-57934424.pth for 'efficientnet-lite0' "
            "(default: the file from its package).",
        ),
        Param("seed", "Seed", ParamType.INTEGER, default=0, min=0, max=2**31 - 1, random_seed=True),
    )
