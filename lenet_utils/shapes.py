"""Shape arithmetic for convolution and pooling, and a layer-by-layer trace of any network.

The one formula behind every shape in LeNet: a window of size F slides with stride S over an input
of size W padded by P on each side, and fits ``O = (W - F + 2P) / S + 1`` times.

>>> conv_out(28, 5, P=2)      # d2l's first LeNet layer keeps 28x28
28
>>> pool_out(28, 2)           # 2x2 pooling with stride 2 halves it
14
>>> from lenet_utils.models import lenet_d2l
>>> print(trace(lenet_d2l(), (1, 1, 28, 28)))   # every layer's output shape and parameters
"""

from dataclasses import dataclass

import torch
from torch import nn

from .tables import format_table

__all__ = [
    "ShapeError", "conv_out", "pool_out", "conv_params", "linear_params", "count_parameters",
    "LayerRow", "Trace", "trace", "ParameterTable", "parameter_table",
]


class ShapeError(ValueError):
    """A layer setting that cannot work for the given input size."""


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ShapeError(f"{name} must be at least {minimum}, got {value}.")


def _window_out(kind, W, F, P, S, allow_floor):
    _check_int("W (input size)", W, 1)
    _check_int("F (window size)", F, 1)
    _check_int("P (padding)", P, 0)
    _check_int("S (stride)", S, 1)
    padded = W + 2 * P
    if F > padded:
        raise ShapeError(
            f"{kind} window F={F} is larger than the padded input W + 2P = {W} + 2*{P} = {padded}: "
            f"it fits nowhere. Use F <= {padded}, or pad by at least P = {-(-(F - W) // 2)}.")
    span = padded - F
    if span % S and not allow_floor:
        floored = span // S + 1
        raise ShapeError(
            f"(W - F + 2P)/S + 1 = ({W} - {F} + 2*{P})/{S} + 1 = {span / S + 1:g} is not an integer: "
            f"the last window would hang over the edge. PyTorch floors it (ceil_mode=False, the "
            f"default): it gives {floored} and never looks at the last {span % S} row(s)/column(s) "
            f"of the padded input. Pass allow_floor=True to get PyTorch's {floored}, or choose P and S "
            f"so that S divides W - F + 2P.")
    return span // S + 1


def conv_out(W: int, F: int, P: int = 0, S: int = 1, *, allow_floor: bool = False) -> int:
    """Output size of a convolution: ``(W - F + 2P) / S + 1``.

    W: input height (or width), F: kernel size, P: zero padding on each side, S: stride.
    Raises ``ShapeError`` when the kernel is larger than the padded input, and when the division is
    not exact, unless ``allow_floor=True`` (then it floors, exactly as ``nn.Conv2d`` does).
    """
    return _window_out("convolution", W, F, P, S, allow_floor)


def pool_out(W: int, F: int, P: int = 0, S: int | None = None, *, allow_floor: bool = False) -> int:
    """Output size of a pooling layer; like ``conv_out`` but the stride defaults to the window size.

    Also enforces PyTorch's rule for pooling that the padding is at most half the window.
    """
    S = F if S is None else S
    _check_int("F (window size)", F, 1)
    _check_int("P (padding)", P, 0)
    if 2 * P > F:
        raise ShapeError(f"pooling padding P={P} is more than half the window F={F}; PyTorch refuses "
                         f"this (the window would see only padding). Use P <= {F // 2}.")
    return _window_out("pooling", W, F, P, S, allow_floor)


def conv_params(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of a full 2-D convolution: one F x F kernel per (input, output) channel pair,
    plus one bias per output channel."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("kernel_size", kernel_size)):
        _check_int(name, value, 1)
    return in_channels * out_channels * kernel_size ** 2 + (out_channels if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a dense layer: an ``out x in`` weight matrix plus one bias per output."""
    _check_int("in_features", in_features, 1)
    _check_int("out_features", out_features, 1)
    return in_features * out_features + (out_features if bias else 0)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a module, as PyTorch stores them."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _shape_str(shape) -> str:
    return "×".join(str(s) for s in shape)


@dataclass(frozen=True)
class LayerRow:
    """One layer of a trace: its name in the module tree, class name, output shape and parameters."""

    name: str
    type: str
    output_shape: tuple
    num_params: int


class Trace(list):
    """The rows of ``trace`` (a list of ``LayerRow``); ``print`` it for a table."""

    def __init__(self, rows, input_shape):
        super().__init__(rows)
        self.input_shape = tuple(input_shape)

    @property
    def total_params(self) -> int:
        return sum(r.num_params for r in self)

    def shapes(self, per_example: bool = True) -> list:
        """Output shapes in order, without the batch dimension by default."""
        return [r.output_shape[1:] if per_example else r.output_shape for r in self]

    def __str__(self):
        rows = [(r.name, r.type, _shape_str(r.output_shape), f"{r.num_params:,}") for r in self]
        rows.append(("total", "", "", f"{self.total_params:,}"))
        header = f"input: {_shape_str(self.input_shape)}\n"
        return header + format_table(["layer", "type", "output shape", "parameters"], rows, "lllr")

    def _repr_pretty_(self, p, cycle):  # IPython's pretty printer, no IPython import needed
        p.text(str(self))


def _leaves(net):
    return [(name, m) for name, m in net.named_modules() if not list(m.children())]


def trace(net: nn.Module, input_shape, dtype=torch.float32) -> Trace:
    """Run one real forward pass on zeros of ``input_shape`` (batch dimension included, e.g.
    ``(1, 1, 28, 28)``) and record every leaf module's output shape and parameter count.

    Forward hooks see exactly what PyTorch computes, so the shapes are never guessed; a module that
    is called twice gives two rows. The network is put in eval mode for the pass (so batch norm
    accepts a batch of one) and restored afterwards.
    """
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, int) and s > 0 for s in input_shape):
        raise ShapeError(f"input_shape must be a tuple of positive ints including the batch "
                         f"dimension, e.g. (1, 1, 28, 28); got {input_shape!r}.")
    rows, handles = [], []
    for name, module in _leaves(net):
        def hook(mod, inputs, output, name=name):
            shape = tuple(output.shape) if torch.is_tensor(output) else ()
            rows.append(LayerRow(name, type(mod).__name__, shape, count_parameters(mod)))
        handles.append(module.register_forward_hook(hook))
    was_training = net.training
    try:
        param = next(net.parameters(), None)
        device = param.device if param is not None else "cpu"
        net.eval()
        with torch.no_grad():
            try:
                net(torch.zeros(input_shape, dtype=dtype, device=device))
            except RuntimeError as err:
                done = f" after layer '{rows[-1].name}' ({_shape_str(rows[-1].output_shape)})" if rows else ""
                raise ShapeError(f"forward pass on input {_shape_str(input_shape)} failed{done}: {err}") from err
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return Trace(rows, input_shape)


class ParameterTable(list):
    """Rows ``(name, type, parameter shapes, count)`` for every module that owns parameters."""

    @property
    def total(self) -> int:
        return sum(r[3] for r in self)

    def __str__(self):
        rows = [(n, t, s, f"{c:,}") for n, t, s, c in self] + [("total", "", "", f"{self.total:,}")]
        return format_table(["layer", "type", "weights", "parameters"], rows, "lllr")

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def parameter_table(net: nn.Module, trainable_only: bool = True) -> ParameterTable:
    """Per-layer parameter counts straight from ``module.parameters()``, with each tensor's shape,
    e.g. ``conv1  Conv2d  6×1×5×5 + 6  156``. Layers without parameters are left out."""
    rows = []
    for name, module in net.named_modules():
        own = [(pname, p) for pname, p in module.named_parameters(recurse=False)
               if p.requires_grad or not trainable_only]
        if own:
            shapes = " + ".join(_shape_str(p.shape) for _, p in own)
            rows.append((name, type(module).__name__, shapes, sum(p.numel() for _, p in own)))
    return ParameterTable(rows)
