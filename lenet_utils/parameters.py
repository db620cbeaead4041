"""Parameter counts: by formula for a convolution or a dense layer, and as PyTorch stores them, in
total or per layer.

>>> conv_params(1, 6, 5)      # LeNet's C1: six 5x5 kernels and six biases
156
"""

from typing import Any

from torch import nn

from .checks import whole_number
from .tables import format_table, shape_text

__all__ = ["conv_params", "linear_params", "count_parameters", "ParameterTable", "parameter_table"]


def conv_params(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of a full 2-D convolution: one F x F kernel per (input, output) channel pair,
    plus one bias per output channel."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("kernel_size", kernel_size)):
        whole_number(name, value)
    return in_channels * out_channels * kernel_size ** 2 + (out_channels if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a dense layer: an ``out x in`` weight matrix plus one bias per output."""
    whole_number("in_features", in_features)
    whole_number("out_features", out_features)
    return in_features * out_features + (out_features if bias else 0)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a module, as PyTorch stores them."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class ParameterTable(list):
    """Rows ``(name, type, parameter shapes, count)`` for every module that owns parameters."""

    @property
    def total(self) -> int:
        return sum(r[3] for r in self)

    def __str__(self) -> str:
        rows = [(n, t, s, f"{c:,}") for n, t, s, c in self] + [("total", "", "", f"{self.total:,}")]
        return format_table(["layer", "type", "weights", "parameters"], rows, "lllr")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def parameter_table(net: nn.Module, trainable_only: bool = True) -> ParameterTable:
    """Per-layer parameter counts straight from ``module.parameters()``, with each tensor's shape,
    e.g. ``conv1  Conv2d  6×1×5×5 + 6  156``. Layers without parameters are left out."""
    rows = []
    for name, module in net.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad or not trainable_only]
        if own:
            shapes = " + ".join(shape_text(p.shape) for p in own)
            rows.append((name, type(module).__name__, shapes, sum(p.numel() for p in own)))
    return ParameterTable(rows)
