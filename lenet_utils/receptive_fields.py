"""What a unit of LeNet-5 sees: its receptive field in the 32x32 input, from the layer geometry.

Each layer maps an output position to a window of its input: C1, C3 and C5 are 5x5 convolutions
with stride 1 (output p reads inputs p..p+4), S2 and S4 are 2x2 subsamplings with stride 2 (output
p reads 2p..2p+1). Walking back from a unit to the input gives the box of input pixels it depends
on; a C5 unit (and so every F6 and output unit) sees the whole 32x32 image. A C3 map also reads
only the S2 maps its row of the connection table (``lenet.C3_TABLE``) names.
"""

from dataclasses import dataclass
from numbers import Integral

from .lenet import C3_TABLE

__all__ = ["INPUT_SIZE", "LAYERS", "Box", "layer_shape", "receptive_field", "c3_inputs"]

INPUT_SIZE = 32

#: LeNet-5's layers up to C5 in order: (name, channels, kernel size, stride).
GEOMETRY = (("c1", 6, 5, 1), ("s2", 6, 2, 2), ("c3", 16, 5, 1), ("s4", 16, 2, 2), ("c5", 120, 5, 1))

#: Layer names a unit can be picked from: the feature maps, then the dense layers (whole input).
LAYERS = tuple(name for name, *_ in GEOMETRY) + ("f6", "output")
_DENSE = {"f6": 84, "output": 10}


@dataclass(frozen=True)
class Box:
    """Rows ``top`` to ``bottom - 1`` and columns ``left`` to ``right - 1`` of the input."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def size(self) -> tuple:
        """(height, width) in pixels."""
        return self.bottom - self.top, self.right - self.left

    @property
    def slices(self) -> tuple:
        """``(rows, cols)`` slices that cut the box out of an image."""
        return slice(self.top, self.bottom), slice(self.left, self.right)


def layer_shape(layer: str) -> tuple:
    """``(channels, height, width)`` of a layer's output for a 32x32 input (dense layers: (n, 1, 1))."""
    if layer in _DENSE:
        return _DENSE[layer], 1, 1
    size = INPUT_SIZE
    for name, channels, kernel, stride in GEOMETRY:
        size = (size - kernel) // stride + 1
        if name == layer:
            return channels, size, size
    raise ValueError(f"unknown layer {layer!r}; choose one of {', '.join(LAYERS)}.")


def _check_unit(layer: str, channel: int, row: int, col: int) -> None:
    channels, height, width = layer_shape(layer)
    for what, value, limit in (("channel", channel, channels), ("row", row, height), ("col", col, width)):
        if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value < limit:
            raise ValueError(f"{layer} has {channels} channels of {height}x{width}: {what} must be an "
                             f"int in 0..{limit - 1}, got {value!r}.")


def receptive_field(layer: str, channel: int, row: int, col: int) -> Box:
    """The box of input pixels that unit ``(channel, row, col)`` of ``layer`` depends on."""
    _check_unit(layer, channel, row, col)
    row, col = int(row), int(col)
    if layer in _DENSE:
        return Box(0, 0, INPUT_SIZE, INPUT_SIZE)
    names = [name for name, *_ in GEOMETRY]
    top, left, bottom, right = row, col, row + 1, col + 1  # half-open, in the layer's own grid
    for _, _, kernel, stride in reversed(GEOMETRY[:names.index(layer) + 1]):
        top, left = top * stride, left * stride
        bottom, right = (bottom - 1) * stride + kernel, (right - 1) * stride + kernel
    return Box(top, left, bottom, right)


def c3_inputs(channel: int) -> tuple:
    """The S2 maps (0-5) that C3 map ``channel`` reads (its row of the connection table)."""
    _check_unit("c3", channel, 0, 0)
    return tuple(C3_TABLE[channel])
