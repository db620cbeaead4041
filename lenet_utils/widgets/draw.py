"""Draw a digit and watch the trained LeNet-5 read it; click a unit to see its receptive field.

    from lenet_utils.widgets.draw import DrawDigit
    DrawDigit()

Three columns of fixed widths in a row that wraps (:data:`LAYOUT`; side by side they take
:data:`LAYOUT_SIZE`, within 1,100 x 760 px): in a narrower notebook a column moves down whole
instead of being squeezed or clipped. They hold the drawing canvas and its buttons, the 32x32 view
the net sees, the legend of its orange tint and a line on the selected unit; the verdict, the ten
probabilities on a log scale (:mod:`~lenet_utils.widgets.probability_bars`) and the colour legend;
the maps of C1, S2, C3 and S4 (each map numbered) and C5 and F6 as strips of bars, one per unit.
Colours: red > 0, white 0, blue < 0, on the scaled tanh's fixed range +-A; the pictures are white
cards and the text takes JupyterLab's theme colours, so both read in the light and the dark theme.

The browser paints the ink as the pointer moves (:data:`PEN_JS`); the kernel gets the same moves
from ipycanvas, rasterises them for the net, reads the drawing at most every :data:`THROTTLE_S`
during a stroke and again when it ends, and then keeps the finished stroke on the canvas. Each
read preprocesses the drawing the MNIST way, runs the net and compares the drawing's ink with
MNIST's training digits (:mod:`~lenet_utils.widgets.digit_statistics`): a drawing with less or
more ink than all but 0.5% of them, cut off by the canvas edge, or that cannot be centred reads
"unlike the digits LeNet-5 learned from" instead of a confident answer. Click a map or a strip: the
nearest unit gets a frame and its receptive field is washed orange on the 32x32 view; for a C3 unit
the S2 maps it reads get an orange frame; click it again, **Deselect** or **Clear** to deselect.
Tests draw with ``draw_strokes``. A PNG of the same layout stays in the notebook for readers
without a kernel (:class:`~lenet_utils.widgets.saved_picture.SavedPicture`).
"""

import asyncio
import html
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property

import ipywidgets as widgets
import numpy as np
import torch
from ipycanvas import Canvas, hold_canvas
from PIL import Image, ImageDraw, ImageFont

from ..checks import whole_number
from ..features import capture_feature_maps
from ..lenet import LeNet5, ScaledTanh
from ..preprocess import is_blank, mnist_style
from ..receptive_fields import Box, c3_inputs, layer_shape, receptive_field
from ..weights import load_lenet5, prepare
from .digit_statistics import digit_statistics, unlike_reason
from .probability_bars import BARS_PX, bars_html, bars_picture, percent
from .saved_picture import SavedPicture, png_bytes
from .sheets import LABEL_FONT, TEXT_FONT, TEXT_RGB, TITLE_FONT, font, new_sheet
from .torch_state import use_threads_here

__all__ = ["CANVAS_SIZE", "LINE_WIDTH", "EXAMPLE_STROKES", "ACT_RANGE", "Grid", "Strip", "GRIDS", "STRIPS",
           "VIEWS", "TITLES", "CAPTURED", "colour_legend", "input_view", "LAYOUT", "LAYOUT_SIZE", "TINT_LEGEND",
           "tint_legend_html", "PEN_JS", "THROTTLE_S", "DrawDigit"]

CANVAS_SIZE = 280  #: the drawing canvas, in pixels (10x MNIST's 28)
LINE_WIDTH = 22    #: pen width on the canvas: about 2 pixels of MNIST's 28x28 after scaling

#: Strokes (lists of (x, y) canvas points) for a few digits: the notebook's starting drawing and tests.
EXAMPLE_STROKES = {
    "0": [[(140, 50), (105, 62), (85, 100), (80, 140), (88, 185), (112, 222), (140, 232), (170, 220),
           (192, 185), (200, 140), (195, 98), (175, 62), (140, 50)]],
    "1": [[(150, 45), (148, 100), (145, 160), (142, 235)]],
    "7": [[(80, 60), (200, 60), (170, 120), (140, 180), (120, 235)]],
}

ACT_RANGE = ScaledTanh().A  # LeNet-5's scaled tanh lies in +-A: the fixed colour range of every map


# ---------------------------------------------------------------- pictures of the layers

WARN_RGB = (170, 60, 0)
EMPTY_RGB = (215, 215, 215)   # a map before anything is drawn
TINT_RGB = (255, 140, 0)                           # the orange of a selected unit's receptive field
FED_FRAME = ((TINT_RGB, 3),)                       # around the S2 maps a selected C3 unit reads
SELECTION_FRAME = (((0, 200, 0), 2), ((0, 0, 0), 1))  # around the selected unit: green, then black
MARGIN_PX, TITLE_PX, LABEL_PX, GAP_PX = 4, 20, 16, 14


def _diverging(v: np.ndarray) -> np.ndarray:
    """Values in +-ACT_RANGE -> RGB: blue (negative), white (0), red (positive)."""
    t = np.clip(v / ACT_RANGE, -1, 1)[..., None]
    red, blue = np.array([-55.0, -225, -225]), np.array([-225.0, -185, -55])  # minus white
    return (255 + np.where(t >= 0, t * red, -t * blue)).astype(np.uint8)


def _frame(out: np.ndarray, top: int, left: int, bottom: int, right: int, rings: Sequence) -> None:
    """Paint ``rings`` ((colour, width), innermost first) around rows top..bottom-1 and columns
    left..right-1 of the image ``out``, leaving the box itself as it is."""
    height, width = out.shape[:2]
    for colour, thickness in rings:
        t, l, b, r = top - thickness, left - thickness, bottom + thickness, right + thickness
        for (y0, y1), (x0, x1) in (((t, top), (l, r)), ((bottom, b), (l, r)), ((top, bottom), (l, left)),
                                   ((top, bottom), (right, r))):
            out[max(y0, 0):min(y1, height), max(x0, 0):min(x1, width), :3] = colour
        top, left, bottom, right = t, l, b, r


def _rgba(sheet: Image.Image) -> np.ndarray:
    return np.array(sheet.convert("RGBA"))


@dataclass(frozen=True)
class Grid:
    """A layer's maps tiled on a canvas, ``per_row`` maps a row, each with its number above it and
    the layer's title on top. Positions and sizes are in units: a unit of the layer is ``scale`` x
    ``scale`` screen pixels, so canvas pixel (x, y) is unit (x / scale, y / scale)."""

    layer: str
    per_row: int
    scale: int

    @property
    def tile(self) -> tuple:
        return layer_shape(self.layer)[1:]

    def _units(self, px: int) -> int:
        return -(-px // self.scale)

    @property
    def size(self) -> tuple:
        """(height, width) of the canvas in units."""
        (h, w), rows = self.tile, -(-layer_shape(self.layer)[0] // self.per_row)
        return (self._units(TITLE_PX) + rows * (self._units(LABEL_PX) + h) + self._units(MARGIN_PX),
                2 * self._units(MARGIN_PX) + self.per_row * w + (self.per_row - 1) * self._units(GAP_PX))

    @property
    def pixels(self) -> tuple:
        """(height, width) of the canvas in screen pixels."""
        return tuple(n * self.scale for n in self.size)

    def origin(self, channel: int) -> tuple:
        """(row, col) in units of map ``channel``'s top-left unit."""
        h, w = self.tile
        row, col = divmod(channel, self.per_row)
        return (self._units(TITLE_PX) + row * (self._units(LABEL_PX) + h) + self._units(LABEL_PX),
                self._units(MARGIN_PX) + col * (w + self._units(GAP_PX)))

    def locate(self, x: float, y: float) -> "tuple | None":
        """(channel, row, col) of the unit at point (x, y) in units, or None between the maps."""
        h, w = self.tile
        for channel in range(layer_shape(self.layer)[0]):
            top, left = self.origin(channel)
            if 0 <= math.floor(y) - top < h and 0 <= math.floor(x) - left < w:
                return channel, math.floor(y) - top, math.floor(x) - left
        return None

    def nearest(self, x: float, y: float) -> tuple:
        """(channel, row, col) of the unit nearest to point (x, y) in units: a click between the
        maps or on a number picks the closest unit of the closest map."""
        h, w = self.tile

        def gap(channel: int) -> float:
            top, left = self.origin(channel)
            return math.hypot(max(left - x, 0, x - (left + w)), max(top - y, 0, y - (top + h)))

        channel = min(range(layer_shape(self.layer)[0]), key=gap)
        top, left = self.origin(channel)
        return channel, min(max(math.floor(y) - top, 0), h - 1), min(max(math.floor(x) - left, 0), w - 1)

    def label_anchor(self, channel: int) -> tuple:
        """(x, y) in pixels of the left end of the baseline of map ``channel``'s number."""
        top, left = self.origin(channel)
        return left * self.scale, top * self.scale - 4

    @cached_property
    def _background(self) -> np.ndarray:
        """The sheet with the title and the maps' numbers, drawn once."""
        sheet, pen = new_sheet(*self.pixels)
        pen.text((MARGIN_PX, 2), TITLES[self.layer], fill=TEXT_RGB, font=font(TITLE_FONT))
        for channel in range(layer_shape(self.layer)[0]):
            pen.text(self.label_anchor(channel), str(channel), fill=TEXT_RGB, font=font(LABEL_FONT), anchor="ls")
        return _rgba(sheet)

    def render(self, maps: "torch.Tensor | None", selected: "tuple | None" = None,
               framed: Sequence[int] = ()) -> np.ndarray:
        """RGBA image (screen pixels) of the maps (C x h x w; None: grey tiles); the ``selected``
        (channel, row, col) unit gets a green and black frame and its map's number a black box, the
        ``framed`` maps an orange frame."""
        out, s = self._background.copy(), self.scale
        h, w = self.tile
        colours = None if maps is None else _diverging(maps.reshape(-1, h, w).numpy())
        for channel in range(layer_shape(self.layer)[0]):
            top, left = (v * s for v in self.origin(channel))
            if channel in framed:
                _frame(out, top, left, top + h * s, left + w * s, FED_FRAME)
            out[top:top + h * s, left:left + w * s, :3] = (
                EMPTY_RGB if colours is None else colours[channel].repeat(s, axis=0).repeat(s, axis=1))
        if selected is not None:
            channel, row, col = selected
            top, left = self.origin(channel)
            _frame(out, (top + row) * s, (left + col) * s, (top + row + 1) * s, (left + col + 1) * s,
                   SELECTION_FRAME)
            sheet = Image.fromarray(out)
            pen, anchor = ImageDraw.Draw(sheet), self.label_anchor(channel)
            x0, y0, x1, _ = pen.textbbox(anchor, str(channel), font=font(LABEL_FONT), anchor="ls")
            pen.rectangle([x0 - 2, y0 - 1, x1 + 1, anchor[1] + 1], fill=(0, 0, 0, 255))
            pen.text(anchor, str(channel), fill=(255, 255, 255, 255), font=font(LABEL_FONT), anchor="ls")
            out = np.array(sheet)
        return out


PLOT_PX, AXIS_PX, TICKS_PX = 64, 40, 18


@dataclass(frozen=True)
class Strip:
    """A dense layer (C5, F6) as a strip of bars, one per unit, ``bar`` pixels apart: up and red
    for a positive activation, down and blue for a negative one, full height at +-ACT_RANGE; unit
    numbers every 20 below. Positions and sizes are in screen pixels (``scale`` 1)."""

    layer: str
    bar: int
    scale = 1

    @property
    def units(self) -> int:
        return layer_shape(self.layer)[0]

    @property
    def size(self) -> tuple:
        """(height, width) of the canvas in pixels."""
        return TITLE_PX + PLOT_PX + TICKS_PX, AXIS_PX + self.units * self.bar + MARGIN_PX

    pixels = size

    def origin(self, unit: int) -> tuple:
        """(row, col) of the top-left pixel of unit ``unit``'s column."""
        return TITLE_PX, AXIS_PX + unit * self.bar

    def locate(self, x: float, y: float) -> "tuple | None":
        """(unit, 0, 0) of the column at pixel (x, y), or None outside the bars."""
        unit = (math.floor(x) - AXIS_PX) // self.bar
        inside = TITLE_PX <= y < TITLE_PX + PLOT_PX and x >= AXIS_PX and unit < self.units
        return (unit, 0, 0) if inside else None

    def nearest(self, x: float, y: float) -> tuple:
        """(unit, 0, 0) of the column nearest to pixel (x, y): a click on the axis, the title or
        the numbers picks the closest bar."""
        return min(max((math.floor(x) - AXIS_PX) // self.bar, 0), self.units - 1), 0, 0

    @cached_property
    def _background(self) -> np.ndarray:
        """The sheet with the title, the value axis and the unit numbers, drawn once."""
        sheet, pen = new_sheet(*self.pixels)
        pen.text((MARGIN_PX, 2), TITLES[self.layer], fill=TEXT_RGB, font=font(TITLE_FONT))
        zero, right = TITLE_PX + PLOT_PX // 2, AXIS_PX + self.units * self.bar
        pen.line([(AXIS_PX, zero), (right, zero)], fill=(170, 170, 170))
        pen.line([(AXIS_PX - 1, TITLE_PX), (AXIS_PX - 1, TITLE_PX + PLOT_PX)], fill=(170, 170, 170))
        for y, value in ((TITLE_PX + 5, f"{ACT_RANGE:+.1f}"), (zero, "0"),
                         (TITLE_PX + PLOT_PX - 5, f"{-ACT_RANGE:+.1f}")):
            pen.text((AXIS_PX - 4, y), value, fill=TEXT_RGB, font=font(LABEL_FONT), anchor="rm")
        for unit in range(0, self.units, 10):
            x = AXIS_PX + unit * self.bar + self.bar // 2
            pen.line([(x, TITLE_PX + PLOT_PX), (x, TITLE_PX + PLOT_PX + 3)], fill=TEXT_RGB)
            if unit % 20 == 0:
                pen.text((x, TITLE_PX + PLOT_PX + 4), str(unit), fill=TEXT_RGB, font=font(LABEL_FONT), anchor="mt")
        return _rgba(sheet)

    def render(self, values: "torch.Tensor | None", selected: "tuple | None" = None) -> np.ndarray:
        """RGBA image of the bars (None: axes only); the ``selected`` (unit, 0, 0) column framed."""
        out = self._background.copy()
        half, zero = PLOT_PX // 2, TITLE_PX + PLOT_PX // 2
        if values is not None:
            v = values.reshape(-1).numpy()
            lengths = np.rint(np.clip(v / ACT_RANGE, -1, 1) * half).astype(int)
            for unit, (length, colour) in enumerate(zip(lengths, _diverging(v))):
                x = AXIS_PX + unit * self.bar
                out[min(zero, zero - length):max(zero, zero - length), x:x + self.bar - 1, :3] = colour
        if selected is not None:
            x = AXIS_PX + selected[0] * self.bar
            _frame(out, TITLE_PX, x, TITLE_PX + PLOT_PX, x + self.bar - 1, SELECTION_FRAME)
        return out


GRIDS = {g.layer: g for g in (Grid("c1", 6, 2), Grid("s2", 6, 4), Grid("c3", 8, 4), Grid("s4", 8, 8))}
STRIPS = {s.layer: s for s in (Strip("c5", 3), Strip("f6", 4))}
VIEWS = {**GRIDS, **STRIPS}  # every layer's picture, in the network's order
TITLES = {"c1": "C1 (6 maps, 28x28)", "s2": "S2 (6 maps, 14x14)", "c3": "C3 (16 maps, 10x10)",
          "s4": "S4 (16 maps, 5x5)", "c5": "C5 (120 units)", "f6": "F6 (84 units)"}
CAPTURED = {"c1": "c1_act", "s2": "s2_act", "c3": "c3_act", "s4": "s4_act", "c5": "c5_act", "f6": "f6_act"}


def input_view(x: torch.Tensor, box: "Box | None" = None) -> np.ndarray:
    """RGBA 32x32 picture of what the network sees (ink light on dark, as MNIST); outside the
    receptive field ``box`` dimmed and the box washed orange."""
    grey = (x[0].numpy() * 255).astype(np.float32)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if box is not None:
        inside = np.zeros(grey.shape, bool)
        inside[box.slices] = True
        rgb[~inside] *= 0.3
        rgb[inside] = 0.6 * rgb[inside] + 0.4 * np.array(TINT_RGB, dtype=float)
    out = np.empty(grey.shape + (4,), np.uint8)
    out[..., :3], out[..., 3] = rgb.astype(np.uint8), 255
    return out


LEGEND_PX = (250, 56)  # (width, height)


@cache
def colour_legend() -> Image.Image:
    """The colour bar of every map and strip: blue -A, white 0, red +A, with those numbers."""
    width, height = LEGEND_PX
    sheet, pen = new_sheet(height, width)
    pen.text((0, 0), f"Colour: activation, range \u00b1A = \u00b1{ACT_RANGE:.4g}", fill=TEXT_RGB,
             font=font(LABEL_FONT))
    left, right = 20, width - 20
    colours = _diverging(np.linspace(-ACT_RANGE, ACT_RANGE, right - left))
    sheet.paste(Image.fromarray(np.repeat(colours[None], 14, axis=0)), (left, 20))
    pen.rectangle([left - 1, 19, right, 34], outline=(120, 120, 120))
    for x, text in ((left, f"{-ACT_RANGE:+.2f}"), ((left + right) // 2, "0"), (right, f"{ACT_RANGE:+.2f}")):
        pen.text((x, 38), text, fill=TEXT_RGB, font=font(LABEL_FONT), anchor="mt")
    return sheet


# ---------------------------------------------------------------- the layout (screen pixels)

SEEN_SCALE, ROW_GAP, COLUMN_GAP = 5, 4, 16
#: The legend of the orange tint, under the 32x32 view: (swatch, text) lines.
TINT_LEGEND = (("wash", "the selected unit's receptive field: the input pixels it sees (the rest dimmed)"),
               ("frame", "a C3 unit's inputs: the S2 maps it reads"))
TINT_LINE_PX, TINT_SWATCH_PX = 18, 12
TINT_H = 4 * TINT_LINE_PX
LEFT_W, MIDDLE_W = CANVAS_SIZE + 2, 250  # the drawing canvas has a 1-pixel border
#: The widget's three columns of (name, width, height), top to bottom.
COLUMNS = ((("drawing", LEFT_W, CANVAS_SIZE + 2), ("buttons", LEFT_W, 28), ("seen_title", LEFT_W, 20),
            ("seen", 32 * SEEN_SCALE, 32 * SEEN_SCALE), ("tint", LEFT_W, TINT_H), ("info", LEFT_W, 112)),
           (("verdict", MIDDLE_W, 110), ("bars", *BARS_PX), ("legend", *LEGEND_PX)),
           tuple((layer, view.pixels[1], view.pixels[0]) for layer, view in VIEWS.items()))


def _positions(columns: Sequence) -> tuple:
    """{name: (x, y, width, height)} of every element, and the (width, height) of the whole."""
    where, x, height = {}, 0, 0
    for column in columns:
        y = 0
        for name, w, h in column:
            where[name] = (x, y, w, h)
            y += h + ROW_GAP
        x, height = x + max(w for _, w, _ in column) + COLUMN_GAP, max(height, y)
    return where, (x - COLUMN_GAP, height)


LAYOUT, LAYOUT_SIZE = _positions(COLUMNS)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list:
    """``text`` broken into lines no wider than ``width`` pixels."""
    lines = [""]
    for word in text.split():
        trial = f"{lines[-1]} {word}".strip()
        if font.getlength(trial) <= width or not lines[-1]:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


# ---------------------------------------------------------------- the widget

def _pixel_canvas(height: int, width: int, scale: int, name: str) -> Canvas:
    """A canvas of native pixels shown ``scale`` times larger, unsmoothed, with CSS class ``name``."""
    layout = widgets.Layout(width=f"{width * scale}px", height=f"{height * scale}px", margin=f"0 0 {ROW_GAP}px 0")
    return Canvas(width=width, height=height, layout=layout, _dom_classes=["lenet-pixelated", name])


#: Text colours from JupyterLab's theme (the warning's own pair, readable on the light and the dark
#: theme), the canvases' cursors, and no page scrolling while a finger draws.
STYLE = """<style>
.lenet-draw .lenet-text { color: var(--jp-ui-font-color1); }
.lenet-draw .lenet-warn { color: #a33b00; }
body[data-jp-theme-light='false'] .lenet-draw .lenet-warn { color: #ffa45c; }
.lenet-pixelated { image-rendering: pixelated; }
.lenet-map, .lenet-draw-canvas { cursor: crosshair; }
.lenet-draw-canvas { touch-action: none; }
.lenet-draw .lenet-columns { gap: GAPpx; }
</style>""".replace("GAP", str(COLUMN_GAP))

#: The pen in the browser: it paints the stroke being drawn on the drawing canvas as the pointer
#: moves, with no round trip through the kernel (which still gets every event from ipycanvas and
#: rasterises the same stroke for the net). The kernel draws each finished stroke on the canvas
#: itself, and every kernel redraw of the canvas wipes what the pen painted; so the pen repaints the
#: whole stroke at each move. It runs once per view, from a 1-pixel image's onload in ``STYLE``'s widget.
PEN_JS = """(function (img) {
  var root = img.closest('.lenet-draw');
  if (!root) { setTimeout(function () { img.onload(); }, 50); return; }
  if (root.dataset.pen) return;
  root.dataset.pen = 'on';
  var points = null, canvas = null;
  function at(e) { var r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height]; }
  function paint() { var c = canvas.getContext('2d'); c.save();
    c.strokeStyle = 'black'; c.lineWidth = WIDTH; c.lineCap = c.lineJoin = 'round'; c.beginPath();
    c.moveTo(points[0][0], points[0][1]);
    for (var i = 1; i < points.length; i++) c.lineTo(points[i][0], points[i][1]);
    if (points.length === 1) c.lineTo(points[0][0] + 0.01, points[0][1]);
    c.stroke(); c.restore(); }
  root.addEventListener('pointerdown', function (e) {
    if (!e.target.classList.contains('lenet-draw-canvas')) return;
    canvas = e.target; points = [at(e)]; paint(); });
  root.addEventListener('pointermove', function (e) {
    if (points && e.target === canvas && e.buttons) { points.push(at(e)); paint(); } });
  ['pointerup', 'pointercancel', 'pointerout'].forEach(function (type) {
    root.addEventListener(type, function (e) { if (e.target === canvas) points = null; }); });
})(this)"""
PIXEL_GIF = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
THROTTLE_S = 0.15  #: during a stroke, the net reads the drawing at most this often (seconds)


@cache
def _reader() -> ThreadPoolExecutor:
    """The thread where every DrawDigit reads a drawing (preprocessing, the net, the statistics), on
    one torch thread: work this small is fastest on one (on a busy 2-core machine a forward pass
    takes 1 ms on one thread against 5-120 ms on two), and the notebook's own thread count stays
    the learner's (:func:`use_threads_here`)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="lenet-draw-read",
                              initializer=use_threads_here, initargs=(1,))


def _text(html_text: str, size: int, line_px: int, kind: str = "text") -> str:
    """A div of ``html_text`` in the theme's text colour (``kind`` "warn": the warning's colour)."""
    return f"<div class='lenet-{kind}' style='font-size:{size}px;line-height:{line_px}px'>{html_text}</div>"


def _column(children: list, width: int) -> widgets.VBox:
    """A column of the widget: fixed width, never squeezed; the columns wrap to a new row instead
    (COLUMN_GAP apart, across and down: ``.lenet-columns`` in :data:`STYLE`)."""
    return widgets.VBox(children, layout=widgets.Layout(width=f"{width}px", flex="0 0 auto", margin="0"))


def _place(name: str, text: bool = False) -> widgets.Layout:
    """Element ``name``'s size from :data:`LAYOUT` and the gap below it; for ``text``, the height is
    a minimum (the text may need more), for a picture it is exact (pictures are shown 1:1)."""
    _, _, w, h = LAYOUT[name]
    return widgets.Layout(width=f"{w}px", margin=f"0 0 {ROW_GAP}px 0",
                          **({"min_height": f"{h}px"} if text else {"height": f"{h}px"}))


def tint_legend_html() -> str:
    """The legend of the orange tint (:data:`TINT_LEGEND`) as HTML: a swatch and its meaning per line."""
    swatch = {"wash": f"background:rgb{TINT_RGB}", "frame": f"border:3px solid rgb{TINT_RGB};box-sizing:border-box"}
    rows = "".join(
        f"<div style='display:flex;gap:6px;align-items:flex-start'><span style='flex:0 0 {TINT_SWATCH_PX}px;"
        f"height:{TINT_SWATCH_PX}px;margin-top:3px;{swatch[kind]}'></span><span>{html.escape(text)}</span></div>"
        for kind, text in TINT_LEGEND)
    return _text(rows, TEXT_FONT, TINT_LINE_PX)


class DrawDigit(SavedPicture):
    """The draw-a-digit widget around a trained LeNet-5 (default: the shipped ``load_lenet5()``).

    Python API (what the mouse does, for tests and scripts): ``draw_strokes(strokes)``, ``clear()``,
    ``select_unit(layer, channel, row, col)``, ``select_unit(None)`` or ``clear_selection()``; read
    ``prediction`` (None while blank), ``probabilities`` (10 floats or None), ``unlike`` (why the
    drawing is unlike MNIST's digits, or None), ``statistics`` (its :func:`digit_statistics`),
    ``drawing`` (280x280 ink), ``image`` (1x32x32, what the net sees), ``maps`` (per layer),
    ``selected``, ``highlight`` (a ``receptive_fields.Box``) and ``fed_maps`` (C3 only).

        pad = DrawDigit().draw_strokes(EXAMPLE_STROKES["7"]); pad.select_unit("c3", 7, 3, 4)
    """

    def __init__(self, net: "LeNet5 | None" = None, line_width: int = LINE_WIDTH) -> None:
        self.line_width = whole_number("line_width", line_width)  # pixels of the pen on the canvas
        self.net = (net if net is not None else load_lenet5()).eval()
        self.strokes: list[list[tuple[float, float]]] = []
        self.image = torch.zeros(1, 32, 32)
        self.maps: dict[str, torch.Tensor] = {}
        self.probabilities: "np.ndarray | None" = None
        self.statistics: "dict | None" = None
        self.unlike: "str | None" = None
        self.selected: "tuple | None" = None
        self._ink = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE))
        self._pen: "list | None" = None  # the stroke being drawn
        self._read_at = 0.0  # when the net last read the drawing (time.monotonic)
        self._unread = False  # moves since that read
        self._later: "asyncio.TimerHandle | None" = None  # a read waiting for the throttle
        self._shown: dict[str, np.ndarray] = {}  # what each map canvas shows now

        self.canvas = Canvas(width=CANVAS_SIZE, height=CANVAS_SIZE, layout=widgets.Layout(
            width=f"{CANVAS_SIZE}px", height=f"{CANVAS_SIZE}px", border="1px solid #999",
            margin=f"0 0 {ROW_GAP}px 0"))
        self.canvas.add_class("lenet-draw-canvas")
        for register, handler in ((self.canvas.on_mouse_down, self._down), (self.canvas.on_mouse_move, self._move),
                                  (self.canvas.on_mouse_up, self._up), (self.canvas.on_mouse_out, self._up)):
            register(handler)
        self.canvas.on_touch_start(lambda touches: touches and self._down(*touches[0]))
        self.canvas.on_touch_move(lambda touches: touches and self._move(*touches[0]))
        for register in (self.canvas.on_touch_end, self.canvas.on_touch_cancel):
            register(lambda touches: self._up())
        button = dict(width="120px", height="28px", margin="0 8px 0 0")
        self.clear_button = widgets.Button(description="Clear", icon="eraser", layout=widgets.Layout(**button),
                                           tooltip="wipe the drawing and the selection")
        self.clear_button.on_click(lambda _: self.clear())
        self.deselect_button = widgets.Button(description="Deselect", icon="times", disabled=True,
                                              tooltip="deselect the unit (or click it again)",
                                              layout=widgets.Layout(**button))
        self.deselect_button.on_click(lambda _: self.clear_selection())
        self.seen = _pixel_canvas(32, 32, SEEN_SCALE, "lenet-seen")
        self.verdict = widgets.HTML(layout=_place("verdict", text=True))
        self.bars = widgets.HTML(layout=_place("bars", text=True), _dom_classes=["lenet-bars"])
        self.info = widgets.HTML(layout=_place("info", text=True), _dom_classes=["lenet-selection"])
        legend = widgets.Image(value=png_bytes(colour_legend()), format="png", layout=_place("legend"))
        self.map_canvases = {}
        for layer, view in VIEWS.items():
            height, width = view.pixels
            canvas = Canvas(width=width, height=height, layout=_place(layer),
                            _dom_classes=["lenet-map", f"lenet-map-{layer}"])
            canvas.on_mouse_down(lambda x, y, layer=layer: self._click(layer, x, y))
            self.map_canvases[layer] = canvas
        pen = f"<img src='{PIXEL_GIF}' alt='' onload=\"{html.escape(PEN_JS.replace('WIDTH', str(self.line_width)))}\">"
        buttons = widgets.HBox([self.clear_button, self.deselect_button], layout=_place("buttons"))
        columns = [_column([self.canvas, buttons,
                            widgets.HTML(_text("<b>What LeNet-5 sees</b> (32x32)", TITLE_FONT, 20),
                                         layout=_place("seen_title", text=True)),
                            self.seen, widgets.HTML(tint_legend_html(), layout=_place("tint", text=True)), self.info],
                           LEFT_W),
                   _column([self.verdict, self.bars, legend], MIDDLE_W),
                   _column(list(self.map_canvases.values()), max(w for _, w, _ in COLUMNS[2]))]
        self.ui = widgets.VBox([
            widgets.HTML(STYLE + pen, layout=widgets.Layout(width="0px", height="0px", margin="0", overflow="hidden")),
            widgets.HBox(columns, layout=widgets.Layout(flex_flow="row wrap"), _dom_classes=["lenet-columns"])],
            _dom_classes=["lenet-draw"])
        self._reset_canvas()
        self._update()

    # ---------------------------------------------------------------- what the mouse does

    def _down(self, x: float, y: float) -> None:
        self._pen = [(x, y)]
        self._read_at = time.monotonic()
        self._dot(x, y)

    def _move(self, x: float, y: float) -> None:
        """A move with the button down: the browser has painted it; rasterise it for the net, and
        let the net read the drawing (:meth:`_read_soon`)."""
        if self._pen is not None:
            x0, y0 = self._pen[-1]
            self._pen.append((x, y))
            ImageDraw.Draw(self._ink).line([(x0, y0), (x, y)], fill=255, width=self.line_width)
            self._dot(x, y)
            self._unread = True
            self._read_soon()

    def _read_soon(self, timer: bool = False) -> None:
        """During a stroke, read the unread moves now if :data:`THROTTLE_S` has passed since the
        last read, else once it has: on the kernel's event loop, so moves that arrive in a burst
        (the kernel was busy) and then stop are still read before the mouse is released. Without an
        event loop (a plain script) the next move or the mouse-up reads them. ``timer``: called by
        the waiting read itself."""
        if timer:
            self._later = None
        if self._pen is None or not self._unread:
            return
        wait = THROTTLE_S - (time.monotonic() - self._read_at)
        if wait <= 0:
            self._cancel_read()
            self._update(picture=False)
        elif self._later is None:
            try:
                self._later = asyncio.get_running_loop().call_later(wait, self._read_soon, True)
            except RuntimeError:  # no running event loop
                pass

    def _cancel_read(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None

    def _up(self, x: "float | None" = None, y: "float | None" = None) -> None:
        self._cancel_read()  # the mouse-up reads the stroke anyway
        if self._pen is not None:
            stroke, self._pen = self._pen, None
            self.strokes.append(stroke)
            with hold_canvas():  # the stroke the browser painted, now kept by the canvas itself
                if len(stroke) == 1:
                    self.canvas.fill_circle(*stroke[0], self.line_width / 2)
                else:
                    self.canvas.stroke_lines(stroke)
            self._update()

    def _dot(self, x: float, y: float) -> None:
        r = self.line_width / 2
        ImageDraw.Draw(self._ink).ellipse([x - r, y - r, x + r, y + r], fill=255)

    def _click(self, layer: str, x: float, y: float) -> None:
        """A click on a layer's canvas at pixel (x, y): select the nearest unit, or deselect it
        when it is the selected one."""
        view = VIEWS[layer]
        unit = view.nearest(x / view.scale, y / view.scale)
        if (layer, *unit) == self.selected:
            self.clear_selection()
        else:
            self.select_unit(layer, *unit)

    # ---------------------------------------------------------------- the Python API

    def draw_strokes(self, strokes: Sequence[Sequence[tuple[float, float]]]) -> "DrawDigit":
        """Draw each stroke (a list of (x, y) canvas points) as the mouse would, then update."""
        if any(len(stroke) == 0 for stroke in strokes):
            raise ValueError("every stroke needs at least one (x, y) point; nothing was drawn.")
        for stroke in strokes:
            self._down(*stroke[0])
            for point in stroke[1:]:
                self._move(*point)
            self._up()
        return self

    def clear(self) -> None:
        """Wipe the drawing and deselect the selected unit (the **Clear** button)."""
        self.strokes, self._pen, self.selected = [], None, None
        self.deselect_button.disabled = True
        self._ink = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE))
        self._reset_canvas()
        self._update()

    def select_unit(self, layer: "str | None", channel: "int | None" = None, row: int = 0, col: int = 0) -> None:
        """Highlight what unit (channel, row, col) of ``layer`` (c1, s2, c3, s4, c5, f6) sees;
        ``select_unit(None)`` deselects."""
        if layer is None:
            self.selected = None
        else:
            if layer not in VIEWS:
                raise ValueError(f"pick a unit of one of the layers {', '.join(VIEWS)}; got {layer!r}.")
            if channel is None:
                raise ValueError(f"say which unit of {layer}: select_unit({layer!r}, channel, row, col), "
                                 f"e.g. select_unit('c3', 7, 3, 4).")
            receptive_field(layer, channel, row, col)  # checks the unit exists
            self.selected = (layer, channel, row, col)
        self.deselect_button.disabled = self.selected is None
        self._render_views()
        self.refresh_picture()

    def clear_selection(self) -> None:
        """Deselect the selected unit (as the **Deselect** button does)."""
        self.select_unit(None)

    @property
    def prediction(self) -> "int | None":
        """The predicted digit, or None when nothing is drawn (see ``unlike`` for how much it means)."""
        return None if self.probabilities is None else int(np.argmax(self.probabilities))

    @property
    def drawing(self) -> np.ndarray:
        """The drawing as the widget rasterised it: 280x280 uint8 ink (0 blank, 255 ink)."""
        return np.array(self._ink)

    @property
    def highlight(self) -> "Box | None":
        """The receptive field of the selected unit in the 32x32 input."""
        return None if self.selected is None else receptive_field(*self.selected)

    @property
    def fed_maps(self) -> tuple:
        """For a selected C3 unit, the S2 maps its map reads; else ()."""
        return c3_inputs(self.selected[1]) if self.selected and self.selected[0] == "c3" else ()

    # ---------------------------------------------------------------- updating the views

    def _reset_canvas(self) -> None:
        with hold_canvas():
            self.canvas.clear()
            self.canvas.fill_style = "white"
            self.canvas.fill_rect(0, 0, CANVAS_SIZE, CANVAS_SIZE)
            self.canvas.fill_style = self.canvas.stroke_style = "black"
            self.canvas.line_width = self.line_width
            self.canvas.line_cap = self.canvas.line_join = "round"

    def _update(self, picture: bool = True) -> None:
        """Preprocess the drawing, run the net, judge the drawing, redraw the live views and (with
        ``picture``; not during a stroke) the saved picture."""
        self.image, out, self.statistics = _reader().submit(self._read, self.drawing).result()
        if out is None:
            self.maps, self.probabilities, self.unlike = {}, None, None
        else:
            self.maps = {layer: out[name][0] for layer, name in CAPTURED.items()}
            self.probabilities = torch.softmax(out["output"][0], dim=0).numpy()
            self.unlike = unlike_reason(self.statistics)
        digit = "" if self.prediction is None else self.prediction
        lines = "".join(_text(html.escape(text), size, round(size * 1.25), "warn" if colour == WARN_RGB else "text")
                        for text, size, colour in self.verdict_lines())
        # the bars first: the page never shows a verdict ahead of its bars
        self.bars.value = bars_html(self.probabilities, self.prediction, doubt=self.unlike is not None)
        self.verdict.value = (f"<div class='lenet-prediction' data-digit='{digit}' data-strokes="
                              f"'{len(self.strokes)}' data-unlike='{html.escape(self.unlike or '')}'>{lines}</div>")
        self._render_views()
        if picture:
            self.refresh_picture()
        self._read_at, self._unread = time.monotonic(), False  # the throttle leaves the kernel THROTTLE_S free

    def _read(self, drawing: np.ndarray) -> tuple:
        """(image, the net's captured outputs, digit statistics) of a drawing; (image, None, None)
        when it is blank. Runs on :func:`_reader`'s thread."""
        image = mnist_style(drawing)
        if is_blank(image):
            return image, None, None
        out = capture_feature_maps(self.net, prepare(image)[None], layers=[*CAPTURED.values(), "output"])
        return image, out, digit_statistics(drawing, image)

    def verdict_lines(self) -> list:
        """The verdict as (text, font size, RGB colour) lines: the same words in the page and the picture."""
        if self.prediction is None:
            return [("Draw a digit on the white square.", 15, TEXT_RGB)]
        if self.unlike is not None:
            return [(f"Unlike the digits LeNet-5 learned from ({self.unlike}): its answer means little "
                     f"(it would say {self.prediction}).", 15, WARN_RGB)]
        return [("LeNet-5 reads", 15, TEXT_RGB), (str(self.prediction), 40, TEXT_RGB),
                (f"with probability {percent(self.probabilities[self.prediction])}", 15, TEXT_RGB)]

    def _render_views(self) -> None:
        with hold_canvas():
            self.seen.put_image_data(input_view(self.image, self.highlight))
            for layer, picture in self.panes().items():
                if not np.array_equal(picture, self._shown.get(layer)):
                    self.map_canvases[layer].put_image_data(picture)
                    self._shown[layer] = picture
        self.info.value = _text(html.escape(self.describe_selection()), TEXT_FONT, 18)

    def panes(self) -> dict:
        """Each layer's picture (RGBA, screen pixels), with the selected unit and C3's inputs framed."""
        out = {}
        for layer, view in VIEWS.items():
            selected = self.selected[1:] if self.selected and self.selected[0] == layer else None
            framed = {"framed": self.fed_maps} if layer == "s2" else {}
            out[layer] = view.render(self.maps.get(layer), selected, **framed)
        return out

    def describe_selection(self) -> str:
        """One line on the selected unit: where it is, what it sees, what it reads."""
        if self.selected is None:
            return ("Click a unit of any map or strip, C1 to F6, to see which input pixels it sees; "
                    "click it again to deselect.")
        layer, channel, row, col = self.selected
        box = self.highlight
        where = f"unit {channel}" if layer in STRIPS else f"map {channel}, row {row}, column {col}"
        text = (f"{layer.upper()} {where}: sees input rows {box.top}-{box.bottom - 1}, columns "
                f"{box.left}-{box.right - 1} ({box.size[0]}x{box.size[1]} of the 32x32 pixels)")
        if layer == "c3":
            text += f"; reads S2 maps {', '.join(map(str, self.fed_maps))} (framed orange)"
        if self.maps:
            text += f"; value {self.maps[layer].reshape(layer_shape(layer))[channel, row, col]:+.2f}"
        return text + "."

    # ---------------------------------------------------------------- the picture for readers

    def picture(self) -> Image.Image:
        """The widget as one picture, laid out as :data:`LAYOUT` (each element at its place)."""
        sheet, pen = new_sheet(LAYOUT_SIZE[1], LAYOUT_SIZE[0])

        def at(name: str) -> tuple:
            return LAYOUT[name][:2]

        x, y = at("drawing")
        pen.rectangle([x, y, x + CANVAS_SIZE + 1, y + CANVAS_SIZE + 1], outline=(153, 153, 153))
        sheet.paste(Image.eval(self._ink, lambda v: 255 - v), (x + 1, y + 1))
        x, y = at("seen_title")
        pen.text((x, y + 2), "What LeNet-5 sees (32x32)", fill=TEXT_RGB, font=font(TITLE_FONT))
        seen = Image.fromarray(input_view(self.image, self.highlight)[..., :3])
        sheet.paste(seen.resize((32 * SEEN_SCALE, 32 * SEEN_SCALE), Image.NEAREST), at("seen"))
        x, y = at("tint")
        for kind, text in TINT_LEGEND:  # as tint_legend_html lays it out: a swatch, the text beside it
            box = [x, y + 3, x + TINT_SWATCH_PX - 1, y + 3 + TINT_SWATCH_PX - 1]
            pen.rectangle(box, **({"fill": TINT_RGB} if kind == "wash" else {"outline": TINT_RGB, "width": 3}))
            for line in _wrap(text, font(TEXT_FONT), LEFT_W - TINT_SWATCH_PX - 6):
                pen.text((x + TINT_SWATCH_PX + 6, y), line, fill=TEXT_RGB, font=font(TEXT_FONT))
                y += TINT_LINE_PX
        x, y = at("info")
        for line in _wrap(self.describe_selection(), font(TEXT_FONT), LEFT_W):
            pen.text((x, y), line, fill=TEXT_RGB, font=font(TEXT_FONT))
            y += 18
        x, y = at("verdict")
        for text, size, colour in self.verdict_lines():
            for line in _wrap(text, font(size), MIDDLE_W):
                pen.text((x, y), line, fill=colour, font=font(size))
                y += round(size * 1.25)
        sheet.paste(bars_picture(self.probabilities, self.prediction, doubt=self.unlike is not None), at("bars"))
        sheet.paste(colour_legend(), at("legend"))
        for layer, picture in self.panes().items():
            sheet.paste(Image.fromarray(picture[..., :3]), at(layer))
        return sheet

    def snapshot(self) -> bytes:
        """A PNG of the widget's state, as :meth:`picture` draws it."""
        return png_bytes(self.picture())

    def summary(self) -> str:
        """The prediction in words."""
        doubt = "" if self.unlike is None else f" (unlike MNIST's digits: {self.unlike}, so it means little)"
        return f"DrawDigit: prediction {self.prediction}{doubt}"
