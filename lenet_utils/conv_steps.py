"""One step of a convolution, of a C3 map and of a pooling window: the arithmetic the steppers show.

Plain functions on tensors, checked against ``F.conv2d`` and the pooling functions in the tests.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["StepResult", "PartialSum", "PoolResult", "conv_step", "c3_step", "pool_step"]


@dataclass(frozen=True)
class StepResult:
    """One position of a convolution: the input window, the kernel, their products, the sum of
    the products (``total``), the bias and ``output`` = total + bias."""

    row: int
    col: int
    window: torch.Tensor
    kernel: torch.Tensor
    products: torch.Tensor
    total: float
    bias: float
    output: float


def conv_step(x: torch.Tensor, kernel: torch.Tensor, bias: float, row: int, col: int) -> StepResult:
    """The convolution (cross-correlation, as ``F.conv2d``) of the 2-D map ``x`` with a square
    ``kernel`` at output position (row, col), without padding, stride 1."""
    if x.dim() != 2 or kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"conv_step takes a 2-D map and a square 2-D kernel, got shapes "
                         f"{tuple(x.shape)} and {tuple(kernel.shape)}.")
    k = kernel.shape[0]
    rows, cols = x.shape[0] - k + 1, x.shape[1] - k + 1
    if not (0 <= row < rows and 0 <= col < cols):
        raise ValueError(f"position ({row}, {col}) is outside the {rows}x{cols} output; rows and "
                         f"columns run from 0 to {rows - 1} and {cols - 1}.")
    window = x[row:row + k, col:col + k]
    products = window * kernel
    total = float(products.sum())
    return StepResult(row, col, window, kernel, products, total, float(bias), total + float(bias))


@dataclass(frozen=True)
class PartialSum:
    """One position of a C3 map: a ``StepResult`` (bias 0) per connected S2 map, their sums
    (``partials``), the ``total`` of those, the bias and ``output`` = total + bias."""

    in_maps: tuple[int, ...]
    steps: tuple[StepResult, ...]
    partials: tuple[float, ...]
    total: float
    bias: float
    output: float


def c3_step(maps: torch.Tensor, kernels: torch.Tensor, bias: float, in_maps: Sequence[int],
            row: int, col: int) -> PartialSum:
    """C3 at (row, col): for each input map ``i`` in ``in_maps``, ``maps[i]``'s window times
    ``kernels[i]``; the partial sums add up, plus the bias. ``maps`` is C x H x W, ``kernels``
    C x F x F (one output map's row of the full weight)."""
    if not in_maps:
        raise ValueError("in_maps is empty: a C3 map reads at least one S2 map (see C3_TABLE).")
    steps = tuple(conv_step(maps[i], kernels[i], 0.0, row, col) for i in in_maps)
    partials = tuple(s.total for s in steps)
    return PartialSum(tuple(in_maps), steps, partials, sum(partials), float(bias), sum(partials) + float(bias))


@dataclass(frozen=True)
class PoolResult:
    """One window of a pooling layer: its ``total``, pooled three ways: ``average``, ``maximum``
    and LeNet-5's ``subsampled`` = coefficient x average + bias (before its squashing)."""

    patch: torch.Tensor
    total: float
    average: float
    maximum: float
    coefficient: float
    bias: float
    subsampled: float


def pool_step(x: torch.Tensor, row: int, col: int, size: int = 2, coefficient: float = 1.0,
              bias: float = 0.0) -> PoolResult:
    """The non-overlapping ``size`` x ``size`` window (row, col) of the 2-D map ``x``."""
    rows, cols = x.shape[-2] // size, x.shape[-1] // size
    if x.dim() != 2 or not (0 <= row < rows and 0 <= col < cols):
        raise ValueError(f"pool_step takes a 2-D map and a window inside its {rows}x{cols} grid of "
                         f"windows; got shape {tuple(x.shape)} and window ({row}, {col}).")
    patch = x[row * size:(row + 1) * size, col * size:(col + 1) * size]
    total, average = float(patch.sum()), float(patch.mean())
    return PoolResult(patch, total, average, float(patch.max()), float(coefficient), float(bias),
                      float(coefficient) * average + float(bias))
