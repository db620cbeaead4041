"""Quick mode and the on/off switches: accepted values, and a clear refusal of anything else."""

import pytest

from lenet_utils import quick_mode


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_on_values_mean_quick(monkeypatch, value):
    monkeypatch.setenv("LENET_QUICK", value)
    assert quick_mode.is_quick() is True
    assert quick_mode.pick("full", "quick") == "quick"
    assert quick_mode.mode_line().startswith("Quick mode")


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF", ""])
def test_off_values_mean_full(monkeypatch, value):
    monkeypatch.setenv("LENET_QUICK", value)
    assert quick_mode.is_quick() is False
    assert quick_mode.pick("full", "quick") == "full"
    assert quick_mode.mode_line().startswith("Full mode")


def test_unset_means_full(monkeypatch):
    monkeypatch.delenv("LENET_QUICK", raising=False)
    assert quick_mode.is_quick() is False


@pytest.mark.parametrize("value", ["ye", "2", "quick", "y"])
def test_unknown_values_are_refused_with_what_to_do(monkeypatch, value):
    monkeypatch.setenv("LENET_QUICK", value)
    with pytest.raises(ValueError) as err:
        quick_mode.is_quick()
    message = str(err.value)
    assert f"LENET_QUICK={value!r}" in message
    assert "1, true, yes, on" in message and "0, false, no, off" in message


def test_every_switch_is_read_the_same_way(monkeypatch):
    monkeypatch.setenv("LENET_OFFLINE", "nope")
    with pytest.raises(ValueError, match="LENET_OFFLINE='nope'"):
        quick_mode.env_flag("LENET_OFFLINE")
