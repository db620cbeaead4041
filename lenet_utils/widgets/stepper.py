"""A convolution, step by step, on the trained LeNet-5 and a real MNIST digit (ipywidgets).

    from lenet_utils.widgets.stepper import ConvStepper, C3Stepper, PoolStepper
    ConvStepper(row=14, col=10)       # C1: a 5x5 kernel slides over the 32x32 digit, builds a 28x28 map
    C3Stepper(out_map=6, row=4, col=4)  # C3: one map sums over the S2 maps its table row names
    PoolStepper(row=7, col=7)         # S2: average, max or LeNet-5's subsampling, building the 14x14 map

Each widget has a row and a column slider, a Play button that walks the positions row by row, and
one picture of fixed size (heat maps with colour bars) above its arithmetic in text. The arithmetic
lives in plain functions on tensors (``conv_step``, ``c3_step``, ``pool_step``), checked against
``F.conv2d`` and the pooling functions in the tests; the widgets only show what they return. Each
widget also leaves a PNG of its state, which a saved notebook shows where there is no live kernel.

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
from PIL import Image
from torch import nn

from ..checks import whole_number
from ..data import SAMPLE_DIR, load_tensors, to_float_images
from ..features import capture_feature_maps
from ..weights import INPUT_BACKGROUND, INPUT_INK, load_lenet5, prepare
from .saved_picture import Rows, SavedPicture, colour_bar, heat_image, png_bytes, sheet, with_colour_bar

__all__ = ["StepResult", "PartialSum", "PoolResult", "conv_step", "c3_step", "pool_step", "sample_digit",
           "ConvStepper", "C3Stepper", "PoolStepper", "POOLINGS"]


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

SLIDER_WIDTH = 480  # px: a row or column slider (the track is about 360 px, 13 px a step at 28 steps)
NOT_YET = (200, 230, 190)  # the colour of the output positions not computed yet (light green)


def sample_digit(index: int = 0) -> tuple[torch.Tensor, int]:
    """A test digit from the bundled MNIST sample, padded to 1 x 32 x 32 in [0, 1] (ink = 1),
    and its label."""
    images, labels = load_tensors("mnist", train=False, root=SAMPLE_DIR, verbose=False)
    if not 0 <= index < len(images):
        raise ValueError(f"index must lie in 0..{len(images) - 1} (the bundled test sample), got {index}.")
    return to_float_images(images[index:index + 1], pad=2)[0], int(labels[index])


def _heat(values: torch.Tensor, lo: float, hi: float, cmap: str = "RdBu_r", **kwargs) -> Image.Image:
    """``heat_image`` of ``values`` on [lo, hi] with its colour bar."""
    return with_colour_bar(heat_image(values, hi, cmap, vmin=lo, **kwargs), lo, hi, cmap)


class _Stepper(SavedPicture):
    """Row and column sliders, a Play button walking the positions row by row, a choice of map,
    and a picture (one PNG at its natural size) above the arithmetic in text, redrawn on change."""

    grid: tuple[int, int]  # the (rows, cols) of positions

    def __init__(self, choices: list[tuple[str, int]], choice: int, row: int, col: int,
                 interval_ms: int, css: str, extra_controls: tuple = ()):
        rows, cols = self.grid
        for name, value, count in (("row", row, rows), ("col", col, cols)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
                raise ValueError(f"{name} must be an int in 0..{count - 1} ({rows}x{cols} positions), got {value!r}.")
        if choice not in dict(choices).values():
            raise ValueError(f"map must be one of {sorted(dict(choices).values())}, got {choice!r}.")
        slider = dict(continuous_update=True, style={"description_width": "60px"},
                      layout=widgets.Layout(width=f"{SLIDER_WIDTH}px"))
        self.row = widgets.IntSlider(value=row, min=0, max=rows - 1, description="row", **slider)
        self.col = widgets.IntSlider(value=col, min=0, max=cols - 1, description="column", **slider)
        self.row.add_class("lenet-stepper-row")
        self.col.add_class("lenet-stepper-col")
        self.play = widgets.Play(value=row * cols + col, min=0, max=rows * cols - 1, step=1,
                                 interval=whole_number("interval_ms", interval_ms))
        self.choice = widgets.Dropdown(options=choices, value=choice, description="map",
                                       style={"description_width": "40px"},
                                       layout=widgets.Layout(width="330px"))
        self.panels = widgets.Image(format="png")
        self.view = widgets.HTML()
        self.ui = widgets.VBox([widgets.HBox([self.play, self.choice, *extra_controls]),
                                widgets.HBox([self.row, self.col]), self.panels, self.view])
        self.ui.add_class(css)
        self._moving = False  # True while one control moves the others
        self.play.observe(self._play_moved, names="value")
        for control in (self.row, self.col):
            control.observe(self._slider_moved, names="value")
        for control in (self.choice, *extra_controls):
            control.observe(self._update, names="value")
        self._update()

    @property
    def row_col(self) -> tuple[int, int]:
        """The (row, col) the sliders point at."""
        return int(self.row.value), int(self.col.value)

    @property
    def _index(self) -> int:
        """The position's number when the positions are counted row by row."""
        return self.row_col[0] * self.grid[1] + self.row_col[1]

    @property
    def shown_sum(self) -> float:
        """The sum of products the view shows, as it shows it (4 decimals)."""
        return round(self.result.total, 4)

    def _play_moved(self, change: dict) -> None:
        if not self._moving:
            self._moving = True
            try:
                self.row.value, self.col.value = divmod(int(change["new"]), self.grid[1])
            finally:
                self._moving = False
            self._update()

    def _slider_moved(self, change: dict) -> None:
        if not self._moving:
            self._moving = True
            try:
                self.play.value = self._index  # Play goes on from here
            finally:
                self._moving = False
            self._update()

    def _panels(self) -> tuple[Rows, list[str]]:
        """The pictures (rows of captioned panels) and the text lines (HTML) of the current state."""
        raise NotImplementedError

    def _picture(self, rows: Rows, lines: Sequence[str] = ()) -> Image.Image:
        return sheet(rows, lines)

    def _update(self, change: dict | None = None) -> None:
        rows, lines = self._panels()
        picture = self._picture(rows)
        self.panels.value = png_bytes(picture, compress_level=1)  # Play redraws it several times a second
        self.panels.layout.width, self.panels.layout.height = f"{picture.width}px", f"{picture.height}px"
        self.view.value = "".join(f"<div class='lenet-stepper-line'>{line}</div>" for line in lines)

    def snapshot(self) -> bytes:
        """A PNG of what the widget shows now: its picture and its text (for saved notebooks)."""
        rows, lines = self._panels()
        return png_bytes(self._picture(rows, self._text_lines(lines)))

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
    MNIST test digit; the network sees ``prepare(image)``. API: ``row.value``, ``col.value`` (0..27), ``play.value``
    (the position counted row by row), ``choice.value`` (C1 map 0..5), ``result`` (a
    :class:`StepResult`), ``shown_sum``, ``feature_map`` (the map built so far, NaN where not visited).

        ConvStepper(row=14, col=10)     # the window on a stroke of the default digit
    """

    grid = (28, 28)

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, channel: int = 0,
                 row: int = 0, col: int = 0, interval_ms: int = 120):
        net, image = _lenet5_and_input(net, image)
        self.x = prepare(image).detach()
        self.weight, self.bias = net.c1.weight.detach()[:, 0], net.c1.bias.detach()
        self._maps = torch.full((6, 28, 28), float("nan"))
        super().__init__([(f"C1 map {i}", i) for i in range(6)], channel, row, col, interval_ms,
                         "lenet-conv-stepper")

    @property
    def result(self) -> StepResult:
        c = self.choice.value
        return conv_step(self.x, self.weight[c], float(self.bias[c]), *self.row_col)

    @property
    def feature_map(self) -> torch.Tensor:
        """The chosen map with every visited position (up to the sliders', row by row) filled by ``conv_step``."""
        c, k = self.choice.value, self._index
        flat = self._maps[c].view(-1)
        for i in (flat[:k + 1].isnan()).nonzero().flatten().tolist():
            flat[i] = conv_step(self.x, self.weight[c], float(self.bias[c]), *divmod(i, 28)).output
        shown = self._maps[c].clone()
        shown.view(-1)[k + 1:] = float("nan")
        return shown

    def _panels(self) -> tuple[Rows, list[str]]:
        s, c = self.result, self.choice.value
        kmax, pmax = float(self.weight[c].abs().max()), float(s.products.abs().max()) or 1.0
        built = self.feature_map
        vmax = float(F.conv2d(self.x[None, None], self.weight[c, None, None], self.bias[c, None]).abs().max())
        lo, hi = INPUT_BACKGROUND, INPUT_INK
        panels = [[(_heat(self.x, lo, hi, "gray", box=(s.row, s.col, 5, 5)), "input 32×32, the window in red"),
                   (_heat(built.nan_to_num(0), -vmax, vmax, blank=built.isnan(), blank_rgb=NOT_YET,
                          box=(s.row, s.col, 1, 1)),
                    f"C1 map {c} so far (28×28): this position in red,\nthe positions still to come in green")],
                  [(_heat(s.window, lo, hi, "gray", scale=36, numbers=True), "the 5×5 window"),
                   (_heat(s.kernel, -kmax, kmax, scale=36, numbers=True), f"× C1 kernel {c}"),
                   (_heat(s.products, -pmax, pmax, scale=36, numbers=True), "= window × kernel")]]
        lines = [f"position (row {s.row}, col {s.col}): "
                 f"<span class='lenet-stepper-sum'>sum of the 25 products = {s.total:.4f}</span>",
                 f"+ bias {s.bias:.4f} = <b class='lenet-stepper-output'>{s.output:.4f}</b> "
                 f"(then C1's scaled tanh squashes it)"]
        return panels, lines


class C3Stepper(_Stepper):
    """One C3 map at one position: each S2 map its connection-table row names contributes its 5x5
    window x its own kernel; the partial sums add up, plus the bias, to the C3 value.

    API: ``row.value``, ``col.value`` (0..9), ``play.value``, ``choice.value`` (C3 map 0..15),
    ``result`` (a :class:`PartialSum`), ``shown_sum``; ``s2`` holds the six S2 maps of the digit.

        C3Stepper(out_map=6, row=4, col=4)   # C3 map 6 reads S2 maps 0-3
    """

    grid = (10, 10)

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, out_map: int = 0,
                 row: int = 0, col: int = 0, interval_ms: int = 300):
        net, image = _lenet5_and_input(net, image)
        maps = capture_feature_maps(net, prepare(image).view(1, 1, 32, 32), ["s2_act"])
        self.s2, self.s2_max = maps["s2_act"][0], float(net.s2_act.A)
        self.kernels, self.bias = net.c3.full_weight().detach(), net.c3.bias.detach()
        self.table = [tuple(net.c3.mask[o].nonzero().flatten().tolist()) for o in range(net.c3.out_channels)]
        choices = [(f"C3 map {o} (reads S2 {', '.join(map(str, t))})", o) for o, t in enumerate(self.table)]
        super().__init__(choices, out_map, row, col, interval_ms, "lenet-c3-stepper")

    @property
    def result(self) -> PartialSum:
        o = self.choice.value
        return c3_step(self.s2, self.kernels[o], float(self.bias[o]), self.table[o], *self.row_col)

    def _picture(self, rows: Rows, lines: Sequence[str] = ()) -> Image.Image:
        return sheet(rows, lines, columns=True)  # one column per S2 map read

    def _panels(self) -> tuple[Rows, list[str]]:
        p, o = self.result, self.choice.value
        kmax = float(self.kernels[o].abs().max())
        pmax = max(float(s.products.abs().max()) for s in p.steps) or 1.0
        act = self.s2_max
        scales = [(-act, act, "gray", 8), (-act, act, "gray", 16), (-kmax, kmax, "RdBu_r", 16),
                  (-pmax, pmax, "RdBu_r", 16)]
        pictures = [[(self.s2[i], f"S2 map {i}", {"box": (s.row, s.col, 5, 5)}) for i, s in zip(p.in_maps, p.steps)],
                    [(s.window, "window", {}) for s in p.steps],
                    [(s.kernel, f"kernel {i}→{o}", {}) for i, s in zip(p.in_maps, p.steps)],
                    [(s.products, f"sum {s.total:+.4f}".replace("-", "−"), {}) for s in p.steps]]
        rows = [[(heat_image(values, hi, cmap, vmin=lo, scale=scale, **kw), caption) for values, caption, kw in row]
                + [(colour_bar(lo, hi, cmap, row[0][0].shape[0] * scale), "")]
                for row, (lo, hi, cmap, scale) in zip(pictures, scales)]
        terms = " ".join(f"{t:+.3f}" for t in p.partials)
        row, col = self.row_col
        lines = [f"C3 map {o} at (row {row}, col {col}) reads S2 maps {', '.join(map(str, p.in_maps))}: "
                 f"window × kernel, partial sums {terms}",
                 f"<span class='lenet-stepper-sum'>sum of the partial sums = {p.total:.4f}</span> "
                 f"+ bias {p.bias:.4f} = <b class='lenet-stepper-output'>{p.output:.4f}</b>"]
        return rows, lines


#: The poolings :class:`PoolStepper` can build its output map with, and their names.
POOLINGS = {"average": "average pooling", "max": "max pooling", "subsampling": "LeNet-5's subsampling"}


class PoolStepper(_Stepper):
    """Average pooling, max pooling and LeNet-5's trainable subsampling (S2: coefficient x average
    + bias, then the scaled tanh) on the same 2x2 window of a C1 map (after its tanh), and the
    14x14 output map of the chosen pooling built so far.

    API: ``row.value``, ``col.value`` (0..13), ``play.value``, ``choice.value`` (map 0..5),
    ``pooling.value`` (a key of :data:`POOLINGS`), ``result`` (a :class:`PoolResult`),
    ``pooled_map`` (the chosen pooling's map so far, NaN where not visited).

        PoolStepper(row=7, col=7, pooling="max")
    """

    grid = (14, 14)

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, channel: int = 0,
                 row: int = 0, col: int = 0, pooling: str = "subsampling",
                 interval_ms: int = 200):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {pooling!r}.")
        net, image = _lenet5_and_input(net, image)
        self.c1 = capture_feature_maps(net, prepare(image).view(1, 1, 32, 32), ["c1_act"])["c1_act"][0]
        self.c1_max = float(net.c1_act.A)
        self.coefficient, self.bias = net.s2.weight.detach(), net.s2.bias.detach()
        self._pooled: dict[tuple[int, str], torch.Tensor] = {}  # whole maps, by (map, pooling)
        self.pooling = widgets.ToggleButtons(options=[(name, key) for key, name in POOLINGS.items()],
                                             value=pooling, style={"button_width": "150px"})
        super().__init__([(f"C1 map {i}", i) for i in range(6)], channel, row, col, interval_ms,
                         "lenet-pool-stepper", extra_controls=(self.pooling,))

    def _window(self, c: int, row: int, col: int) -> PoolResult:
        return pool_step(self.c1[c], row, col, coefficient=float(self.coefficient[c]), bias=float(self.bias[c]))

    @property
    def result(self) -> PoolResult:
        return self._window(self.choice.value, *self.row_col)

    def _whole_map(self, c: int, pooling: str) -> torch.Tensor:
        if (c, pooling) not in self._pooled:
            value = {"average": "average", "max": "maximum", "subsampling": "subsampled"}[pooling]
            self._pooled[c, pooling] = torch.tensor([[getattr(self._window(c, r, q), value) for q in range(14)]
                                                     for r in range(14)])
        return self._pooled[c, pooling]

    @property
    def pooled_map(self) -> torch.Tensor:
        """The chosen map pooled the chosen way at every window up to the sliders' (row by row), NaN after."""
        shown = self._whole_map(self.choice.value, self.pooling.value).clone()
        shown.view(-1)[self._index + 1:] = float("nan")
        return shown

    def _panels(self) -> tuple[Rows, list[str]]:
        r, c, pooling = self.result, self.choice.value, self.pooling.value
        row, col = self.row_col
        act = self.c1_max
        top = max(act, float(self._whole_map(c, pooling).abs().max()))  # subsampling may exceed the tanh's range
        built = self.pooled_map
        panels = [[(_heat(self.c1[c], -act, act, "gray", box=(2 * row, 2 * col, 2, 2)),
                    f"C1 map {c} (28×28), the window in red"),
                   (_heat(r.patch, -act, act, "gray", scale=48, numbers=True), "the 2×2 window"),
                   (_heat(built.nan_to_num(0), -top, top, "gray", scale=16, blank=built.isnan(), blank_rgb=NOT_YET,
                          box=(row, col, 1, 1)),
                    f"{POOLINGS[pooling]} so far (14×14):\nthis window in red, those to come in green")]]
        chosen = {key: " class='lenet-stepper-output'" if key == pooling else "" for key in POOLINGS}
        lines = [f"window (row {row}, col {col}) = C1 rows {2 * row}-{2 * row + 1}, cols {2 * col}-{2 * col + 1}: "
                 f"<span class='lenet-stepper-sum'>sum of the 4 values = {r.total:.4f}</span>",
                 f"average pooling: sum / 4 = <b{chosen['average']}>{r.average:.4f}</b>; "
                 f"max pooling: <b{chosen['max']}>{r.maximum:.4f}</b>",
                 f"LeNet-5's S2: coefficient {r.coefficient:.4f} × average + bias {r.bias:.4f} = "
                 f"<b{chosen['subsampling']}>{r.subsampled:.4f}</b> (then the scaled tanh)",
                 f"the map on the right shows {POOLINGS[pooling]}"]
        return panels, lines
