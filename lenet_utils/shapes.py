"""Shape arithmetic for convolution and pooling, parameter counts, and a layer-by-layer trace.
Chapter 2 writes ``ShapeError``, ``conv_out``, ``pool_out`` and ``trace`` in its ``#@save`` cells.

The one formula behind every shape in LeNet: a window of size F slides with stride S over an input
of size W padded by P on each side, and fits ``O = (W - F + 2P) / S + 1`` times.

>>> conv_out(28, 5, P=2)      # d2l's first LeNet layer keeps 28x28
28
>>> pool_out(28, 2)           # 2x2 pooling with stride 2 halves it
14
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .device import evaluating
from .tables import format_table

__all__ = [
    "ShapeError", "conv_out", "pool_out", "conv_params", "linear_params", "count_parameters",
    "LayerRow", "Trace", "trace", "ParameterTable", "parameter_table",
]


class ShapeError(ValueError):
    """A layer setting that cannot work for the given input size."""


def conv_out(W: int, F: int, P: int = 0, S: int = 1, *, allow_floor: bool = False) -> int:
    """Output size of a convolution: O = (W - F + 2P) / S + 1 (W input size, F kernel size,
    P zero padding on each side, S stride). Refuses a window that fits nowhere, and a division
    that is not exact unless allow_floor=True (then it floors, as nn.Conv2d does)."""
    for name, value, least in (("W (input size)", W, 1), ("F (window size)", F, 1),
                               ("P (padding)", P, 0), ("S (stride)", S, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ShapeError(f"{name} must be an int of at least {least}, got {value!r}.")
    if F > W + 2 * P:
        raise ShapeError(f"the window F={F} is larger than the padded input W + 2P = {W} + 2*{P} = "
                         f"{W + 2 * P}: it fits nowhere. Use F <= {W + 2 * P}, or pad by at least "
                         f"P = {-(-(F - W) // 2)}.")
    O = (W - F + 2 * P) / S + 1
    if O != int(O) and not allow_floor:
        raise ShapeError(f"(W - F + 2P)/S + 1 = ({W} - {F} + 2*{P})/{S} + 1 = {O:g} is not an integer: "
                         f"the last window would hang over the edge. PyTorch floors it (ceil_mode=False, "
                         f"the default): it gives {int(O)} and never looks at the last "
                         f"{(W - F + 2 * P) % S} row(s)/column(s) of the padded input. Pass "
                         f"allow_floor=True to get PyTorch's {int(O)}, or choose P and S so that S "
                         f"divides W - F + 2P.")
    return int(O)


def pool_out(W: int, F: int, P: int = 0, S: int | None = None, *, allow_floor: bool = False) -> int:
    """Output size of a pooling layer: the same formula, with the stride defaulting to the window
    size (non-overlapping windows). PyTorch also refuses padding of more than half the window."""
    O = conv_out(W, F, P, F if S is None else S, allow_floor=allow_floor)
    if 2 * P > F:
        raise ShapeError(f"pooling padding P={P} is more than half the window F={F}; PyTorch refuses "
                         f"this (the window would see only padding). Use P <= {F // 2}.")
    return O


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ShapeError(f"{name} must be a positive int, got {value!r}.")


def conv_params(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of a full 2-D convolution: one F x F kernel per (input, output) channel pair,
    plus one bias per output channel."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("kernel_size", kernel_size)):
        _check_count(name, value)
    return in_channels * out_channels * kernel_size ** 2 + (out_channels if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a dense layer: an ``out x in`` weight matrix plus one bias per output."""
    _check_count("in_features", in_features)
    _check_count("out_features", out_features)
    return in_features * out_features + (out_features if bias else 0)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a module, as PyTorch stores them."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _shape_str(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


@dataclass(frozen=True)
class LayerRow:
    """One layer of a trace: its name, class name, output shape and parameter count."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    num_params: int


class Trace(list):
    """The rows of ``trace`` (a list of ``LayerRow``); ``print`` it for a table."""

    def __init__(self, rows: Sequence[LayerRow], input_shape: Sequence[int]) -> None:
        super().__init__(rows)
        self.input_shape = tuple(input_shape)

    @property
    def total_params(self) -> int:
        return sum(r.num_params for r in self)

    def shapes(self, per_example: bool = True) -> list[tuple[int, ...]]:
        """Output shapes in order, without the batch dimension by default."""
        return [r.output_shape[1:] if per_example else r.output_shape for r in self]

    def __str__(self) -> str:
        rows = [(r.name, r.type, _shape_str(r.output_shape), f"{r.num_params:,}") for r in self]
        rows.append(("total", "", "", f"{self.total_params:,}"))
        header = f"input: {_shape_str(self.input_shape)}\n"
        return header + format_table(["layer", "type", "output shape", "parameters"], rows, "lllr")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's pretty printer
        p.text(str(self))


def trace(net: nn.Sequential, input_shape: tuple[int, ...]) -> Trace:
    """Push a batch of zeros of input_shape (batch dimension included, e.g. (1, 1, 28, 28)) through
    the layers of an nn.Sequential one by one, in eval mode, and record each layer's name, type,
    output shape and number of parameters."""
    if not isinstance(net, nn.Sequential):
        raise TypeError(f"trace steps through the layers of an nn.Sequential in order; got a "
                        f"{type(net).__name__}, whose forward pass may call its layers differently.")
    if not all(isinstance(s, int) and s > 0 for s in input_shape):
        raise ShapeError(f"input_shape must be a tuple of positive ints including the batch "
                         f"dimension, e.g. (1, 1, 28, 28); got {input_shape!r}.")
    param = next(net.parameters(), None)
    X = torch.zeros(input_shape, device=param.device if param is not None else "cpu")
    rows = []
    with evaluating(net), torch.no_grad():
        for name, layer in net.named_children():
            try:
                X = layer(X)
            except RuntimeError as err:
                where = (f"after layer '{rows[-1].name}' ({rows[-1].type}, output {rows[-1].output_shape})"
                         if rows else "at the first layer")
                raise ShapeError(f"input {tuple(input_shape)} does not fit {where}: {err}") from err
            rows.append(LayerRow(name, type(layer).__name__, tuple(X.shape), count_parameters(layer)))
    return Trace(rows, input_shape)


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
            shapes = " + ".join(_shape_str(p.shape) for p in own)
            rows.append((name, type(module).__name__, shapes, sum(p.numel() for p in own)))
    return ParameterTable(rows)
