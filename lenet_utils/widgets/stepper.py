"""A convolution, step by step, on the trained LeNet-5 and a real MNIST digit (ipywidgets).

    from lenet_utils.widgets.stepper import ConvStepper, C3Stepper, PoolStepper
    ConvStepper(row=14, col=10)       # C1: a 5x5 kernel slides over the 32x32 digit, builds a 28x28 map
    C3Stepper(out_map=6, row=4, col=4)  # C3: one map sums over the S2 maps its table row names
    PoolStepper(row=7, col=7)         # S2: average, max or LeNet-5's subsampling, building the 14x14 map

Each widget has labelled controls (play/pause, which keeps the place and the map built so far;
start over; loop; a speed, up to a whole row a step), a row and a column slider, and below them a
white card (in either JupyterLab theme) of heat maps with colour bars, which wrap to the notebook's
width, above the arithmetic in text. A click on the input or the output map moves the window there.
The arithmetic lives in plain functions on tensors (``conv_step``, ``c3_step``, ``pool_step``),
checked against ``F.conv2d``, LeNet-5's C3 and the pooling functions in the tests; the widgets only
show what they return. Each widget also leaves a PNG of its card (the same pictures and text), which
a saved notebook shows where there is no live kernel.

    from lenet_utils.widgets.stepper import conv_step
    conv_step(x, kernel, bias, row=3, col=4).output    # one output pixel of a convolution
"""

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from ipycanvas import Canvas
from PIL import Image, ImageDraw
from torch import nn

from ..checks import whole_number
from ..data import SAMPLE_DIR, load_tensors, to_float_images
from ..features import capture_feature_maps
from ..weights import INPUT_BACKGROUND, INPUT_INK, load_lenet5, prepare
from .saved_picture import SavedPicture, colour_bar, font, heat_image, png_bytes, sheet, with_colour_bar

__all__ = ["StepResult", "PartialSum", "PoolResult", "conv_step", "c3_step", "pool_step", "sample_digit",
           "ConvStepper", "C3Stepper", "PoolStepper", "POOLINGS", "Panel"]


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

SLIDER_WIDTH = 400  # px: a row or column slider (the track is about 290 px, 10 px a step at 28 steps): two fit 840 px
NOT_YET = (200, 230, 190)  # the colour of the output positions not computed yet (light green)
INK = "#1a1a1a"  # text on the white card (17:1 against white)
#: The card the pictures and the arithmetic sit on (white in both JupyterLab themes, as the pictures
#: are), and the click cursor on the maps.
STYLE = ("<style>.lenet-stepper-card { background: #ffffff; color: #1a1a1a; padding: 10px 12px; "
         "border-radius: 4px; box-sizing: border-box; max-width: 100%; }"
         " .lenet-stepper-card canvas { cursor: crosshair; }</style>")
#: speed -> (positions a step, the step's length as a multiple of ``interval_ms``)
SPEEDS = {"slow": (1, 4), "fast": (1, 1), "rows": (None, 3)}  # None: a whole row a step


def sample_digit(index: int = 0) -> tuple[torch.Tensor, int]:
    """A test digit from the bundled MNIST sample, padded to 1 x 32 x 32 in [0, 1] (ink = 1),
    and its label."""
    images, labels = load_tensors("mnist", train=False, root=SAMPLE_DIR, verbose=False)
    if not 0 <= index < len(images):
        raise ValueError(f"index must lie in 0..{len(images) - 1} (the bundled test sample), got {index}.")
    return to_float_images(images[index:index + 1], pad=2)[0], int(labels[index])


@dataclass
class Panel:
    """One picture of a stepper: a heat map (``picture``) drawn on ``scale`` = (vmin, vmax, cmap),
    with its colour bar when ``bar``, a caption below, and ``click`` ("input" or "output") when a
    click on it moves the window."""

    picture: Image.Image
    caption: str
    scale: tuple[float, float, str]
    bar: bool = True
    click: str | None = None

    def colour_bar(self) -> Image.Image:
        return colour_bar(*self.scale, self.picture.height)

    def image(self) -> Image.Image:
        """The heat map and its colour bar (if any) side by side, as one picture."""
        return with_colour_bar(self.picture, *self.scale) if self.bar else self.picture


#: A stepper's card: blocks side by side (wrapping), each a list of (label or None, panels) rows.
Blocks = list[list[tuple[str | None, list[Panel]]]]


def _heat(values: torch.Tensor, lo: float, hi: float, caption: str, cmap: str = "RdBu_r",
          click: str | None = None, **kwargs) -> Panel:
    """A panel: ``heat_image`` of ``values`` on [lo, hi] with its colour bar."""
    return Panel(heat_image(values, hi, cmap, vmin=lo, **kwargs), caption, (lo, hi, cmap), click=click)


def _label_image(label: str, width: int = 130) -> Image.Image:
    """A row's label as a picture (for the saved picture), ``width`` px wide."""
    lines = label.split("\n")
    picture = Image.new("RGB", (width, 20 * len(lines)), "white")
    draw = ImageDraw.Draw(picture)
    for k, line in enumerate(lines):
        draw.text((0, 20 * k), line, fill=INK, font=font(14))
    return picture


def _html_lines(lines: Sequence[str], size: int = 14) -> str:
    return "".join(f"<div class='lenet-stepper-line' style='color:{INK};font-size:{size}px;line-height:"
                   f"{round(size * 1.45)}px'>{line}</div>" for line in lines)


class _Stepper(SavedPicture):
    """The controls (play/pause, start over, loop, speed, the map, row and column sliders) above a
    white card of captioned heat maps and the arithmetic in text, redrawn on every move. The
    positions are walked row by row; clicking a map marked ``click`` moves the window there."""

    grid: tuple[int, int]  # the (rows, cols) of positions
    scales: dict[str, int]  # pixels a cell of the "input" and the "output" map

    def __init__(self, choices: list[tuple[str, int]], choice: int, row: int, col: int,
                 interval_ms: int, css: str, extra_controls: tuple = ()):
        rows, cols = self.grid
        for name, value, count in (("row", row, rows), ("col", col, cols)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
                raise ValueError(f"{name} must be an int in 0..{count - 1} ({rows}x{cols} positions), got {value!r}.")
        if choice not in dict(choices).values():
            raise ValueError(f"map must be one of {sorted(dict(choices).values())}, got {choice!r}.")
        self.interval_ms = whole_number("interval_ms", interval_ms)
        slider = dict(continuous_update=True, style={"description_width": "56px"},
                      layout=widgets.Layout(width=f"{SLIDER_WIDTH}px", min_width="300px", margin="0 12px 4px 0"))
        self.row = widgets.IntSlider(value=row, min=0, max=rows - 1, description="row", **slider)
        self.col = widgets.IntSlider(value=col, min=0, max=cols - 1, description="column", **slider)
        self.row.add_class("lenet-stepper-row")
        self.col.add_class("lenet-stepper-col")
        # Play's own buttons (play, stop = back to 0, repeat) are bare icons: it is hidden and ticks
        # for the labelled buttons below.
        self.play = widgets.Play(value=row * cols + col, min=0, max=rows * cols - 1, step=1,
                                 interval=self.interval_ms, layout=widgets.Layout(display="none"))
        button = widgets.Layout(width="auto", margin="0 6px 4px 0")
        self.play_button = widgets.Button(description="play", icon="play", layout=button,
                                          tooltip="Walk the window over the positions, row by row")
        self.restart_button = widgets.Button(description="start over", icon="step-backward", layout=button,
                                             tooltip="Back to the first position (0, 0), with an empty map")
        self.loop = widgets.ToggleButton(description="loop", icon="repeat", layout=button,
                                         tooltip="After the last position, start again at (0, 0)")
        self.speed = widgets.ToggleButtons(
            options=[("slow", "slow"), ("fast", "fast"), ("whole rows", "rows")], value="fast",
            style={"button_width": "auto"},
            tooltips=[f"one position every {SPEEDS['slow'][1] * self.interval_ms / 1000:g} s",
                      f"one position every {SPEEDS['fast'][1] * self.interval_ms / 1000:g} s",
                      f"a whole row every {SPEEDS['rows'][1] * self.interval_ms / 1000:g} s (the window "
                      f"jumps to the end of each row)"])
        self.choice = widgets.Dropdown(options=choices, value=choice, description="map",
                                       style={"description_width": "36px"},
                                       layout=widgets.Layout(width="auto", margin="0 12px 4px 0"))
        self.play_button.add_class("lenet-stepper-play")
        self.restart_button.add_class("lenet-stepper-restart")
        self.loop.add_class("lenet-stepper-loop")
        self.speed.add_class("lenet-stepper-speed")
        wrap = dict(flex_flow="row wrap", align_items="center", width="100%")
        self.card = widgets.VBox(layout=widgets.Layout(width="auto", max_width="100%"))
        self.card.add_class("lenet-stepper-card")
        self.view = widgets.HTML(layout=widgets.Layout(width="auto", margin="4px 0 0 0"))
        self.ui = widgets.VBox([widgets.HTML(STYLE, layout=widgets.Layout(width="0px", height="0px", margin="0")),
                                widgets.HBox([self.play_button, self.restart_button, self.loop,
                                              _labelled("speed", self.speed), self.choice,
                                              *(_labelled(name, control) for name, control in extra_controls)],
                                             layout=widgets.Layout(**wrap)),
                                widgets.HBox([self.row, self.col], layout=widgets.Layout(**wrap)),
                                self.play, self.card], layout=widgets.Layout(width="100%"))
        self.ui.add_class(css)
        self.ui.add_class("lenet-stepper")
        self._shape: list = []  # the card's structure now: rebuilt when it changes
        self._slots: list = []  # per panel: (picture widget, colour bar Image, caption HTML)
        self._built: dict = {}  # maps built so far, by key: NaN where not computed yet
        self._moving = False  # True while one control moves the others
        self.play.observe(self._play_moved, names="value")
        self.play.observe(self._playing_changed, names="playing")
        self.play_button.on_click(lambda _: setattr(self.play, "playing", not self.play.playing))
        self.restart_button.on_click(lambda _: self.move_to(0, 0))
        widgets.link((self.loop, "value"), (self.play, "repeat"))
        self.speed.observe(self._speed_changed, names="value")
        for control in (self.row, self.col):
            control.observe(self._slider_moved, names="value")
        for control in (self.choice, *(control for _, control in extra_controls)):
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

    def move_to(self, row: int, col: int) -> None:
        """Put the window at (row, col) (clamped to the grid), as a click on a map does; Play goes on from there."""
        rows, cols = self.grid
        row, col = min(max(int(row), 0), rows - 1), min(max(int(col), 0), cols - 1)
        self._moving = True
        try:
            self.row.value, self.col.value = row, col
            self.play.value = row * cols + col
        finally:
            self._moving = False
        self._update()

    def click(self, where: str, x: float, y: float) -> None:
        """A click at pixel (x, y) of the ``where`` ("input" or "output") map: the window moves
        there (on the input, to the window centred on the click)."""
        if where not in self.scales:
            raise ValueError(f"where must be 'input' or 'output' (the map clicked), got {where!r}.")
        r, c = int(y // self.scales[where]), int(x // self.scales[where])
        self.move_to(*(self._input_to_position(r, c) if where == "input" else (r, c)))

    def _input_to_position(self, r: int, c: int) -> tuple[int, int]:
        """The position whose window is centred on input cell (r, c) (the kernel is 5x5)."""
        return r - 2, c - 2

    def _play_moved(self, change: dict) -> None:
        if self._moving:
            return
        index, cols = int(change["new"]), self.grid[1]
        if self.play.step > 1 and index % cols != cols - 1:  # whole rows: the window ends each row
            index = min(index // cols * cols + cols - 1, self.play.max)
        self._moving = True
        try:
            self.row.value, self.col.value = divmod(index, cols)
            self.play.value = index
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

    def _playing_changed(self, change: dict) -> None:
        playing = bool(change["new"])
        self.play_button.description, self.play_button.icon = ("pause", "pause") if playing else ("play", "play")
        self.play_button.tooltip = ("Stop here: the window and the map built so far stay" if playing else
                                    "Walk the window over the positions, row by row")

    def _speed_changed(self, change: dict) -> None:
        step, times = SPEEDS[change["new"]]
        self.play.step = self.grid[1] if step is None else step
        self.play.interval = times * self.interval_ms

    def _built_so_far(self, key, value_at) -> torch.Tensor:
        """The map ``key`` with every position up to the window's (row by row) filled by
        ``value_at(row, col)`` (computed once), NaN after."""
        if key not in self._built:
            self._built[key] = torch.full(self.grid, float("nan"))
        flat, k = self._built[key].view(-1), self._index
        for i in flat[:k + 1].isnan().nonzero().flatten().tolist():
            flat[i] = value_at(*divmod(i, self.grid[1]))
        shown = self._built[key].clone()
        shown.view(-1)[k + 1:] = float("nan")
        return shown

    def _blocks(self) -> tuple[Blocks, list[str]]:
        """The card's pictures (blocks of labelled rows of panels) and text lines (HTML) now."""
        raise NotImplementedError

    # --- the live view: widgets made once per structure, their values set on every move
    def _update(self, change: dict | None = None) -> None:
        blocks, lines = self._blocks()
        shape = [[(label, [(p.click, p.bar) for p in panels]) for label, panels in block]
                 for block in blocks]
        if shape != self._shape:
            self._build(blocks)
            self._shape = shape
        panels = [p for block in blocks for _, row in block for p in row]
        for (picture, bar, caption), panel in zip(self._slots, panels):
            if isinstance(picture, Canvas):
                pixels = np.asarray(panel.picture.convert("RGBA"))
                if picture.width != panel.picture.width or picture.height != panel.picture.height:
                    picture.width, picture.height = panel.picture.width, panel.picture.height
                    picture.layout.width, picture.layout.height = f"{picture.width}px", f"{picture.height}px"
                    picture._shown = None
                if getattr(picture, "_shown", None) is None or not np.array_equal(picture._shown, pixels):
                    picture.put_image_data(pixels)
                    picture._shown = pixels
            else:
                _show(picture, panel.picture)
            if bar is not None:
                _show(bar, panel.colour_bar())
            caption.value = _html_lines([html.escape(line) for line in panel.caption.split("\n")], 13)
        self.view.value = _html_lines(lines)

    def _build(self, blocks: Blocks) -> None:
        self._slots, boxes = [], []
        for block in blocks:
            rows = []
            for label, panels in block:
                cells = [] if label is None else [widgets.HTML(
                    _html_lines([html.escape(part) for part in label.split("\n")], 13).replace(
                        "<div class", "<div style='font-weight:bold' class", 0),
                    layout=widgets.Layout(width="130px", min_width="130px", margin="0 8px 8px 0"))]
                for panel in panels:
                    if panel.click:
                        picture = Canvas(width=panel.picture.width, height=panel.picture.height,
                                         layout=widgets.Layout(width=f"{panel.picture.width}px",
                                                               height=f"{panel.picture.height}px"))
                        picture.add_class(f"lenet-stepper-{panel.click}")
                        picture.on_mouse_down(lambda x, y, where=panel.click: self.click(where, x, y))
                    else:
                        picture = widgets.Image(format="png")
                    bar = widgets.Image(format="png", layout=widgets.Layout(margin="0 0 0 6px")) if panel.bar else None
                    caption = widgets.HTML(layout=widgets.Layout(width="auto", margin="2px 0 0 0"))
                    self._slots.append((picture, bar, caption))
                    top = widgets.HBox([picture] + ([bar] if bar else []), layout=widgets.Layout(overflow="visible"))
                    cells.append(widgets.VBox([top, caption], layout=widgets.Layout(margin="0 14px 8px 0",
                                                                                    overflow="visible")))
                rows.append(widgets.HBox(cells, layout=widgets.Layout(flex_flow="row wrap", overflow="visible")))
            boxes.append(widgets.VBox(rows, layout=widgets.Layout(margin="0 10px 0 0", overflow="visible")))
        self.card.children = [widgets.HBox(boxes, layout=widgets.Layout(flex_flow="row wrap", overflow="visible")),
                              self.view]

    # --- the saved picture
    def picture(self) -> Image.Image:
        """The card as one picture: its panels laid out as the live view lays them out when
        nothing wraps, and its text below."""
        blocks, lines = self._blocks()
        sheets = []
        for block in blocks:
            labelled = any(label for label, _ in block)
            sheets.append(([([(_label_image(label), "")] if label else []) + [(p.image(), p.caption) for p in panels]
                            for label, panels in block], labelled))
        if len(sheets) == 1:
            return sheet(sheets[0][0], self._text_lines(lines), columns=sheets[0][1])
        return sheet([[(sheet(rows, columns=labelled), "") for rows, labelled in sheets]], self._text_lines(lines))

    def snapshot(self) -> bytes:
        """A PNG of what the widget's card shows now: its pictures and its text (for saved notebooks)."""
        return png_bytes(self.picture())

    def summary(self) -> str:
        """What the card's text says, in plain text."""
        return "\n".join(self._text_lines(self._blocks()[1]))

    @staticmethod
    def _text_lines(lines: list[str]) -> list[str]:
        return [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in lines]


def _labelled(name: str, control: widgets.Widget) -> widgets.HBox:
    """``control`` with ``name`` on its left, kept together on one line when the controls wrap
    (ipywidgets puts a ToggleButtons' own description above its buttons)."""
    return widgets.HBox([widgets.Label(name, layout=widgets.Layout(margin="0 6px 0 0")), control],
                        layout=widgets.Layout(align_items="center", flex="0 0 auto", margin="0 12px 4px 0"))


def _show(image_widget: widgets.Image, picture: Image.Image) -> None:
    """Show ``picture`` in ``image_widget`` at its own size (PNG, fast compression: redrawn often;
    not encoded again when unchanged)."""
    pixels = picture.tobytes()
    if getattr(image_widget, "_shown", None) != pixels:
        image_widget.value, image_widget._shown = png_bytes(picture, compress_level=1), pixels
    image_widget.layout.width, image_widget.layout.height = f"{picture.width}px", f"{picture.height}px"


def _lenet5_and_input(net: nn.Module | None, image: torch.Tensor | None) -> tuple[nn.Module, torch.Tensor]:
    net = load_lenet5() if net is None else net
    image = sample_digit()[0] if image is None else image
    if image.shape[-2:] != (32, 32) or image.numel() != 32 * 32:
        raise ValueError(f"image must be one 32x32 digit in [0, 1] (1x32x32), got shape {tuple(image.shape)}.")
    return net, image.reshape(32, 32)


def _signed(value: float) -> str:
    """``value`` for a sum written out: "+ 1.2345" or "- 1.2345"."""
    return f"{'-' if value < 0 else '+'} {abs(value):.4f}"


class ConvStepper(_Stepper):
    """C1 of LeNet-5, one output pixel at a time: the 5x5 window on the input, the window x the
    kernel (25 products), their sum, the bias and the result, and the 28x28 map built so far.

    ``net`` defaults to the shipped trained LeNet-5, ``image`` (1x32x32 in [0, 1]) to a bundled
    MNIST test digit; the network sees ``prepare(image)``. API: ``row.value``, ``col.value``
    (0..27), ``play.value`` (the position counted row by row), ``play.playing``, ``speed.value``,
    ``choice.value`` (C1 map 0..5), ``move_to(row, col)``, ``click("input" or "output", x, y)``,
    ``result`` (a :class:`StepResult`), ``shown_sum``, ``feature_map`` (the map built so far, NaN
    where not visited).

        ConvStepper(row=14, col=10)     # the window on a stroke of the default digit
    """

    grid = (28, 28)
    scales = {"input": 8, "output": 8}

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, channel: int = 0,
                 row: int = 0, col: int = 0, interval_ms: int = 150):
        net, image = _lenet5_and_input(net, image)
        self.x = prepare(image).detach()
        self.weight, self.bias = net.c1.weight.detach()[:, 0], net.c1.bias.detach()
        self._range = F.conv2d(self.x[None, None], self.weight[:, None], self.bias)[0].abs().amax(dim=(1, 2))
        super().__init__([(f"C1 map {i}", i) for i in range(6)], channel, row, col, interval_ms,
                         "lenet-conv-stepper")

    @property
    def result(self) -> StepResult:
        c = self.choice.value
        return conv_step(self.x, self.weight[c], float(self.bias[c]), *self.row_col)

    @property
    def feature_map(self) -> torch.Tensor:
        """The chosen map with every visited position (up to the sliders', row by row) filled by ``conv_step``."""
        c = self.choice.value
        return self._built_so_far(c, lambda r, q: conv_step(self.x, self.weight[c], float(self.bias[c]), r, q).output)

    def _blocks(self) -> tuple[Blocks, list[str]]:
        s, c = self.result, self.choice.value
        kmax, pmax = float(self.weight[c].abs().max()), float(s.products.abs().max()) or 1.0
        built, vmax = self.feature_map, float(self._range[c])
        lo, hi = INPUT_BACKGROUND, INPUT_INK
        rows = [(None, [_heat(self.x, lo, hi, "input 32×32: the window in red\n(click to move it)", "gray",
                              click="input", box=(s.row, s.col, 5, 5)),
                        _heat(built.nan_to_num(0), -vmax, vmax,
                              f"C1 map {c} so far (28×28): this position\nin red, those to come in green",
                              click="output", blank=built.isnan(), blank_rgb=NOT_YET, box=(s.row, s.col, 1, 1))]),
                (None, [_heat(s.window, lo, hi, "the 5×5 window", "gray", scale=36, numbers=True),
                        _heat(s.kernel, -kmax, kmax, f"× C1 kernel {c}", scale=36, numbers=True),
                        _heat(s.products, -pmax, pmax, "= window × kernel", scale=36, numbers=True)])]
        lines = [f"position (row {s.row}, col {s.col}): "
                 f"<span class='lenet-stepper-sum'>sum of the 25 products = {s.total:.4f}</span>",
                 f"+ bias {s.bias:.4f} = <b class='lenet-stepper-output'>{s.output:.4f}</b> "
                 f"(then C1's scaled tanh squashes it)"]
        return [rows], lines


class C3Stepper(_Stepper):
    """One C3 map at one position: each S2 map its connection-table row names contributes its 5x5
    window x its own kernel; the partial sums add up, plus the bias, to the C3 value; and the
    10x10 C3 map built so far.

    API: ``row.value``, ``col.value`` (0..9), ``play.value``, ``choice.value`` (C3 map 0..15),
    ``move_to``, ``click``, ``result`` (a :class:`PartialSum`), ``shown_sum``, ``feature_map``
    (the C3 map built so far, NaN where not visited); ``s2`` holds the six S2 maps of the digit.

        C3Stepper(out_map=6, row=4, col=4)   # C3 map 6 reads S2 maps 0-3
    """

    grid = (10, 10)
    scales = {"input": 6, "output": 12}

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, out_map: int = 0,
                 row: int = 0, col: int = 0, interval_ms: int = 200):
        net, image = _lenet5_and_input(net, image)
        maps = capture_feature_maps(net, prepare(image).view(1, 1, 32, 32), ["s2_act"])
        self.s2, self.s2_max = maps["s2_act"][0], float(net.s2_act.A)
        self.kernels, self.bias = net.c3.full_weight().detach(), net.c3.bias.detach()
        self.table = [tuple(net.c3.mask[o].nonzero().flatten().tolist()) for o in range(net.c3.out_channels)]
        self._range = F.conv2d(self.s2[None], self.kernels, self.bias)[0].abs().amax(dim=(1, 2))
        choices = [(f"C3 map {o} (reads S2 {', '.join(map(str, t))})", o) for o, t in enumerate(self.table)]
        super().__init__(choices, out_map, row, col, interval_ms, "lenet-c3-stepper")

    @property
    def result(self) -> PartialSum:
        o = self.choice.value
        return c3_step(self.s2, self.kernels[o], float(self.bias[o]), self.table[o], *self.row_col)

    @property
    def feature_map(self) -> torch.Tensor:
        """The chosen C3 map with every visited position (up to the sliders', row by row) filled by ``c3_step``."""
        o = self.choice.value
        return self._built_so_far(o, lambda r, q: c3_step(self.s2, self.kernels[o], float(self.bias[o]),
                                                          self.table[o], r, q).output)

    def _blocks(self) -> tuple[Blocks, list[str]]:
        p, o = self.result, self.choice.value
        row, col = self.row_col
        kmax = float(self.kernels[o].abs().max())
        pmax = max(float(s.products.abs().max()) for s in p.steps) or 1.0
        act, n = self.s2_max, len(p.in_maps)
        sums = [f"{p.partials[0]:.4f}"] + [_signed(t) for t in p.partials[1:]]
        sums[-1] += f"\n= {p.total:.4f}"

        def panels(items, lo, hi, cmap, scale):  # one row: a colour bar after its last panel
            return [Panel(heat_image(values, hi, cmap, vmin=lo, scale=scale, box=box),
                          caption, (lo, hi, cmap), bar=k == n - 1, click="input" if box else None)
                    for k, (values, caption, box) in enumerate(items)]

        rows = [("S2 maps it reads\n(14×14), the\nwindow in red",
                 panels([(self.s2[i], f"S2 map {i}", (row, col, 5, 5)) for i in p.in_maps], -act, act, "gray", 6)),
                ("their 5×5\nwindows", panels([(s.window, "window", None) for s in p.steps], -act, act, "gray", 16)),
                ("× one kernel\neach",
                 panels([(s.kernel, f"kernel {i}→{o}", None) for i, s in zip(p.in_maps, p.steps)],
                        -kmax, kmax, "RdBu_r", 16)),
                ("= products;\ntheir sums\nadded up",
                 panels([(s.products, total, None) for s, total in zip(p.steps, sums)], -pmax, pmax, "RdBu_r", 16))]
        built, vmax = self.feature_map, float(self._range[o])
        output = _heat(built.nan_to_num(0), -vmax, vmax,
                       f"C3 map {o} so far (10×10):\nthis position in red,\nthose to come in green",
                       click="output", scale=12, blank=built.isnan(), blank_rgb=NOT_YET, box=(row, col, 1, 1))
        terms = " ".join([f"{p.partials[0]:.4f}"] + [_signed(t) for t in p.partials[1:]])
        lines = [f"C3 map {o} at (row {row}, col {col}) reads S2 maps {', '.join(map(str, p.in_maps))}: "
                 f"{terms} = {p.total:.4f}",
                 f"<span class='lenet-stepper-sum'>sum of the partial sums = {p.total:.4f}</span> "
                 f"+ bias {p.bias:.4f} = <b class='lenet-stepper-output'>{p.output:.4f}</b> "
                 f"(then C3's scaled tanh squashes it)"]
        return [rows, [(None, [output])]], lines


#: The poolings :class:`PoolStepper` can build its output map with, and their names.
POOLINGS = {"average": "average pooling", "max": "max pooling", "subsampling": "LeNet-5's subsampling"}


class PoolStepper(_Stepper):
    """Average pooling, max pooling and LeNet-5's trainable subsampling (S2: coefficient x average
    + bias, then the scaled tanh) on the same 2x2 window of a C1 map (after its tanh), and the
    14x14 output map of the chosen pooling built so far.

    API: ``row.value``, ``col.value`` (0..13), ``play.value``, ``choice.value`` (map 0..5),
    ``pooling.value`` (a key of :data:`POOLINGS`), ``move_to``, ``click``, ``result`` (a
    :class:`PoolResult`), ``pooled_map`` (the chosen pooling's map so far, NaN where not visited).

        PoolStepper(row=7, col=7, pooling="max")
    """

    grid = (14, 14)
    scales = {"input": 8, "output": 16}

    def __init__(self, net: nn.Module | None = None, image: torch.Tensor | None = None, channel: int = 0,
                 row: int = 0, col: int = 0, pooling: str = "subsampling",
                 interval_ms: int = 200):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {pooling!r}.")
        net, image = _lenet5_and_input(net, image)
        self.c1 = capture_feature_maps(net, prepare(image).view(1, 1, 32, 32), ["c1_act"])["c1_act"][0]
        self.c1_max = float(net.c1_act.A)
        self.coefficient, self.bias = net.s2.weight.detach(), net.s2.bias.detach()
        average = F.avg_pool2d(self.c1[None], 2)[0]
        self._range = {"average": average.abs().amax(dim=(1, 2)),
                       "max": F.max_pool2d(self.c1[None], 2)[0].abs().amax(dim=(1, 2)),
                       "subsampling": (self.coefficient[:, None, None] * average
                                       + self.bias[:, None, None]).abs().amax(dim=(1, 2))}
        self.pooling = widgets.ToggleButtons(
            options=[("average", "average"), ("max", "max"), ("LeNet-5's", "subsampling")], value=pooling,
            tooltips=["average pooling: the mean of the 4 values",
                                             "max pooling: the largest of the 4 values",
                                             "LeNet-5's subsampling: coefficient × average + bias"],
            style={"button_width": "auto"})
        self.pooling.add_class("lenet-stepper-pooling")
        super().__init__([(f"C1 map {i}", i) for i in range(6)], channel, row, col, interval_ms,
                         "lenet-pool-stepper", extra_controls=(("pooling", self.pooling),))

    def _input_to_position(self, r: int, c: int) -> tuple[int, int]:
        return r // 2, c // 2  # the window that holds input cell (r, c)

    def _window(self, c: int, row: int, col: int) -> PoolResult:
        return pool_step(self.c1[c], row, col, coefficient=float(self.coefficient[c]), bias=float(self.bias[c]))

    @property
    def result(self) -> PoolResult:
        return self._window(self.choice.value, *self.row_col)

    @property
    def pooled_map(self) -> torch.Tensor:
        """The chosen map pooled the chosen way at every window up to the sliders' (row by row), NaN after."""
        c, pooling = self.choice.value, self.pooling.value
        value = {"average": "average", "max": "maximum", "subsampling": "subsampled"}[pooling]
        return self._built_so_far((c, pooling), lambda r, q: getattr(self._window(c, r, q), value))

    def _blocks(self) -> tuple[Blocks, list[str]]:
        r, c, pooling = self.result, self.choice.value, self.pooling.value
        row, col = self.row_col
        act = self.c1_max
        top = max(act, float(self._range[pooling][c]))  # subsampling may exceed the tanh's range
        built = self.pooled_map
        panels = [_heat(self.c1[c], -act, act, f"C1 map {c} (28×28): the window\nin red (click to move it)", "gray",
                        click="input", box=(2 * row, 2 * col, 2, 2)),
                  _heat(r.patch, -act, act, "the 2×2 window", "gray", scale=48, numbers=True),
                  _heat(built.nan_to_num(0), -top, top,
                        f"{POOLINGS[pooling]} so far (14×14):\nthis window in red, those to come in green", "gray",
                        click="output", scale=16, blank=built.isnan(), blank_rgb=NOT_YET, box=(row, col, 1, 1))]
        chosen = {key: " class='lenet-stepper-output'" if key == pooling else "" for key in POOLINGS}
        lines = [f"window (row {row}, col {col}) = C1 rows {2 * row}-{2 * row + 1}, cols {2 * col}-{2 * col + 1}: "
                 f"<span class='lenet-stepper-sum'>sum of the 4 values = {r.total:.4f}</span>",
                 f"average pooling: sum / 4 = <b{chosen['average']}>{r.average:.4f}</b>; "
                 f"max pooling: <b{chosen['max']}>{r.maximum:.4f}</b>",
                 f"LeNet-5's S2: coefficient {r.coefficient:.4f} × average + bias {r.bias:.4f} = "
                 f"<b{chosen['subsampling']}>{r.subsampled:.4f}</b> (then the scaled tanh)",
                 f"the map on the right shows {POOLINGS[pooling]}"]
        return [[(None, panels)]], lines
