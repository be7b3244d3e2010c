"""Device choice: explicit, environment, automatic; clear errors for unavailable devices."""

import pytest

from warpaint.engine.runtime.device import available_devices, choose_device
from warpaint.engine.runtime.errors import BadInputError


def test_auto_picks_the_first_available_device(monkeypatch):
    monkeypatch.delenv("WARPAINT_DEVICE", raising=False)
    assert choose_device() == available_devices()[0]
    assert "cpu" in available_devices()


def test_environment_variable_overrides_auto(monkeypatch):
    monkeypatch.setenv("WARPAINT_DEVICE", "cpu")
    assert choose_device() == "cpu"
    assert choose_device("auto") == available_devices()[0], "an explicit choice beats the env"


def test_unknown_or_missing_devices_are_clear_errors(monkeypatch):
    monkeypatch.delenv("WARPAINT_DEVICE", raising=False)
    with pytest.raises(BadInputError, match="unknown device 'tpu'"):
        choose_device("tpu")
    missing = [d for d in ("cuda", "mps") if d not in available_devices()]
    for name in missing:
        with pytest.raises(BadInputError, match="not available"):
            choose_device(name)
