"""Engine settings: defaults, overridable by environment variables.

The GUI stores user choices with QSettings and passes them in; the CLI takes
flags. Environment variables are the headless way to override defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    device: str = "auto"
    history_limit_bytes: int = 2 * 1024**3
    autosave_interval_s: float = 120.0
    preview_max_side: int = 1024

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            device=env.get("WARPAINT_DEVICE", cls.device),
            history_limit_bytes=int(
                float(env.get("WARPAINT_HISTORY_MB", cls.history_limit_bytes / 2**20)) * 2**20
            ),
            autosave_interval_s=float(env.get("WARPAINT_AUTOSAVE_S", cls.autosave_interval_s)),
            preview_max_side=int(env.get("WARPAINT_PREVIEW_MAX_SIDE", cls.preview_max_side)),
        )
