"""Parameter metadata and the registry: readable without torch, parsed and validated."""

import json
import subprocess
import sys

import pytest

from warpaint.engine.runtime.errors import BadInputError, UnknownEffectError
from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import effects, get_effect


def test_listing_effects_and_their_metadata_does_not_import_torch():
    code = (
        "import sys, json\n"
        "from warpaint.engine.runtime.registry import effects\n"
        "specs = effects()\n"
        "print(json.dumps({k: s.to_json() for k, s in specs.items()}))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    listing, torch_loaded = out.stdout.strip().splitlines()
    assert "gaussian-blur" in json.loads(listing)
    assert torch_loaded == "False"


def test_metadata_json_has_the_documented_fields():
    blur = get_effect("gaussian-blur").to_json()
    assert blur["title"] == "Gaussian blur"
    (sigma,) = blur["params"]
    assert set(sigma) == {"name", "label", "type", "default", "min", "max", "step", "choices"}
    assert sigma["type"] == "number" and sigma["min"] == 0.0 and sigma["default"] == 3.0


def test_every_registered_effect_declares_valid_defaults():
    for spec in effects().values():
        resolved = spec.resolve({})
        # Derived parameters (a model's sliders) get their defaults too.
        assert set(resolved) == {p.name for p in spec.all_params({})}


def test_unknown_effect_names_the_known_ones():
    with pytest.raises(UnknownEffectError, match="gaussian-blur"):
        get_effect("no-such-effect")


@pytest.mark.parametrize(
    ("ptype", "text", "value"),
    [
        (ParamType.NUMBER, "2.5", 2.5),
        (ParamType.INTEGER, "7", 7),
        (ParamType.BOOL, "yes", True),
        (ParamType.BOOL, "off", False),
        (ParamType.POINTS, "10,20;30.5,40", ((10.0, 20.0), (30.5, 40.0))),
        (ParamType.POINTS, "10,20,30.5,40", ((10.0, 20.0), (30.5, 40.0))),
        (ParamType.RECT, "1,2,30,40", (1.0, 2.0, 30.0, 40.0)),
        (ParamType.IMAGES, "a.png:0.25,b.png", (("a.png", 0.25), ("b.png", 1.0))),
        (ParamType.FILE, "model.safetensors", "model.safetensors"),
    ],
)
def test_command_line_values_parse_by_type(ptype, text, value):
    param = Param("p", "P", ptype, default=None)
    assert param.parse(text) == value


@pytest.mark.parametrize(
    ("param", "text", "reason"),
    [
        (Param("n", "N", ParamType.NUMBER, 1.0, 0.0, 10.0), "11", "outside 0..10"),
        (Param("n", "N", ParamType.NUMBER, 1.0, 0.0, 10.0), "abc", "cannot read"),
        (Param("s", "S", ParamType.INTEGER, 0, 0, 2**31 - 1), "-1", "outside 0..2147483647$"),
        (Param("i", "I", ParamType.INTEGER, 1), "1.5", "cannot read"),
        (Param("b", "B", ParamType.BOOL, True), "maybe", "cannot read"),
        (Param("c", "C", ParamType.CHOICE, "a", choices=("a", "b")), "z", "not one of a, b"),
        (Param("p", "P", ParamType.POINTS), "1,2,3", "cannot read"),
    ],
)
def test_bad_values_are_clear_errors(param, text, reason):
    with pytest.raises(BadInputError, match=reason):
        param.parse(text)


def test_resolve_rejects_unknown_parameter_names():
    with pytest.raises(BadInputError, match="no parameter 'radius'"):
        get_effect("gaussian-blur").resolve({"radius": 3})


def test_param_names_must_be_snake_case_and_choices_hold_the_default():
    with pytest.raises(ValueError):
        Param("Bad-Name", "x", ParamType.NUMBER)
    with pytest.raises(ValueError):
        Param("mode", "x", ParamType.CHOICE, default="c", choices=("a", "b"))


# A model-backed effect adds one slider per attribute through the module hook.
def extra_params(values):
    # Stands for reading the attribute names stored in a model file.
    names = [n for n in str(values.get("model", "")).split("+") if n]
    return [Param(n, n.title(), ParamType.NUMBER, 0.0, -1.0, 1.0) for n in names]


def test_an_effect_module_can_derive_parameters_from_other_values():
    from warpaint.engine.runtime.registry import EffectSpec

    spec = EffectSpec(
        id="sliders",
        title="Sliders",
        params=(Param("model", "Model", ParamType.FILE, ""),),
        module=__name__,
    )
    derived = spec.all_params({"model": "smile+age"})
    assert [p.name for p in derived] == ["model", "smile", "age"]
    resolved = spec.resolve({"model": "smile+age", "smile": 0.5})
    assert resolved == {"model": "smile+age", "smile": 0.5, "age": 0.0}
    with pytest.raises(BadInputError, match="outside"):
        spec.resolve({"model": "smile", "smile": 3.0})


# -- non-finite numbers ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "-nan", "infinity"])
def test_non_finite_numbers_are_refused_even_without_bounds(text):
    bounded = Param("sigma", "Sigma", ParamType.NUMBER, default=1.0, min=0.0, max=50.0)
    unbounded = Param("gain", "Gain", ParamType.NUMBER, default=1.0)
    for param in (bounded, unbounded):
        with pytest.raises(BadInputError, match="finite"):
            param.parse(text)
        with pytest.raises(BadInputError, match="finite"):
            param.validate(float(text))


@pytest.mark.parametrize(
    ("ptype", "text"),
    [
        (ParamType.IMAGES, "a.png:nan"),
        (ParamType.IMAGES, "a.png:1,b.png:inf"),
        (ParamType.POINTS, "1,2,nan,4"),
        (ParamType.RECT, "0,0,inf,5"),
    ],
)
def test_non_finite_numbers_inside_lists_are_refused(ptype, text):
    param = Param("value", "Value", ptype)
    with pytest.raises(BadInputError, match="finite"):
        param.parse(text)


def test_finite_lists_still_parse():
    assert Param("layers", "L", ParamType.IMAGES).parse("a.png:0.5,b.png") == (
        ("a.png", 0.5),
        ("b.png", 1.0),
    )
    assert Param("eyes", "E", ParamType.POINTS).parse("1,2;3,4") == ((1.0, 2.0), (3.0, 4.0))


@pytest.mark.parametrize(
    ("effect", "name"),
    [
        ("gaussian-blur", "sigma"),
        ("arbitrary-style", "style_scale"),
        ("arbitrary-style", "strength"),
        ("attributes", "pupil"),
    ],
)
def test_effect_parameters_refuse_nan(effect, name):
    spec = get_effect(effect)
    if name not in {p.name for p in spec.all_params({})}:
        pytest.skip(f"{effect} has no {name} here (its model is not installed)")
    with pytest.raises(BadInputError, match="finite"):
        spec.resolve({name: float("nan")})
