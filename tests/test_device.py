"""Picking and checking the device, the hardware line, and eval mode for a while."""

import pytest
import torch
from torch import nn

from lenet_utils.device import check_device, describe, evaluating, hardware_summary, try_gpu


def test_check_device_accepts_the_cpu_and_defaults_to_try_gpu():
    assert check_device("cpu") == torch.device("cpu")
    assert check_device(None) == try_gpu()


@pytest.mark.parametrize("asked", ["cuda", "cuda:0", torch.device("cuda:1")])
def test_a_missing_gpu_is_refused_with_what_to_do(monkeypatch, asked):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"sees no CUDA GPU.*try_gpu\(\).*device='cpu'"):
        check_device(asked)


def test_a_gpu_index_beyond_the_machine_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert check_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="sees 1 CUDA GPU"):
        check_device("cuda:1")


def test_a_device_name_that_is_no_device_is_refused():
    with pytest.raises(ValueError, match="not a device name"):
        check_device("gpu please")


def test_hardware_summary_names_threads_and_device():
    line = hardware_summary("cpu")
    assert f"torch {torch.__version__} with {torch.get_num_threads()} threads" in line
    assert line.endswith(describe("cpu"))


def test_evaluating_restores_the_previous_mode_even_after_an_error():
    net = nn.Sequential(nn.Dropout(0.5)).train()
    with evaluating(net):
        assert not net.training
    assert net.training
    with pytest.raises(RuntimeError), evaluating(net):
        raise RuntimeError("boom")
    assert net.training
    net.eval()
    with evaluating(net):
        pass
    assert not net.training
