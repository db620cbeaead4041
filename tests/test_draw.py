"""The draw-a-digit widget, driven as the browser drives it (canvas events) and through its API."""

import asyncio
import base64
import io
import re
import threading

import ipycanvas.canvas
import ipywidgets as widgets
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from lenet_utils.data import SAMPLE_DIR, load_tensors
from lenet_utils.lenet import C3_TABLE
from lenet_utils.preprocess import mnist_style
from lenet_utils.receptive_fields import layer_shape, receptive_field
from lenet_utils.sources import find_data
from lenet_utils.weights import load_lenet5, prepare
from lenet_utils.widgets import draw, probability_bars, sheets
from lenet_utils.widgets.digit_statistics import (INK_RANGE, MAX_OFF_CENTRE, SCALED_INK_RANGE, digit_statistics,
                                                  measure_typical_ranges)
from lenet_utils.widgets.draw import (ACT_RANGE, EXAMPLE_STROKES, GRIDS, LAYOUT, LAYOUT_SIZE, STRIPS, VIEWS,
                                      DrawDigit, colour_legend, input_view)
from lenet_utils.widgets.probability_bars import (BAR_TRACK_PX, LOG_FLOOR, bar_length, bars_html, bars_picture,
                                                  percent)

SCREEN = (1100, 760)  # the most a widget may take in the notebook's output area (RULES)
GREEN, BLACK, ORANGE = (0, 200, 0), (0, 0, 0), (255, 140, 0)

#: Drawings unlike MNIST's digits, and the reason the widget must give.
UNLIKE = {
    "a single dot": ([[(140, 140)]], "too little ink"),
    "a filled canvas": ([[(x, 0), (x, 280)] for x in range(0, 281, 15)], "too much ink"),
    "a 1 running off the bottom": ([[(150, 45), (148, 160), (146, 279)]], "cut off by the canvas edge"),
    "a dot far from a bar": ([[(40, 140)], [(240, 60), (240, 220)]], "off-centre"),
    "a filled square": ([[(x, 110), (x, 170)] for x in range(110, 171, 6)], "strokes too thick"),
}


@pytest.fixture(scope="module")
def widget():
    return DrawDigit()


def send(canvas, event, **content):
    """Deliver a frontend event to a canvas exactly as ipycanvas receives it from the browser."""
    canvas._handle_frontend_event(None, {"event": event, **content}, [])


def mouse_stroke(canvas, points):
    send(canvas, "mouse_down", x=points[0][0], y=points[0][1])
    for x, y in points[1:]:
        send(canvas, "mouse_move", x=x, y=y)
    send(canvas, "mouse_up", x=points[-1][0], y=points[-1][1])


def click_unit(widget, layer, channel, row=0, col=0):
    """Click the middle of a unit on its layer's canvas, in the canvas's screen pixels."""
    view = VIEWS[layer]
    top, left = view.origin(channel)
    send(widget.map_canvases[layer], "mouse_down", x=(left + col + 0.5) * view.scale,
         y=(top + row + 0.5) * view.scale)


def bar_widths(page: str) -> list:
    """Pixel widths of the ten coloured bars in ``bars_html``."""
    return [int(w) for w in re.findall(r"><div style='height:12px;width:(\d+)px", page)]


def ring(picture, top, left, bottom, right, offset, thickness=1):
    """The pixels of the ring ``offset`` to ``offset + thickness - 1`` pixels outside a box."""
    inner, outer = np.zeros(picture.shape[:2], bool), np.zeros(picture.shape[:2], bool)
    inner[top - offset:bottom + offset, left - offset:right + offset] = True
    wider = offset + thickness
    outer[top - wider:bottom + wider, left - wider:right + wider] = True
    return picture[outer & ~inner, :3]


# ---------------------------------------------------------------- drawing and reading

def test_starts_blank_and_asks_for_a_digit(widget):
    widget.clear()
    assert widget.prediction is None and widget.probabilities is None and widget.maps == {}
    assert widget.unlike is None and "Draw a digit" in widget.verdict.value
    assert widget.bars.value.count("class='lenet-bar'") == 10 and "data-p='0.0000'" in widget.bars.value
    assert bar_widths(widget.bars.value) == [0] * 10


@pytest.mark.parametrize("digit", ["1", "0", "7"])
def test_mouse_strokes_are_read_as_the_digit_drawn(widget, digit):
    widget.clear()
    for stroke in EXAMPLE_STROKES[digit]:
        mouse_stroke(widget.canvas, stroke)
    assert widget.prediction == int(digit) and widget.unlike is None
    assert f"data-digit='{digit}'" in widget.verdict.value and "data-unlike=''" in widget.verdict.value
    assert f"class='lenet-text' style='font-size:40px;line-height:50px'>{digit}<" in widget.verdict.value  # read with confidence
    assert widget.probabilities.sum() == pytest.approx(1, abs=1e-5)
    shown = [float(part.split("'")[0]) for part in widget.bars.value.split("data-p='")[1:]]
    assert shown == pytest.approx(widget.probabilities.tolist(), abs=1e-4)
    assert widget.bars.value.count("background:#d9534f") == 1  # the winner's bar is red
    assert widget.drawing.shape == (280, 280) and widget.drawing.max() == 255
    assert torch.equal(widget.image, mnist_style(widget.drawing))  # the image shown is the drawing's
    with torch.no_grad():  # the prediction is the net's on exactly the image shown
        assert load_lenet5()(prepare(widget.image)[None]).argmax().item() == widget.prediction


def test_every_layer_updates_after_each_stroke(widget):
    widget.clear()
    widget.draw_strokes(EXAMPLE_STROKES["1"])
    first = {k: v.clone() for k, v in widget.maps.items()}
    pictures = widget.panes()
    assert {k: v.numel() for k, v in first.items()} == {k: int(np.prod(layer_shape(k))) for k in VIEWS}
    widget.draw_strokes([[(60, 140), (220, 140)]])  # a crossbar: a new stroke, new maps
    assert all(not torch.equal(first[k], widget.maps[k]) for k in VIEWS)
    assert all(not np.array_equal(pictures[k], widget.panes()[k]) for k in VIEWS)
    assert len(widget.strokes) == 2


def test_touch_draws_like_the_mouse(widget):
    widget.clear()
    points = EXAMPLE_STROKES["1"][0]
    send(widget.canvas, "touch_start", touches=[{"x": points[0][0], "y": points[0][1]}])
    for x, y in points[1:]:
        send(widget.canvas, "touch_move", touches=[{"x": x, "y": y}])
    send(widget.canvas, "touch_end", touches=[])
    assert widget.prediction == 1


def test_moves_without_a_pressed_button_draw_nothing(widget):
    widget.clear()
    send(widget.canvas, "mouse_move", x=100, y=100)
    send(widget.canvas, "mouse_up", x=100, y=100)
    assert widget.prediction is None and widget.strokes == []


def canvas_commands(monkeypatch, canvas) -> list:
    """The drawing commands the kernel sends to ``canvas``'s view in the browser, as they are sent."""
    sent = []
    manager = ipycanvas.canvas._CANVAS_MANAGER
    send_command = manager.send_command
    monkeypatch.setattr(manager, "send_command", lambda target, command, buffers=[]: (
        target is canvas and sent.append(command), send_command(target, command, buffers)))
    return sent


def test_the_browser_paints_the_ink_and_the_kernel_keeps_each_finished_stroke(widget, monkeypatch):
    widget.clear()
    sent = canvas_commands(monkeypatch, widget.canvas)
    points = EXAMPLE_STROKES["1"][0]
    send(widget.canvas, "mouse_down", x=points[0][0], y=points[0][1])
    for x, y in points[1:]:
        send(widget.canvas, "mouse_move", x=x, y=y)
    assert sent == [], "a mouse move must not wait for the kernel to draw its segment"
    assert widget.drawing.max() == 255  # the kernel rasterised the moves for the net all the same
    send(widget.canvas, "mouse_up", x=points[-1][0], y=points[-1][1])
    assert len(sent) == 1 and widget.prediction == 1  # the whole stroke, in one command
    pen = re.search(r"lineWidth = (\d+)", widget.ui.children[0].value)  # the browser's pen is the kernel's
    assert pen and int(pen.group(1)) == widget.line_width and "onload" in widget.ui.children[0].value


def test_a_stroke_updates_the_prediction_before_the_mouse_is_released(widget, monkeypatch):
    widget.clear()
    clock = iter(np.arange(0, 100, 0.05))  # each reading of the clock 50 ms later
    monkeypatch.setattr(draw.time, "monotonic", lambda: float(next(clock)))
    reads = []
    update = widget._update
    monkeypatch.setattr(widget, "_update", lambda picture=True: (
        reads.append((len(widget._pen or ()), picture)), update(picture)))
    points = EXAMPLE_STROKES["7"][0]
    dense = [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for (x0, y0), (x1, y1) in zip(points, points[1:])
             for t in np.linspace(0, 1, 6, endpoint=False)]
    send(widget.canvas, "mouse_down", x=dense[0][0], y=dense[0][1])
    for x, y in dense[1:]:
        send(widget.canvas, "mouse_move", x=x, y=y)
    assert widget.prediction is not None and reads, "no prediction while the stroke was drawn"
    assert 2 <= len(reads) <= len(dense) * 0.05 / draw.THROTTLE_S + 1  # throttled: not at every move
    assert widget.strokes == [] and all(pen > 0 for pen, _ in reads)  # all while the stroke was drawn
    assert "data-strokes='0'" in widget.verdict.value
    assert not any(picture for _, picture in reads)  # the saved picture waits for the stroke's end
    send(widget.canvas, "mouse_up", x=dense[-1][0], y=dense[-1][1])
    assert widget.prediction == 7 and reads[-1] == (0, True)
    assert "data-strokes='1'" in widget.verdict.value  # the page can tell the finished stroke's read


def test_moves_that_arrive_in_a_burst_are_read_before_the_mouse_is_released(widget):
    """Moves queued while the kernel was busy arrive together, faster than the throttle: the widget
    reads them once THROTTLE_S has passed, on the kernel's event loop, with the mouse still down."""
    async def burst_then_wait():
        widget.clear()
        points = EXAMPLE_STROKES["1"][0]
        send(widget.canvas, "mouse_down", x=points[0][0], y=points[0][1])
        for x, y in points[1:]:
            send(widget.canvas, "mouse_move", x=x, y=y)
        before = widget.prediction
        await asyncio.sleep(3 * draw.THROTTLE_S)
        return before, widget.prediction, list(widget.strokes)

    before, after, strokes = asyncio.run(burst_then_wait())
    assert before is None and strokes == []  # the burst came within the throttle; the mouse is down
    assert after == 1, "the moves of the burst were never read while the mouse was down"
    send(widget.canvas, "mouse_up", x=142, y=235)


# ---------------------------------------------------------------- 1. the layout wraps to fit the screen

def _px(value: "str | None") -> int:
    assert value and value.endswith("px"), f"a fixed size in px is needed, got {value!r}"
    return int(value[:-2])


def test_the_columns_wrap_instead_of_being_squeezed(widget):
    """Three columns of fixed widths (LAYOUT's, which the picture uses) in a row that wraps: in a
    narrow notebook a column moves down whole instead of being clipped or squeezed (the browser
    test tests/test_browser_layout.py checks it at 1280 and 1400 px with the file browser open)."""
    row = widget.ui.children[1]
    assert row.layout.flex_flow == "row wrap"
    widths = [_px(column.layout.width) for column in row.children]
    assert widths == [max(w for _, w, _ in column) for column in draw.COLUMNS]
    assert all(column.layout.flex == "0 0 auto" for column in row.children)
    assert sum(widths) + draw.COLUMN_GAP * 2 == LAYOUT_SIZE[0] <= SCREEN[0] and LAYOUT_SIZE[1] <= SCREEN[1]
    assert max(widths) + draw.COLUMN_GAP <= 900 - 100  # one column fits the narrowest notebook's output
    for column in row.children:
        for child in column.children:  # the height a piece of text needs is a minimum, not a cut
            assert child.layout.height is None or not isinstance(child, widgets.HTML)
    for layer, view in VIEWS.items():  # map canvases are shown 1:1, so text on them is as drawn
        canvas = widget.map_canvases[layer]
        assert (_px(canvas.layout.height), _px(canvas.layout.width)) == (canvas.height, canvas.width) == view.pixels
    texts = [widget.verdict.value, widget.bars.value, widget.info.value, draw.tint_legend_html()]
    sizes = [int(s) for text in texts for s in re.findall(r"font-size:(\d+)px", text)]
    assert sizes and min(sizes) >= 11


# ---------------------------------------------------------------- 2. numbered maps

@pytest.mark.parametrize("layer", list(GRIDS))
def test_every_map_is_numbered_above_its_tile(layer):
    grid, font = GRIDS[layer], ImageFont.load_default(size=12)
    picture = grid.render(None)
    for channel in range(layer_shape(layer)[0]):
        top, left = (v * grid.scale for v in grid.origin(channel))
        x, y = grid.label_anchor(channel)
        assert x == left and top - 16 <= y - 12 and y < top  # above the tile, within its label band
        expected = Image.new("RGB", picture.shape[1::-1], "white")
        ImageDraw.Draw(expected).text((x, y), str(channel), fill=(40, 40, 40), font=font, anchor="ls")
        crop = np.s_[y - 12:y + 1, x - 2:x + 20]
        assert np.array_equal(picture[crop][..., :3], np.array(expected)[crop]), f"{layer} map {channel}"
        assert (np.array(expected)[crop] < 128).any()  # there is a number to see


@pytest.mark.parametrize("layer", list(VIEWS))
def test_every_unit_is_found_where_it_is_drawn(layer):
    view = VIEWS[layer]
    channels, h, w = layer_shape(layer)
    height, width = view.size
    for ch in range(channels):
        y, x = view.origin(ch)
        for r, c in ((0, 0), (h - 1, w - 1)):
            assert view.locate(x + c + 0.5, y + r + 0.5) == (ch, r, c)
        assert y + h <= height and x + w <= width
    assert view.locate(0.5, 0.5) is None  # the title


# ---------------------------------------------------------------- 3. the colour legend

def test_the_legend_runs_from_blue_minus_a_through_white_to_red_plus_a(widget):
    legend = np.array(colour_legend())
    row = legend[27, 20:legend.shape[1] - 20].astype(int)
    assert tuple(row[0]) == tuple(draw._diverging(np.array(-ACT_RANGE)))  # the colour of -A: blue
    assert tuple(row[-1]) == tuple(draw._diverging(np.array(ACT_RANGE)))  # the colour of +A: red
    assert row[0, 2] > row[0, 0] + 100 and row[-1, 0] > row[-1, 2] + 100 and row[len(row) // 2].min() >= 245
    font = ImageFont.load_default(size=12)
    for x, text in ((20, f"{-ACT_RANGE:+.2f}"), (legend.shape[1] - 20, f"{ACT_RANGE:+.2f}")):
        expected = Image.new("RGB", legend.shape[1::-1], "white")
        ImageDraw.Draw(expected).text((x, 38), text, fill=(40, 40, 40), font=font, anchor="mt")
        crop = np.s_[36:legend.shape[0], x - 20:x + 20]
        assert np.array_equal(legend[crop], np.array(expected)[crop]), f"the legend's end should read {text}"
    shown = [w for w in widget.ui.children[1].children[1].children if isinstance(w, widgets.Image)]
    assert shown and Image.open(io.BytesIO(shown[0].value)).size == colour_legend().size
    assert _px(shown[0].layout.width) == colour_legend().width  # shown at its natural size


# ---------------------------------------------------------------- 4. C5 and F6 as bar strips

@pytest.mark.parametrize("layer", list(STRIPS))
def test_dense_layers_are_strips_of_bars_as_long_as_their_values(layer):
    strip = STRIPS[layer]
    n = layer_shape(layer)[0]
    values = torch.linspace(-ACT_RANGE, ACT_RANGE, n)
    picture, empty = strip.render(values), strip.render(None)
    zero = draw.TITLE_PX + draw.PLOT_PX // 2
    for unit in (0, n // 4, 3 * n // 4, n - 1):  # values -A, about -A/2, +A/2, +A
        top, left = strip.origin(unit)
        column = picture[top:top + draw.PLOT_PX, left, :3].astype(int)
        bar = np.nonzero((column != empty[top:top + draw.PLOT_PX, left, :3]).any(axis=1))[0] + top
        positive = bool(values[unit] > 0)
        assert len(bar) == round(abs(values[unit].item()) / ACT_RANGE * draw.PLOT_PX / 2) > 10
        assert (bar < zero).all() if positive else (bar >= zero).all()  # up for positive, down for negative
        red, blue = column[bar - top, 0].mean(), column[bar - top, 2].mean()
        assert (red > blue + 50) if positive else (blue > red + 50)
    # unit numbers every 20 under the bars, none in between
    below = np.s_[draw.TITLE_PX + draw.PLOT_PX + 5:]
    for unit in range(0, n, 20):
        x = strip.origin(unit)[1] + strip.bar // 2
        assert (picture[below][:, x - 2:x + 3, :3] < 128).any(), f"no number under {layer} unit {unit}"
    x = strip.origin(10)[1] + strip.bar // 2
    assert not (picture[below][:, x - 1:x + 2, :3] < 128).any()


# ---------------------------------------------------------------- 5. a visible selection, and deselecting

@pytest.mark.parametrize("unit", [("c1", 5, 27, 27), ("c3", 7, 3, 4), ("s4", 15, 0, 2), ("c5", 37, 0, 0),
                                  ("f6", 0, 0, 0)])
def test_the_selected_unit_gets_a_thick_frame_and_keeps_its_colour(widget, unit):
    widget.clear()
    widget.draw_strokes(EXAMPLE_STROKES["7"])
    layer, channel, row, col = unit
    view = VIEWS[layer]
    plain = view.render(widget.maps[layer])
    framed = view.render(widget.maps[layer], (channel, row, col))
    top, left = view.origin(channel)
    if layer in STRIPS:
        top, bottom, left, right = top, top + draw.PLOT_PX, left, left + view.bar - 1
    else:
        s = view.scale
        top, left = (top + row) * s, (left + col) * s
        bottom, right = top + s, left + s
    assert np.array_equal(framed[top:bottom, left:right], plain[top:bottom, left:right])  # the unit itself unchanged
    for offset in (0, 1):  # two rings of green, then black: a frame 3 px wide
        assert (ring(framed, top, left, bottom, right, offset) == GREEN).all()
    assert (ring(framed, top, left, bottom, right, 2) == BLACK).all()


def test_clicking_a_c3_unit_highlights_its_field_and_its_s2_maps(widget):
    widget.clear()
    widget.select_unit(None)
    widget.draw_strokes(EXAMPLE_STROKES["0"])
    click_unit(widget, "c3", 7, 3, 4)
    assert widget.selected == ("c3", 7, 3, 4) and not widget.deselect_button.disabled
    assert widget.highlight == receptive_field("c3", 7, 3, 4)
    assert widget.fed_maps == C3_TABLE[7]
    assert "C3 map 7, row 3, column 4" in widget.info.value and "reads S2 maps 1, 2, 3, 4" in widget.info.value
    view = input_view(widget.image, widget.highlight)
    plain = input_view(widget.image)
    inside = np.zeros((32, 32), bool)
    inside[widget.highlight.slices] = True
    assert (view[inside, 0] >= 102).all() and (view[inside, 0] > view[inside, 2]).all()  # washed orange
    assert (view[~inside, :3] <= plain[~inside, :3]).all() and (view[~inside] != plain[~inside]).any()
    s2, grid = widget.panes()["s2"], GRIDS["s2"]
    h, w = (n * grid.scale for n in grid.tile)
    for ch in range(6):
        top, left = (v * grid.scale for v in grid.origin(ch))
        assert (ring(s2, top, left, top + h, left + w, 0, 3) == ORANGE).all() == (ch in C3_TABLE[7])


def test_a_selection_is_undone_by_a_second_click_the_button_or_the_api(widget):
    widget.clear()
    widget.select_unit(None)
    widget.draw_strokes(EXAMPLE_STROKES["7"])
    ways = {"click again": lambda: click_unit(widget, "c3", 7, 3, 4),
            "button": lambda: widget.deselect_button.click(),
            "select_unit(None)": lambda: widget.select_unit(None),
            "clear_selection()": widget.clear_selection}
    for way, deselect in ways.items():
        click_unit(widget, "c3", 7, 3, 4)
        assert widget.selected == ("c3", 7, 3, 4)
        deselect()
        assert widget.selected is None and widget.highlight is None, way
        assert widget.deselect_button.disabled and "Click a unit" in widget.info.value
        assert not any((picture[..., :3] == GREEN).all(axis=-1).any() for picture in widget.panes().values())


def _gap_points() -> list:
    """(layer, (x, y) canvas pixel off every unit, the nearest unit) for clicks between the maps."""
    c3 = GRIDS["c3"]
    (top, left), right_of_0, (_, w) = c3.origin(0), c3.origin(1)[1], c3.tile
    return [("c1", (1, 1), (0, 0, 0)),                                          # the title: map 0's corner
            ("c3", ((left + w + 0.5) * 4, (top + 5.5) * 4), (0, 5, w - 1)),     # just right of map 0
            ("c3", ((right_of_0 - 0.5) * 4, (top + 5.5) * 4), (1, 5, 0)),       # just left of map 1
            ("s4", (447, 143), (15, 4, 4)),                                     # the bottom right corner
            ("c5", (5, 50), (0, 0, 0)),                                         # the value axis: unit 0
            ("f6", (379, 100), (83, 0, 0))]                                     # below the last bar


@pytest.mark.parametrize("layer, point, unit", _gap_points())
def test_a_click_between_the_maps_picks_the_nearest_unit(widget, layer, point, unit):
    widget.select_unit(None)
    x, y = point
    view = VIEWS[layer]
    assert view.locate(x / view.scale, y / view.scale) is None  # not on a unit...
    send(widget.map_canvases[layer], "mouse_down", x=x, y=y)
    assert widget.selected == (layer, *unit)  # ...yet the click selects the nearest one


def test_clear_wipes_the_drawing_and_the_selection(widget):
    widget.draw_strokes(EXAMPLE_STROKES["7"])
    click_unit(widget, "c3", 7, 3, 4)
    widget.clear_button.click()
    assert widget.selected is None and widget.highlight is None and widget.deselect_button.disabled
    assert widget.prediction is None and "Click a unit" in widget.info.value
    assert not any((picture[..., :3] == GREEN).all(axis=-1).any() for picture in widget.panes().values())


def test_the_orange_tint_has_a_legend_in_the_page_and_the_picture(widget):
    page = draw.tint_legend_html()
    orange = "rgb(255, 140, 0)"
    assert page.count(orange) == 2 and "receptive field" in page and "S2 maps it reads" in page
    shown = [w.value for w in widget.ui.children[1].children[0].children if isinstance(w, widgets.HTML)]
    assert page in shown
    x, y, w, h = LAYOUT["tint"]
    picture = np.array(widget.picture())[y:y + h, x:x + w].astype(int)
    swatch = picture[3:3 + draw.TINT_SWATCH_PX, :draw.TINT_SWATCH_PX]
    assert (swatch == draw.TINT_RGB).all(axis=-1).mean() > 0.9  # the wash: a filled orange square
    assert (picture[:, draw.TINT_SWATCH_PX + 6:] < 100).all(axis=-1).any()  # and its words beside it


def test_bad_units_are_refused_with_a_message(widget):
    with pytest.raises(ValueError, match="layers"):
        widget.select_unit("output", 0)
    with pytest.raises(ValueError, match="c3 has 16 channels"):
        widget.select_unit("c3", 16, 0, 0)
    with pytest.raises(ValueError, match=r"select_unit\('c3', 7, 3, 4\)"):
        widget.select_unit("c3")
    with pytest.raises(ValueError, match="stroke"):
        widget.draw_strokes([[]])


@pytest.mark.parametrize("line_width", [0, -3, 2.5, "22"])
def test_a_pen_that_draws_no_ink_is_refused(widget, line_width):
    with pytest.raises(ValueError, match=rf"line_width={line_width!r} is not valid: it must be a whole number >= 1"):
        DrawDigit(widget.net, line_width=line_width)


# ---------------------------------------------------------------- 6. honest about drawings unlike MNIST's

@pytest.mark.parametrize("name", list(UNLIKE))
def test_a_drawing_unlike_mnist_says_so_instead_of_a_confident_answer(widget, name):
    strokes, reason = UNLIKE[name]
    widget.clear()
    widget.draw_strokes(strokes)
    assert widget.unlike is not None and widget.unlike.startswith(reason)
    assert widget.prediction is not None  # the net still answers...
    assert f"Unlike the digits LeNet-5 learned from ({widget.unlike}): its answer means little" in widget.verdict.value
    assert f"data-unlike='{widget.unlike}'" in widget.verdict.value
    assert "font-size:40px" not in widget.verdict.value  # ...but its digit is not shown as a confident read
    assert "#d9534f" not in widget.bars.value and "background:#a0a0a0" in widget.bars.value  # no red winner
    assert "means little" in widget.summary()


def test_the_ranges_are_what_the_bundled_sample_of_mnist_shows():
    images, _ = load_tensors("MNIST", train=True, root=SAMPLE_DIR, verbose=False)
    stats = [digit_statistics(image) for image in images.numpy()]
    ink, scaled, off = (np.array([s[k] for s in stats]) for k in ("ink", "scaled_ink", "off_centre"))
    # about 1% of MNIST's digits lie outside each range by construction (0.5% on each side)
    assert ((ink < INK_RANGE[0]) | (ink > INK_RANGE[1])).mean() <= 0.02
    assert ((scaled < SCALED_INK_RANGE[0]) | (scaled > SCALED_INK_RANGE[1])).mean() <= 0.02
    assert off.max() <= MAX_OFF_CENTRE  # the sample's digits are among the 60,000 the maximum is over
    sample = measure_typical_ranges(images)
    for name, measured in (("INK_RANGE", INK_RANGE), ("SCALED_INK_RANGE", SCALED_INK_RANGE)):
        assert sample[name] == pytest.approx(measured, abs=0.005), name


def test_the_ranges_are_what_the_full_training_set_measures():
    if find_data("mnist", allow_download=False).kind != "full":
        pytest.skip("recomputing the ranges needs the full MNIST: set LENET_DATA_DIR (about 20 s)")
    images, _ = load_tensors("MNIST", train=True, verbose=False)
    assert measure_typical_ranges(images) == {"INK_RANGE": INK_RANGE, "SCALED_INK_RANGE": SCALED_INK_RANGE,
                                              "MAX_OFF_CENTRE": MAX_OFF_CENTRE}


def test_statistics_of_an_empty_drawing_are_refused():
    with pytest.raises(ValueError, match="draw something"):
        digit_statistics(np.zeros((280, 280), np.uint8))


# ---------------------------------------------------------------- 7. honest probabilities

def test_probability_bars_are_on_a_log_scale_with_percentages():
    assert bar_length(1.0) == 1 and bar_length(LOG_FLOOR) == 0 and bar_length(0.0) == 0
    assert bar_length(0.01) == pytest.approx(0.5) and bar_length(0.1) == pytest.approx(0.75)
    assert percent(0.99996) == ">99.99%" and percent(3e-5) == "<0.01%" and percent(0.4512) == "45.12%"
    close = np.array([0.52, 0.46] + [0.0025] * 8)
    widths = bar_widths(bars_html(close, 0))
    assert min(widths[:2]) >= 0.9 * BAR_TRACK_PX  # both close digits visibly long (linear: 52% and 46%)
    assert "52.00%" in bars_html(close, 0) and "46.00%" in bars_html(close, 0)
    doubt = np.array([0.998, 0.001] + [1e-6] * 8)
    widths = bar_widths(bars_html(doubt, 0))
    assert widths[1] >= 0.2 * BAR_TRACK_PX and widths[2] == 0  # 0.1% still shows a bar; 1e-6 none
    picture = np.array(bars_picture(close, 0)).astype(int)  # the picture draws the same lengths
    for digit in (0, 1):
        y = probability_bars.BARS_TITLE_PX + digit * probability_bars.BAR_ROW_PX + 10
        row = picture[y, probability_bars.BAR_X:probability_bars.BAR_X + BAR_TRACK_PX]
        assert (np.abs(row - 232).sum(axis=1) > 30).sum() == round(BAR_TRACK_PX * bar_length(close[digit]))


# ---------------------------------------------------------------- 8. the picture for readers

def test_the_picture_shows_the_widget_as_laid_out(widget):
    widget.clear()
    widget.draw_strokes(EXAMPLE_STROKES["7"])
    widget.select_unit("c3", 7, 3, 4)
    picture = np.array(widget.picture())
    assert picture.shape[1::-1] == LAYOUT_SIZE and picture.shape[1] <= SCREEN[0] and picture.shape[0] <= SCREEN[1]

    def at(name, width=None, height=None):
        x, y, w, h = LAYOUT[name]
        return picture[y:y + (height or h), x:x + (width or w)]

    for layer, pane in widget.panes().items():  # numbers, frames and selection included
        assert np.array_equal(at(layer, pane.shape[1], pane.shape[0]), pane[..., :3]), layer
    assert np.array_equal(at("legend"), np.array(colour_legend()))
    assert np.array_equal(at("bars"), np.array(bars_picture(widget.probabilities, 7)))
    seen = Image.fromarray(input_view(widget.image, widget.highlight)[..., :3]).resize((160, 160), Image.NEAREST)
    assert np.array_equal(at("seen"), np.array(seen))
    def orange_text(region):  # pixels in the warning's colour (red well above green and blue)
        r, g, b = (region[..., i].astype(int) for i in range(3))
        return ((r > g + 60) & (r > b + 100)).sum()

    assert orange_text(at("verdict")) == 0 and (at("verdict") < 100).any()  # a confident read, in grey
    widget.clear()
    widget.draw_strokes(UNLIKE["a single dot"][0])
    picture = np.array(widget.picture())
    assert orange_text(at("verdict")) > 50  # the warning, in its colour


def test_the_picture_uses_no_font_under_12_px(widget, monkeypatch):
    sizes, load = [], ImageFont.load_default
    monkeypatch.setattr(ImageFont, "load_default", lambda size=None: sizes.append(size) or load(size=size))
    sheets.font.cache_clear()
    colour_legend.cache_clear()
    for view in VIEWS.values():
        view.__dict__.pop("_background", None)
    widget.clear()
    widget.draw_strokes(EXAMPLE_STROKES["7"])
    widget.select_unit("c3", 7, 3, 4)
    widget.snapshot()
    assert sizes and None not in sizes and min(sizes) >= 12, sizes


def test_static_picture_follows_the_state(widget):
    widget.clear()
    blank = widget.picture_bundle()
    assert blank["application/vnd.jupyter.widget-view+json"]["model_id"] == ""  # hidden in JupyterLab
    widget.draw_strokes(EXAMPLE_STROKES["7"])
    drawn = widget.picture_bundle()
    picture = Image.open(io.BytesIO(base64.b64decode(drawn["image/png"])))
    assert picture.format == "PNG" and picture.size == LAYOUT_SIZE
    assert drawn["image/png"] != blank["image/png"] and "prediction 7" in drawn["text/plain"]


def test_shown_it_puts_out_the_live_widget_and_a_picture_that_each_stroke_redraws(monkeypatch):
    import IPython.display

    class Handle:
        display_id = "draw-picture"

    shown, updates = [], []
    monkeypatch.setattr(IPython.display, "display",
                        lambda bundle, raw, display_id=False:
                        shown.append(bundle) or (Handle() if display_id else None))
    monkeypatch.setattr(IPython.display, "update_display",
                        lambda bundle, raw, display_id: updates.append((bundle, display_id)))
    widget = DrawDigit()
    widget.show()
    live, picture = shown
    assert live["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.ui.model_id
    assert "live widget" in live["text/plain"] and picture == widget.picture_bundle()
    widget.draw_strokes(EXAMPLE_STROKES["1"])
    bundle, display_id = updates[-1]
    assert display_id == "draw-picture" and bundle["image/png"] != picture["image/png"]
    widget.select_unit("c3", 7, 3, 4)  # a selection redraws the picture too
    assert updates[-1][0]["image/png"] != bundle["image/png"]


def test_reading_a_drawing_leaves_the_learners_thread_counts_alone():
    before = torch.get_num_threads()
    DrawDigit().draw_strokes(EXAMPLE_STROKES["7"])
    assert torch.get_num_threads() == before  # the notebook's thread
    later = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert later == [before]  # and every thread started later
    assert draw._reader().submit(torch.get_num_threads).result() == 1  # the reads run on one


def test_making_the_widget_leaves_the_learners_random_numbers_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DrawDigit().draw_strokes(EXAMPLE_STROKES["7"])
    assert torch.equal(torch.rand(3), expected)
