"""Where a net runs: pick the device (d2l's ``try_gpu``), check a requested one, name the hardware,
and put a net in eval mode for a while."""

import contextlib
import os
import platform
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["try_gpu", "check_device", "model_device", "describe", "hardware_summary", "evaluating"]


def try_gpu(i: int = 0) -> torch.device:
    """Return ``cuda:i`` if that GPU exists, else the CPU."""
    if torch.cuda.is_available() and torch.cuda.device_count() > i:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def check_device(device: "str | torch.device | None") -> torch.device:
    """``device`` as a ``torch.device`` (None: :func:`try_gpu`), refused with a clear message when it
    names a GPU this machine does not have."""
    if device is None:
        return try_gpu()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a device name: use 'cpu', 'cuda', 'cuda:0' or "
                         f"try_gpu().") from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            have = f"{count} CUDA GPU(s)" if count else "no CUDA GPU"
            raise ValueError(f"device={str(device)!r} was asked for, but PyTorch sees {have} on this "
                             f"machine. Use device=None or try_gpu() (the GPU when there is one, else "
                             f"the CPU), or device='cpu'.")
    return device


def model_device(net: nn.Module) -> torch.device:
    """The device of ``net``'s first parameter (the CPU for a net without parameters)."""
    param = next(iter(net.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def describe(device: "str | torch.device") -> str:
    """A human name for a device, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def hardware_summary(device: "str | torch.device | None" = None) -> str:
    """One line naming the machine a run happens on: CPU model, cores, torch and its threads, device."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = check_device(device)
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads; training device: {describe(device)}")


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """Put ``net`` in eval mode inside the ``with`` block and restore its train/eval mode after."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
