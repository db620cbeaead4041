"""A convolution, step by step, on the trained LeNet-5 and a real MNIST digit (ipywidgets).

    from lenet_utils.widgets.stepper import ConvStepper, C3Stepper, PoolStepper
    ConvStepper()    # C1: one 5x5 kernel slides over the 32x32 digit and builds a 28x28 map
    C3Stepper()      # C3: one map sums over the S2 maps its row of the connection table names
    PoolStepper()    # S2: average vs max pooling vs LeNet-5's subsampling on one 2x2 patch

The arithmetic lives in plain functions on tensors (``conv_step``, ``c3_step``, ``pool_step``),
checked against ``F.conv2d`` and the pooling functions in the tests; the widgets only show what
they return. Each widget also leaves a PNG of its state, which a saved notebook shows where there
is no live kernel.

    from lenet_utils.widgets.stepper import conv_step
    conv_step(x, kernel, bias, row=3, col=4).output    # one output pixel of a convolution
"""

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from torch import nn

from ..data import SAMPLE_DIR, load_tensors, to_float_images
from ..features import capture_feature_maps
from ..weights import load_lenet5, prepare
from .saved_picture import Rows, SavedPicture, heat_image, img_tag, picture_sheet

__all__ = ["StepResult", "PartialSum", "PoolResult", "conv_step", "c3_step", "pool_step", "sample_digit",
           "ConvStepper", "C3Stepper", "PoolStepper"]


# --- the arithmetic ---------------------------------------------------------------------------

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


# --- the widgets ------------------------------------------------------------------------------


def sample_digit(index: int = 0) -> tuple[torch.Tensor, int]:
    """A test digit from the bundled MNIST sample, padded to 1 x 32 x 32 in [0, 1] (ink = 1),
    and its label."""
    images, labels = load_tensors("mnist", train=False, root=SAMPLE_DIR, verbose=False)
    if not 0 <= index < len(images):
        raise ValueError(f"index must lie in 0..{len(images) - 1} (the bundled test sample), got {index}.")
    return to_float_images(images[index:index + 1], pad=2)[0], int(labels[index])


class _Stepper(SavedPicture):
    """A position slider with a Play button, a choice of map and an HTML view redrawn on change."""

    grid: tuple[int, int]  # the (rows, cols) of positions the slider walks through

    def __init__(self, choices: list[tuple[str, int]], choice: int, position: int, interval_ms: int,
                 css: str):
        last = self.grid[0] * self.grid[1] - 1
        if not 0 <= position <= last:
            raise ValueError(f"position must lie in 0..{last} ({self.grid[0]}x{self.grid[1]} "
                             f"positions, row by row), got {position}.")
        if choice not in dict(choices).values():
            raise ValueError(f"map must be one of {sorted(dict(choices).values())}, got {choice!r}.")
        self.choice = widgets.Dropdown(options=choices, value=choice, description="map")
        self.position = widgets.IntSlider(value=position, min=0, max=last, description="position",
                                          continuous_update=True)
        self.play = widgets.Play(value=position, min=0, max=last, step=1, interval=interval_ms)
        widgets.jslink((self.play, "value"), (self.position, "value"))
        self.view = widgets.HTML()
        self.ui = widgets.VBox([widgets.HBox([self.play, self.position, self.choice]), self.view])
        self.ui.add_class(css)
        for control in (self.choice, self.position):
            control.observe(self._update, names="value")
        self._update()

    @property
    def row_col(self) -> tuple[int, int]:
        """The (row, col) the slider points at."""
        return divmod(int(self.position.value), self.grid[1])

    @property
    def shown_sum(self) -> float:
        """The sum of products the view shows, as it shows it (4 decimals)."""
        return round(self.result.total, 4)

    def _panels(self) -> tuple[Rows, list[str]]:
        """The pictures (rows of captioned panels) and the text lines of the current state."""
        raise NotImplementedError

    def _update(self, change: dict | None = None) -> None:
        rows, lines = self._panels()
        flex = "display:flex;flex-wrap:wrap;align-items:flex-start;margin-bottom:6px"
        figures = "".join(f"<div style='{flex}'>{''.join(img_tag(img, cap) for img, cap in row)}</div>"
                          for row in rows)
        text = "".join(f"<div class='lenet-stepper-line'>{line}</div>" for line in lines)
        self.view.value = figures + text

    def snapshot(self) -> bytes:
        """A PNG of what the view shows now (for saved notebooks and print)."""
        rows, lines = self._panels()
        return picture_sheet(rows, self._text_lines(lines))

    def summary(self) -> str:
        """What the view's text says, in plain text."""
        return "\n".join(self._text_lines(self._panels()[1]))

    @staticmethod
    def _text_lines(lines: list[str]) -> list[str]:
        return [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in lines]


def _lenet5_and_input(net: nn.Module | None, image: torch.Tensor | None) -> tuple[nn.Module, torch.Tensor]:
    net = load_lenet5() if net is None else net
    image = sample_digit()[0] if image is None else image
    if image.shape[-2:] != (32, 32) or image.numel() != 32 * 32:
        raise ValueError(f"image must be one 32x32 digit in [0, 1] (1x32x32), got shape {tuple(image.shape)}.")
    return net, image.reshape(32, 32)


class ConvStepper(_Stepper):
    """C1 of LeNet-5, one output pixel at a time: the 5x5 window on the input, the window x the
    kernel (25 products), their sum, the bias and the result, and the 28x28 map built so far.

    ``net`` defaults to the shipped trained LeNet-5, ``image`` (1x32x32 in [0, 1]) to a bundled
    MNIST test digit; the network sees ``prepare(image)``. API: ``position.value`` (0..783, row by
    row), ``choice.value`` (C1 map 0..5), ``result`` (a :class:`StepResult`), ``shown_sum``,
    ``feature_map`` (the map built so far, NaN where not visited).
    """

    grid = (28, 28)

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, channel: int = 0,
                 position: int = 0, interval_ms: int = 120):
        net, image = _lenet5_and_input(net, image)
        self.x = prepare(image).detach()
        self.weight, self.bias = net.c1.weight.detach()[:, 0], net.c1.bias.detach()
        self._maps = torch.full((6, 28, 28), float("nan"))
        super().__init__([(f"C1 map {i}", i) for i in range(6)], channel, position, interval_ms,
                         "lenet-conv-stepper")

    @property
    def result(self) -> StepResult:
        c = self.choice.value
        return conv_step(self.x, self.weight[c], float(self.bias[c]), *self.row_col)

    @property
    def feature_map(self) -> torch.Tensor:
        """The chosen map with every visited position (up to the slider) filled by ``conv_step``."""
        c, k = self.choice.value, int(self.position.value)
        flat = self._maps[c].view(-1)
        for i in (flat[:k + 1].isnan()).nonzero().flatten().tolist():
            flat[i] = conv_step(self.x, self.weight[c], float(self.bias[c]), *divmod(i, 28)).output
        shown = self._maps[c].clone()
        shown.view(-1)[k + 1:] = float("nan")
        return shown

    def _panels(self) -> tuple[Rows, list[str]]:
        s, c = self.result, self.choice.value
        kmax, pmax = float(self.weight.abs().max()), float(s.products.abs().max()) or 1.0
        built = self.feature_map
        vmax = float(F.conv2d(self.x[None, None], self.weight[c, None, None], self.bias[c, None]).abs().max())
        panels = [[(heat_image(self.x, 1.2, "gray", vmin=-0.1, box=(s.row, s.col, 5, 5)), "input (32x32)"),
                  (heat_image(s.window, 1.2, "gray", vmin=-0.1, scale=34, numbers=True), "window"),
                  (heat_image(s.kernel, kmax, scale=34, numbers=True), f"C1 kernel {c}"),
                  (heat_image(s.products, pmax, scale=34, numbers=True), "window x kernel"),
                  (heat_image(built.nan_to_num(0), vmax, blank=built.isnan(), box=(s.row, s.col, 1, 1)),
                   f"C1 map {c} so far (28x28)")]]
        lines = [f"position (row {s.row}, col {s.col}): "
                 f"<span class='lenet-stepper-sum'>sum of the 25 products = {s.total:.4f}</span>",
                 f"+ bias {s.bias:.4f} = <b class='lenet-stepper-output'>{s.output:.4f}</b> "
                 f"(then C1's scaled tanh squashes it)"]
        return panels, lines


class C3Stepper(_Stepper):
    """One C3 map at one position: each S2 map its connection-table row names contributes its 5x5
    window x its own kernel; the partial sums add up, plus the bias, to the C3 value.

    API: ``position.value`` (0..99), ``choice.value`` (C3 map 0..15), ``result`` (a
    :class:`PartialSum`), ``shown_sum``; ``s2`` holds the six S2 maps of the digit.
    """

    grid = (10, 10)

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, out_map: int = 0,
                 position: int = 0, interval_ms: int = 300):
        net, image = _lenet5_and_input(net, image)
        maps = capture_feature_maps(net, prepare(image).view(1, 1, 32, 32), ["s2_act"])
        self.s2 = maps["s2_act"][0]
        self.kernels, self.bias = net.c3.full_weight().detach(), net.c3.bias.detach()
        self.table = [tuple(net.c3.mask[o].nonzero().flatten().tolist()) for o in range(net.c3.out_channels)]
        choices = [(f"C3 map {o} (reads S2 {', '.join(map(str, t))})", o) for o, t in enumerate(self.table)]
        super().__init__(choices, out_map, position, interval_ms, "lenet-c3-stepper")

    @property
    def result(self) -> PartialSum:
        o = self.choice.value
        return c3_step(self.s2, self.kernels[o], float(self.bias[o]), self.table[o], *self.row_col)

    def _panels(self) -> tuple[Rows, list[str]]:
        p, o = self.result, self.choice.value
        kmax = float(self.kernels[o].abs().max())
        pmax = max(float(s.products.abs().max()) for s in p.steps) or 1.0
        rows = [[(heat_image(self.s2[i], 1.7, "gray", box=(s.row, s.col, 5, 5)), f"S2 map {i}"),
                 (heat_image(s.window, 1.7, "gray", scale=16), "window"),
                 (heat_image(s.kernel, kmax, scale=16), f"kernel {i}->{o}"),
                 (heat_image(s.products, pmax, scale=16), f"products: sum {s.total:+.4f}")]
                for i, s in zip(p.in_maps, p.steps)]
        terms = " ".join(f"{t:+.3f}" for t in p.partials)
        row, col = self.row_col
        lines = [f"C3 map {o} at (row {row}, col {col}) reads S2 maps {', '.join(map(str, p.in_maps))}: "
                 f"partial sums {terms}",
                 f"<span class='lenet-stepper-sum'>sum of the partial sums = {p.total:.4f}</span> "
                 f"+ bias {p.bias:.4f} = <b class='lenet-stepper-output'>{p.output:.4f}</b>"]
        return rows, lines


class PoolStepper(_Stepper):
    """Average pooling, max pooling and LeNet-5's trainable subsampling (S2: coefficient x average
    + bias, then the scaled tanh) on the same 2x2 patch of a C1 map (after its tanh).

    API: ``position.value`` (0..195), ``choice.value`` (map 0..5), ``result`` (a :class:`PoolResult`).
    """

    grid = (14, 14)

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, channel: int = 0,
                 position: int = 0, interval_ms: int = 200):
        net, image = _lenet5_and_input(net, image)
        self.c1 = capture_feature_maps(net, prepare(image).view(1, 1, 32, 32), ["c1_act"])["c1_act"][0]
        self.coefficient, self.bias = net.s2.weight.detach(), net.s2.bias.detach()
        super().__init__([(f"C1 map {i}", i) for i in range(6)], channel, position, interval_ms,
                         "lenet-pool-stepper")

    @property
    def result(self) -> PoolResult:
        c = self.choice.value
        return pool_step(self.c1[c], *self.row_col, coefficient=float(self.coefficient[c]),
                         bias=float(self.bias[c]))

    def _panels(self) -> tuple[Rows, list[str]]:
        r, c = self.result, self.choice.value
        row, col = self.row_col
        panels = [[(heat_image(self.c1[c], 1.7, "gray", box=(2 * row, 2 * col, 2, 2)), f"C1 map {c} (28x28)"),
                   (heat_image(r.patch, 1.7, "gray", scale=48, numbers=True), "the 2x2 patch")]]
        lines = [f"window (row {row}, col {col}): <span class='lenet-stepper-sum'>sum of the 4 values = "
                 f"{r.total:.4f}</span>",
                 f"average pooling: sum / 4 = <b>{r.average:.4f}</b>; max pooling: "
                 f"<b>{r.maximum:.4f}</b>",
                 f"LeNet-5's S2: coefficient {r.coefficient:.4f} x average + bias {r.bias:.4f} = "
                 f"<b class='lenet-stepper-output'>{r.subsampled:.4f}</b> (then the scaled tanh)"]
        return panels, lines
