"""The effect registry: every `effect.py` and `effect_*.py` module of the feature
packages under `warpaint.engine.features` (found by `runtime.features`).

Each effect module defines `SPEC` (an `EffectSpec`) and `run(ctx, image,
params)`, and imports torch only inside `run` (or modules it imports there),
so listing effects and building panels never pays for importing torch. A
module may also define `extra_params(params) -> list[Param]` to add
parameters that depend on other values (e.g. one slider per attribute of a
loaded model), and two hooks the GUI runs off its thread:

- `prefill(image) -> dict[str, Any]`: values found in the layer itself (an
  (H, W, 4) float32 array), e.g. detected eye points; the panel takes them for
  parameters the user has not set.
- `thumbnail(param, choice, side) -> np.ndarray | None`: a picture of one
  choice of a `gallery` CHOICE parameter (e.g. a style preset rendering a
  sample), (h, w, 3 or 4) float32 in [0, 1] fitting side x side.

One hook serves previews: `region(params, width, height) -> (x, y, w, h) |
None`, the only part of a width x height layer the effect can change with
these (resolved) values; a preview then computes just that patch at full
resolution (see `apply.effect_job`). None means the whole layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from warpaint.engine.runtime.errors import BadInputError, UnknownEffectError
from warpaint.engine.runtime.features import feature_modules
from warpaint.engine.runtime.params import Param

HOOKS = ("prefill", "thumbnail", "region")


@dataclass(frozen=True)
class EffectSpec:
    id: str
    title: str
    params: tuple[Param, ...]
    description: str = ""
    category: str = "Filters"
    # Halo in pixels (at scale 1) a tile needs to be computed exactly, or
    # None when the effect cannot run tile by tile.
    tile_halo: int | None = None
    # Long effects (optimisations) run on the long-job lane even for previews.
    long: bool = False
    # Its defaults already make a useful result (a preset, a blur), so the
    # GUI previews it as soon as its panel opens; others wait for an edit (their
    # defaults are incomplete, or the preview is a long optimisation).
    preview_on_open: bool = False
    module: str = field(default="", compare=False)

    def param(self, name: str) -> Param:
        for p in self.all_params({}):
            if p.name == name:
                return p
        raise BadInputError(f"{self.id} has no parameter {name!r}")

    def all_params(self, values: Mapping[str, Any]) -> tuple[Param, ...]:
        """Declared parameters plus those the module derives from `values`."""
        hook: Callable[[Mapping[str, Any]], list[Param]] | None = getattr(
            self._module(), "extra_params", None
        )
        return self.params + tuple(hook(values)) if hook else self.params

    def hook(self, name: str) -> Callable[..., Any] | None:
        """The module's optional `prefill`, `thumbnail` or `region` function, or None."""
        if name not in HOOKS:
            raise ValueError(f"unknown effect hook {name!r}")
        if not self.module:
            return None
        found = getattr(self._module(), name, None)
        return found if callable(found) else None

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolve(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in and every given value validated."""
        params = {p.name: p for p in self.all_params(values)}
        unknown = set(values) - set(params)
        if unknown:
            raise BadInputError(f"{self.id} has no parameter {sorted(unknown)[0]!r}")
        out = {name: p.default for name, p in params.items()}
        for name, value in values.items():
            out[name] = params[name].validate(value)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "params": [p.to_json() for p in self.all_params({})],
        }

    def runner(self) -> Callable[..., Any]:
        return self._module().run  # type: ignore[no-any-return]

    def _module(self) -> ModuleType:
        return importlib.import_module(self.module)


@cache
def effects() -> dict[str, EffectSpec]:
    """All registered effects by id, in a stable order (category, title)."""
    found: list[EffectSpec] = []
    for module in feature_modules("effect"):
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, EffectSpec):
            found.append(_with_module(spec, module.__name__))
    found.sort(key=lambda s: (s.category, s.title))
    ids = [s.id for s in found]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"duplicate effect ids in {ids}")
    return {s.id: s for s in found}


def get_effect(effect_id: str) -> EffectSpec:
    try:
        return effects()[effect_id]
    except KeyError:
        known = ", ".join(effects())
        raise UnknownEffectError(f"unknown effect {effect_id!r} (known: {known})") from None


def _with_module(spec: EffectSpec, module: str) -> EffectSpec:
    from dataclasses import replace

    return replace(spec, module=module)
