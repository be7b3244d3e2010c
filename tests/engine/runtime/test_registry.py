import subprocess
import sys
import types

import pytest

from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import (
    Effect,
    EffectModuleError,
    EffectSpec,
    check_effect_module,
    effects,
)


def _module(**members):
    module = types.ModuleType("warpaint.engine.features.made_up.effect")
    spec = EffectSpec("made-up", "Made up", (Param("x", "X", ParamType.NUMBER, 0.5, 0.0, 1.0),))
    module.SPEC = spec
    module.run = lambda ctx, image, params: image
    for name, value in members.items():
        setattr(module, name, value)
    return module


def test_a_module_with_spec_run_and_known_hooks_is_an_effect():
    module = _module(region=lambda params, w, h: None, DEMO_PARAMS={"x": 1.0}, helper=print)
    assert isinstance(check_effect_module(module), Effect)


@pytest.mark.parametrize("misspelt", ["regoin", "extra_param", "demo_output", "DEMO_PARAM"])
def test_a_misspelt_hook_fails_at_load_naming_the_module(misspelt):
    with pytest.raises(EffectModuleError, match=f"made_up.effect: '{misspelt}' is not"):
        check_effect_module(_module(**{misspelt: lambda *a: None}))


def test_a_module_without_run_fails_at_load_naming_the_module():
    module = _module()
    del module.run
    with pytest.raises(EffectModuleError, match="made_up.effect: run is missing"):
        check_effect_module(module)


def test_a_module_without_spec_fails_at_load():
    module = _module()
    module.SPEC = None
    with pytest.raises(EffectModuleError, match="SPEC is missing"):
        check_effect_module(module)


def test_a_hook_that_is_not_a_function_fails_at_load():
    with pytest.raises(EffectModuleError, match="prefill is missing or not a function"):
        check_effect_module(_module(prefill={"eyes": ()}))


def test_every_shipped_effect_module_keeps_the_contract_and_is_listed():
    assert set(effects()) == {
        "splining", "mosaic", "gaussian-blur", "arbitrary-style", "attributes",
        "fast-style", "inversion", "stylize", "texture", "gaze",
    }  # fmt: skip


def test_listing_effects_opens_no_model_file():
    # An audit hook sees every open(); listing must not read weights or headers.
    code = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda e, a: opened.append(str(a[0])) if e == 'open' else None)\n"
        "from warpaint.engine.runtime.registry import effects\n"
        "effects()\n"
        "print([p for p in opened if p.endswith('.safetensors')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
