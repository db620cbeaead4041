"""Draw a digit and watch the trained LeNet-5 read it; click a unit to see its receptive field.

    from lenet_utils.widgets.draw import DrawDigit
    DrawDigit()

After each stroke (mouse or finger) the drawing is preprocessed the MNIST way, shown as the net
sees it (32x32), and the prediction, the ten probabilities and the maps of C1, S2, C3, S4, C5 and
F6 (red > 0, blue < 0) update. Click a map pixel: its receptive field lights up on the 32x32 view;
for a C3 unit the S2 maps it reads get an orange frame. Strokes are rasterised in Python from the
mouse positions (no waiting for the browser's pixels; tests draw with ``draw_strokes``). Each layer
is tiled as a grid of pixels (:data:`GRIDS`: where each unit sits, and its colour on a fixed
scale). A PNG of the state stays in the notebook for GitHub/nbviewer/PDF readers (hidden in
JupyterLab; :class:`~lenet_utils.widgets.saved_picture.SavedPicture`).
"""

import html
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from ipycanvas import Canvas, hold_canvas
from PIL import Image, ImageDraw

from ..features import capture_feature_maps
from ..models import LeNet5, ScaledTanh
from ..preprocess import is_blank, mnist_style
from ..receptive import Box, c3_inputs, layer_shape, receptive_field
from ..weights import load_lenet5, prepare
from .saved_picture import SavedPicture, png_bytes

__all__ = ["CANVAS_SIZE", "LINE_WIDTH", "EXAMPLE_STROKES", "ACT_RANGE", "Grid", "GRIDS", "TITLES", "CAPTURED",
           "input_view", "DrawDigit"]

CANVAS_SIZE = 280  #: the drawing canvas, in pixels (10x MNIST's 28)
LINE_WIDTH = 22    #: pen width on the canvas: about 2 pixels of MNIST's 28x28 after scaling

#: Strokes (lists of (x, y) canvas points) for a few digits: the notebook's starting drawing and tests.
EXAMPLE_STROKES = {
    "0": [[(140, 50), (105, 62), (85, 100), (80, 140), (88, 185), (112, 222), (140, 232), (170, 220),
           (192, 185), (200, 140), (195, 98), (175, 62), (140, 50)]],
    "1": [[(150, 45), (148, 100), (145, 160), (142, 235)]],
    "7": [[(80, 60), (200, 60), (170, 120), (140, 180), (120, 235)]],
}


# ---------------------------------------------------------------- LeNet-5's layers as pixel grids

ACT_RANGE = ScaledTanh().A  # LeNet-5's scaled tanh lies in +-A: the fixed colour range of every map


@dataclass(frozen=True)
class Grid:
    """A layer's maps tiled on a canvas, ``per_row`` tiles with ``gap`` pixels around each, at
    native size, shown ``scale`` times larger. Dense layers (C5, F6): one pixel per unit, no gap."""

    layer: str
    per_row: int
    scale: int
    gap: int = 1

    @property
    def tile(self) -> tuple:
        return layer_shape(self.layer)[1:]

    @property
    def size(self) -> tuple:
        """(height, width) of the canvas in native pixels."""
        (h, w), rows = self.tile, -(-layer_shape(self.layer)[0] // self.per_row)
        return self.gap + rows * (h + self.gap), self.gap + self.per_row * (w + self.gap)

    def origin(self, channel: int) -> tuple:
        h, w = self.tile
        return (self.gap + (channel // self.per_row) * (h + self.gap),
                self.gap + (channel % self.per_row) * (w + self.gap))

    def locate(self, x: float, y: float) -> "tuple | None":
        """(channel, row, col) of the unit under canvas point (x, y), or None in a gap."""
        h, w = self.tile
        tr, r = divmod(int(y) - self.gap, h + self.gap)
        tc, c = divmod(int(x) - self.gap, w + self.gap)
        channel = tr * self.per_row + tc
        if min(tr, tc, r, c) < 0 or r >= h or c >= w or tc >= self.per_row \
                or channel >= layer_shape(self.layer)[0]:
            return None
        return channel, r, c

    def render(self, maps: "torch.Tensor | None", selected: "tuple | None" = None,
               framed: Sequence[int] = ()) -> np.ndarray:
        """RGBA image of the maps (C x h x w, or C values for a dense layer); ``selected``
        (channel, row, col) is marked green, the ``framed`` channels get an orange frame."""
        out = np.full(self.size + (4,), 235, np.uint8)
        out[..., 3] = 255
        h, w = self.tile
        colours = None if maps is None else _diverging(maps.reshape(-1, h, w).numpy())
        for ch in range(layer_shape(self.layer)[0]):
            y, x = self.origin(ch)
            if ch in framed:
                out[y - 1:y + h + 1, x - 1:x + w + 1, :3] = (255, 140, 0)
            out[y:y + h, x:x + w, :3] = 200 if colours is None else colours[ch]
        if selected is not None:
            ch, r, c = selected
            y, x = self.origin(ch)
            out[y + r, x + c, :3] = (0, 200, 0)
        return out


GRIDS = {g.layer: g for g in (Grid("c1", 6, 3), Grid("s2", 6, 6), Grid("c3", 8, 6), Grid("s4", 8, 12),
                              Grid("c5", 12, 8, gap=0), Grid("f6", 7, 8, gap=0))}
TITLES = {"c1": "C1 (6 maps, 28x28)", "s2": "S2 (6 maps, 14x14)", "c3": "C3 (16 maps, 10x10)",
          "s4": "S4 (16 maps, 5x5)", "c5": "C5 (120 units)", "f6": "F6 (84 units)"}
CAPTURED = {"c1": "c1_act", "s2": "s2_act", "c3": "c3_act", "s4": "s4_act", "c5": "c5_act", "f6": "f6_act"}


def _diverging(v: np.ndarray) -> np.ndarray:
    """Values in +-ACT_RANGE -> RGB: blue (negative), white (0), red (positive)."""
    t = np.clip(v / ACT_RANGE, -1, 1)[..., None]
    red, blue = np.array([-55.0, -225, -225]), np.array([-225.0, -185, -55])  # minus white
    return (255 + np.where(t >= 0, t * red, -t * blue)).astype(np.uint8)


def input_view(x: torch.Tensor, box: "Box | None" = None) -> np.ndarray:
    """RGBA 32x32 picture of what the network sees (ink light on dark, as MNIST); outside the
    receptive field ``box`` dimmed and the box washed orange."""
    grey = (x[0].numpy() * 255).astype(np.float32)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if box is not None:
        inside = np.zeros(grey.shape, bool)
        inside[box.slices] = True
        rgb[~inside] *= 0.3
        rgb[inside] = 0.6 * rgb[inside] + 0.4 * np.array([255.0, 140, 0])
    out = np.empty(grey.shape + (4,), np.uint8)
    out[..., :3], out[..., 3] = rgb.astype(np.uint8), 255
    return out


# ---------------------------------------------------------------- the widget

def _pixel_canvas(height: int, width: int, scale: int, name: str) -> Canvas:
    """A canvas of native pixels shown ``scale`` times larger, unsmoothed, with CSS class ``name``."""
    layout = widgets.Layout(width=f"{width * scale}px", height=f"{height * scale}px")
    return Canvas(width=width, height=height, layout=layout, _dom_classes=["lenet-pixelated", name])


SPACED = {"margin": "0 24px 0 0"}
STYLE = "<style>.lenet-pixelated { image-rendering: pixelated; cursor: crosshair; }</style>"


class DrawDigit(SavedPicture):
    """The draw-a-digit widget around a trained LeNet-5 (default: the shipped ``load_lenet5()``).

    Python API (what the mouse does, for tests and scripts): ``draw_strokes(strokes)``, ``clear()``,
    ``select_unit(layer, channel, row, col)``; read ``prediction`` (None while blank),
    ``probabilities`` (10 floats or None), ``drawing`` (280x280 ink), ``image`` (1x32x32, what the
    net sees), ``maps`` (per layer), ``selected``, ``highlight`` (a ``receptive.Box``) and
    ``fed_maps`` (C3 only).
    """

    def __init__(self, net: "LeNet5 | None" = None, line_width: int = LINE_WIDTH) -> None:
        self.net = (net if net is not None else load_lenet5()).eval()
        self.line_width = line_width
        self.strokes: list[list[tuple[float, float]]] = []
        self.image = torch.zeros(1, 32, 32)
        self.maps: dict[str, torch.Tensor] = {}
        self.probabilities: "np.ndarray | None" = None
        self.selected: "tuple | None" = None
        self._ink = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE))
        self._pen: "list | None" = None  # the stroke being drawn

        self.canvas = Canvas(width=CANVAS_SIZE, height=CANVAS_SIZE, layout=widgets.Layout(
            width=f"{CANVAS_SIZE}px", height=f"{CANVAS_SIZE}px", border="1px solid #999"))
        self.canvas.add_class("lenet-draw-canvas")
        for register, handler in ((self.canvas.on_mouse_down, self._down), (self.canvas.on_mouse_move, self._move),
                                  (self.canvas.on_mouse_up, self._up), (self.canvas.on_mouse_out, self._up)):
            register(handler)
        self.canvas.on_touch_start(lambda touches: touches and self._down(*touches[0]))
        self.canvas.on_touch_move(lambda touches: touches and self._move(*touches[0]))
        for register in (self.canvas.on_touch_end, self.canvas.on_touch_cancel):
            register(lambda touches: self._up())
        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.clear_button.on_click(lambda _: self.clear())
        self.seen = _pixel_canvas(32, 32, 5, "lenet-seen")
        self.verdict, self.bars = widgets.HTML(), widgets.HTML(_dom_classes=["lenet-bars"])
        self.info = widgets.HTML(_dom_classes=["lenet-selection"])
        self.map_canvases, rows = {}, []
        for layer, grid in GRIDS.items():
            canvas = _pixel_canvas(*grid.size, grid.scale, f"lenet-map-{layer}")
            canvas.on_mouse_down(lambda x, y, layer=layer: self._click(layer, x, y))
            self.map_canvases[layer] = canvas
            rows.append(widgets.VBox([widgets.HTML(f"<b>{TITLES[layer]}</b>"), canvas]))
        self.ui = widgets.VBox([
            widgets.HTML(STYLE),
            widgets.HBox([widgets.VBox([self.canvas, self.clear_button], layout=SPACED),
                          widgets.VBox([widgets.HTML("<b>What LeNet-5 sees</b> (32x32)"), self.seen],
                                       layout=SPACED),
                          widgets.VBox([self.verdict, self.bars])]),
            self.info, widgets.VBox(rows[:4]), widgets.HBox([rows[4], widgets.HTML("&nbsp;" * 8), rows[5]])])
        self._reset_canvas()
        self._update()

    # ---------------------------------------------------------------- what the mouse does

    def _down(self, x: float, y: float) -> None:
        self._pen = [(x, y)]
        self._dot(x, y)

    def _move(self, x: float, y: float) -> None:
        if self._pen is not None:
            x0, y0 = self._pen[-1]
            self._pen.append((x, y))
            self.canvas.stroke_line(x0, y0, x, y)
            ImageDraw.Draw(self._ink).line([(x0, y0), (x, y)], fill=255, width=self.line_width)
            self._dot(x, y, on_canvas=False)

    def _up(self, x: "float | None" = None, y: "float | None" = None) -> None:
        if self._pen is not None:
            self.strokes.append(self._pen)
            self._pen = None
            self._update()

    def _dot(self, x: float, y: float, on_canvas: bool = True) -> None:
        r = self.line_width / 2
        if on_canvas:
            self.canvas.fill_circle(x, y, r)
        ImageDraw.Draw(self._ink).ellipse([x - r, y - r, x + r, y + r], fill=255)

    def _click(self, layer: str, x: float, y: float) -> None:
        unit = GRIDS[layer].locate(x, y)
        if unit is not None:
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
        """Wipe the drawing (the selected unit stays selected)."""
        self.strokes, self._pen = [], None
        self._ink = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE))
        self._reset_canvas()
        self._update()

    def select_unit(self, layer: str, channel: int, row: int = 0, col: int = 0) -> None:
        """Highlight what unit (channel, row, col) of ``layer`` (c1, s2, c3, s4, c5, f6) sees."""
        if layer not in GRIDS:
            raise ValueError(f"pick a unit of one of the layers {', '.join(GRIDS)}; got {layer!r}.")
        receptive_field(layer, channel, row, col)  # checks the unit exists
        self.selected = (layer, channel, row, col)
        self._render_views()
        self.refresh_picture()

    @property
    def prediction(self) -> "int | None":
        """The predicted digit, or None when nothing is drawn."""
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

    def _update(self) -> None:
        """Preprocess the drawing, run the net, redraw everything."""
        self.image = mnist_style(self.drawing)
        if is_blank(self.image):
            self.maps, self.probabilities = {}, None
        else:
            out = capture_feature_maps(self.net, prepare(self.image)[None],
                                       layers=[*CAPTURED.values(), "output"])
            self.maps = {layer: out[name][0] for layer, name in CAPTURED.items()}
            self.probabilities = torch.softmax(out["output"][0], dim=0).numpy()
        digit = "" if self.prediction is None else self.prediction
        self.verdict.value = (f"<div class='lenet-prediction' data-digit='{digit}' style='font-size:20px'>"
                              + (f"LeNet-5 reads: <b style='font-size:36px'>{digit}</b>" if digit != ""
                                 else "draw a digit") + "</div>")
        probs = self.probabilities if self.probabilities is not None else np.zeros(10)
        self.bars.value = "".join(
            f"<div class='lenet-bar' data-digit='{d}' data-p='{p:.4f}' style='display:flex;gap:6px;"
            f"align-items:center;height:18px;font-family:monospace'>{d}<div style='background:#eee;"
            f"width:160px;height:12px'><div style='height:12px;width:{100 * p:.1f}%;background:"
            f"{'#d9534f' if d == self.prediction else '#5b8def'}'></div></div>{p:6.1%}</div>"
            for d, p in enumerate(probs))
        self._render_views()
        self.refresh_picture()

    def _render_views(self) -> None:
        with hold_canvas():
            self.seen.put_image_data(input_view(self.image, self.highlight))
            for layer, tiles in self._tiles().items():
                self.map_canvases[layer].put_image_data(tiles)
        self.info.value = f"<div style='min-height:1.5em'>{html.escape(self.describe_selection())}</div>"

    def _tiles(self) -> dict:
        """Each layer's maps as an RGBA image, with the selected unit and C3's inputs marked."""
        return {layer: grid.render(self.maps.get(layer),
                                   self.selected[1:] if self.selected and self.selected[0] == layer else None,
                                   self.fed_maps if layer == "s2" else ())
                for layer, grid in GRIDS.items()}

    def describe_selection(self) -> str:
        """One line on the selected unit: where it is, what it sees, what it reads."""
        if self.selected is None:
            return "Click a pixel of any feature map below to see which input pixels that unit sees."
        layer, channel, row, col = self.selected
        box = self.highlight
        where = f"unit {channel}" if layer in ("c5", "f6") else f"map {channel}, row {row}, column {col}"
        text = (f"{layer.upper()} {where}: sees input rows {box.top}-{box.bottom - 1}, columns "
                f"{box.left}-{box.right - 1} ({box.size[0]}x{box.size[1]} of the 32x32 pixels)")
        if layer == "c3":
            text += f"; reads S2 maps {', '.join(map(str, self.fed_maps))} (framed orange)"
        if self.maps:
            text += f"; value {self.maps[layer].reshape(layer_shape(layer))[channel, row, col]:+.2f}"
        return text + "."

    # ---------------------------------------------------------------- the picture for readers

    def snapshot(self) -> bytes:
        """A PNG of the widget's state: drawing, 32x32 view, probabilities and feature maps."""
        sheet = Image.new("RGB", (620, 560), "white")
        pen = ImageDraw.Draw(sheet)
        sheet.paste(Image.eval(self._ink, lambda v: 255 - v).resize((140, 140), Image.LANCZOS), (10, 24))
        seen = Image.fromarray(input_view(self.image, self.highlight)[..., :3])
        sheet.paste(seen.resize((128, 128), Image.NEAREST), (170, 24))
        verdict = "draw a digit" if self.prediction is None else f"LeNet-5 reads: {self.prediction}"
        for x, text in ((10, "drawing"), (170, "what LeNet-5 sees"), (320, verdict)):
            pen.text((x, 8), text, fill="black")
        probs = self.probabilities if self.probabilities is not None else np.zeros(10)
        for d, p in enumerate(probs):
            pen.text((320, 26 + 14 * d), str(d), fill="black")
            pen.rectangle([334, 28 + 14 * d, 334 + int(200 * p), 36 + 14 * d],
                          fill=(217, 83, 79) if d == self.prediction else (91, 141, 239))
        x, y = 10, 180
        for layer, tiles in self._tiles().items():
            zoom = max(1, GRIDS[layer].scale // 2)
            picture = Image.fromarray(tiles[..., :3]).resize((tiles.shape[1] * zoom, tiles.shape[0] * zoom),
                                                             Image.NEAREST)
            pen.text((x, y), TITLES[layer], fill="black")
            sheet.paste(picture, (x, y + 14))
            x, y = (200, y) if layer == "c5" else (10, y + picture.height + 22)
        pen.multiline_text((330, 190), textwrap.fill(self.describe_selection(), 44), fill="black")
        return png_bytes(sheet)

    def summary(self) -> str:
        """The prediction in words."""
        return f"DrawDigit: prediction {self.prediction}"
