"""A convolution, step by step, on the trained LeNet-5 and a real MNIST digit (ipywidgets).

    from lenet_utils.widgets.stepper import ConvStepper, C3Stepper, PoolStepper
    ConvStepper()    # C1: one 5x5 kernel slides over the 32x32 digit and builds a 28x28 map
    C3Stepper()      # C3: one map sums over the S2 maps its row of the connection table names
    PoolStepper()    # S2: average vs max pooling vs LeNet-5's subsampling on one 2x2 patch

The arithmetic lives in plain functions (``conv_step``, ``c3_step``, ``pool_step``) that the tests
check against ``F.conv2d`` and the pooling functions; the widgets only show what they return. Each
widget also carries a PNG of its state, which a saved notebook shows where there is no live kernel.
"""

import base64
import html
import re

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from torch import nn

from ..conv_steps import PartialSum, PoolResult, StepResult, c3_step, conv_step, pool_step
from ..data import SAMPLE_DIR, load_tensors, to_float_images
from ..features import capture_feature_maps
from ..weights import load_lenet5, prepare
from .sheet import Rows, heat_image, img_tag, picture_sheet

__all__ = ["sample_digit", "ConvStepper", "C3Stepper", "PoolStepper"]


def sample_digit(index: int = 0) -> tuple[torch.Tensor, int]:
    """A test digit from the bundled MNIST sample, padded to 1 x 32 x 32 in [0, 1] (ink = 1),
    and its label."""
    images, labels = load_tensors("mnist", train=False, root=SAMPLE_DIR, verbose=False)
    if not 0 <= index < len(images):
        raise ValueError(f"index must lie in 0..{len(images) - 1} (the bundled test sample), got {index}.")
    return to_float_images(images[index:index + 1], pad=2)[0], int(labels[index])


# --- the widgets ------------------------------------------------------------------------------

class _Stepper:
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
        return picture_sheet(rows, [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in lines])

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = self.ui._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.snapshot()).decode("ascii")
        return bundle


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
