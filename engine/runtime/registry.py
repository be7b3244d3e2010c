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

For `warpaint demo`: `DEMO_PARAMS` (and `DEMO_PARAMS_QUICK` for `--quick`),
the values the demo applies, and `demo_outputs(image, out_dir, quick) ->
list[Path]`, extra pictures the effect writes of the sample (a sheet of presets).

`Effect` is this contract as a type; `check_effect_module` holds every effect
module to it when the registry loads them, so a missing `run` or a misspelt
hook is an error naming the module, not a hook silently never called.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from warpaint.engine.runtime.errors import BadInputError, UnknownEffectError
from warpaint.engine.runtime.features import feature_modules
from warpaint.engine.runtime.models import ModelFile
from warpaint.engine.runtime.params import Param

if TYPE_CHECKING:
    import numpy as np

    from warpaint.engine.runtime.jobs import JobContext

HOOKS = ("prefill", "thumbnail", "region", "demo_outputs")
# Every name the registry, the GUI or the demo reads from an effect module.
REQUIRED = ("SPEC", "run")
OPTIONAL = ("extra_params", *HOOKS, "DEMO_PARAMS", "DEMO_PARAMS_QUICK")
# A module-level name this close to a known one is taken for a misspelling.
_MISSPELT = 0.8


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
    # The model file the effect needs by default; without it the effect is
    # listed as unavailable, with the reason and the command that makes it.
    model: ModelFile | None = field(default=None, compare=False)
    module: str = field(default="", compare=False)

    def unavailable_reason(self) -> str | None:
        """Why the effect cannot run now (its model is missing), else None."""
        if self.model is None or self.model.locate() is not None:
            return None
        return self.model.missing_reason()

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
        """The module's optional hook (one of `HOOKS`) as a function, or None."""
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
        reason = self.unavailable_reason()
        return {
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "available": reason is None,
            "reason": reason,
            "params": [p.to_json() for p in self.all_params({})],
        }

    def runner(self) -> Callable[..., Any]:
        return self._module().run  # type: ignore[no-any-return]

    def _module(self) -> ModuleType:
        return importlib.import_module(self.module)


@runtime_checkable
class Effect(Protocol):
    """What an effect module provides: `SPEC` and `run` always; the optional
    hooks (`OPTIONAL`) are typed here for reference, and looked up by name."""

    SPEC: EffectSpec

    def run(self, ctx: JobContext, image: Any, params: dict[str, Any]) -> Any: ...


class EffectHooks(Protocol):
    """The optional hooks' signatures (see the module docstring)."""

    def extra_params(self, values: Mapping[str, Any]) -> list[Param]: ...

    def prefill(self, image: np.ndarray) -> dict[str, Any]: ...

    def thumbnail(self, param: str, choice: str, side: int) -> np.ndarray | None: ...

    def region(
        self, params: dict[str, Any], width: int, height: int
    ) -> tuple[int, int, int, int] | None: ...

    def demo_outputs(self, image: np.ndarray, out_dir: Path, quick: bool) -> list[Path]: ...


class EffectModuleError(RuntimeError):
    """An effect module breaks the `Effect` contract (a programming error)."""


def check_effect_module(module: ModuleType) -> Effect:
    """`module` as an `Effect`, or `EffectModuleError` naming the module and
    what is wrong: a missing `SPEC` or `run`, a hook that is not callable, or
    a module-level name that looks like a misspelt hook (`regoin`)."""
    name = module.__name__
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, EffectSpec):
        raise EffectModuleError(f"{name}: SPEC is missing or not an EffectSpec")
    for member in ("run", "extra_params", *HOOKS):
        value = getattr(module, member, None)
        if (member == "run" or value is not None) and not callable(value):
            raise EffectModuleError(f"{name}: {member} is missing or not a function")
    known = (*REQUIRED, *OPTIONAL)
    for attr in vars(module):
        if attr in known or attr.startswith("__"):
            continue
        near = difflib.get_close_matches(attr, known, n=1, cutoff=_MISSPELT)
        if near:
            raise EffectModuleError(
                f"{name}: {attr!r} is not an effect hook (did you mean {near[0]!r}?)"
            )
    if not isinstance(module, Effect):
        raise EffectModuleError(f"{name}: does not provide SPEC and run")
    return module


@cache
def effects() -> dict[str, EffectSpec]:
    """All registered effects by id, in a stable order (category, title)."""
    found: list[EffectSpec] = []
    for module in feature_modules("effect"):
        effect = check_effect_module(module)
        found.append(_with_module(effect.SPEC, module.__name__))
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
