"""Shape arithmetic for convolution and pooling, and a layer-by-layer trace.
Chapter 2 writes ``ShapeError``, ``conv_out``, ``pool_out`` and ``trace`` in its ``#@save`` cells.

The one formula behind every shape in LeNet: a window of size F slides with stride S over an input
of size W padded by P on each side, and fits ``O = (W - F + 2P) / S + 1`` times.

>>> conv_out(28, 5, P=2)      # d2l's first LeNet layer keeps 28x28
28
>>> pool_out(28, 2)           # 2x2 pooling with stride 2 halves it
14
"""

import torch
from torch import nn

from .device import evaluating
from .parameters import count_parameters
from .traces import LayerRow, Trace

__all__ = ["ShapeError", "conv_out", "pool_out", "trace"]


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
