"""The draw-a-digit widget, driven as the browser drives it (canvas events) and through its API."""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from lenet_utils.models import C3_TABLE
from lenet_utils.preprocess import mnist_style
from lenet_utils.receptive import layer_shape, receptive_field
from lenet_utils.weights import load_lenet5, prepare
from lenet_utils.widgets.draw import EXAMPLE_STROKES, GRIDS, DrawDigit, input_view


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


def test_starts_blank_and_asks_for_a_digit(widget):
    widget.clear()
    assert widget.prediction is None and widget.probabilities is None and widget.maps == {}
    assert "draw a digit" in widget.verdict.value
    assert widget.bars.value.count("class='lenet-bar'") == 10 and "data-p='0.0000'" in widget.bars.value


@pytest.mark.parametrize("digit", ["1", "0", "7"])
def test_mouse_strokes_are_read_as_the_digit_drawn(widget, digit):
    widget.clear()
    for stroke in EXAMPLE_STROKES[digit]:
        mouse_stroke(widget.canvas, stroke)
    assert widget.prediction == int(digit)
    assert f"data-digit='{digit}'" in widget.verdict.value
    assert widget.probabilities.sum() == pytest.approx(1, abs=1e-5)
    shown = [float(part.split("'")[0]) for part in widget.bars.value.split("data-p='")[1:]]
    assert shown == pytest.approx(widget.probabilities.tolist(), abs=1e-4)
    assert widget.drawing.shape == (280, 280) and widget.drawing.max() == 255
    assert torch.equal(widget.image, mnist_style(widget.drawing))  # the image shown is the drawing's
    with torch.no_grad():  # the prediction is the net's on exactly the image shown
        assert load_lenet5()(prepare(widget.image)[None]).argmax().item() == widget.prediction


def test_every_layer_updates_after_each_stroke(widget):
    widget.clear()
    widget.draw_strokes(EXAMPLE_STROKES["1"])
    first = {k: v.clone() for k, v in widget.maps.items()}
    assert {k: v.numel() for k, v in first.items()} == {
        k: int(np.prod(layer_shape(k))) for k in GRIDS}
    widget.draw_strokes([[(60, 140), (220, 140)]])  # a crossbar: a new stroke, new maps
    assert all(not torch.equal(first[k], widget.maps[k]) for k in GRIDS)
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


def test_clicking_a_c3_pixel_highlights_its_field_and_its_s2_maps(widget):
    widget.clear()
    widget.draw_strokes(EXAMPLE_STROKES["0"])
    grid = GRIDS["c3"]
    y, x = grid.origin(7)
    send(widget.map_canvases["c3"], "mouse_down", x=x + 4 + 0.5, y=y + 3 + 0.5)
    assert widget.selected == ("c3", 7, 3, 4)
    assert widget.highlight == receptive_field("c3", 7, 3, 4)
    assert widget.fed_maps == C3_TABLE[7]
    assert "reads S2 maps 1, 2, 3, 4" in widget.info.value
    view = input_view(widget.image, widget.highlight)
    plain = input_view(widget.image)
    inside = np.zeros((32, 32), bool)
    inside[widget.highlight.slices] = True
    assert (view[inside, 0] >= 102).all() and (view[inside, 0] > view[inside, 2]).all()  # washed orange
    assert (view[~inside, :3] <= plain[~inside, :3]).all() and (view[~inside] != plain[~inside]).any()
    tiles = GRIDS["s2"].render(widget.maps["s2"], None, widget.fed_maps)
    for ch in range(6):
        top, left = GRIDS["s2"].origin(ch)
        assert (tuple(tiles[top - 1, left, :3]) == (255, 140, 0)) == (ch in C3_TABLE[7])


def test_a_click_in_a_gap_selects_nothing(widget):
    widget.select_unit("c1", 0, 0, 0)
    send(widget.map_canvases["c1"], "mouse_down", x=0.5, y=0.5)  # the 1-pixel border
    assert widget.selected == ("c1", 0, 0, 0)


@pytest.mark.parametrize("layer", list(GRIDS))
def test_every_unit_of_every_grid_is_found_where_it_is_drawn(layer):
    grid = GRIDS[layer]
    channels, h, w = layer_shape(layer)
    for ch in range(channels):
        y, x = grid.origin(ch)
        for r, c in ((0, 0), (h - 1, w - 1)):
            assert grid.locate(x + c + 0.5, y + r + 0.5) == (ch, r, c)
    height, width = grid.size
    assert grid.origin(channels - 1)[0] + h <= height and grid.origin(grid.per_row - 1)[1] + w <= width


def test_bad_units_are_refused_with_a_message(widget):
    with pytest.raises(ValueError, match="layers"):
        widget.select_unit("output", 0)
    with pytest.raises(ValueError, match="c3 has 16 channels"):
        widget.select_unit("c3", 16, 0, 0)
    with pytest.raises(ValueError, match="stroke"):
        widget.draw_strokes([[]])


def test_static_picture_follows_the_state(widget):
    widget.clear()
    blank = widget.picture_bundle()
    assert blank["application/vnd.jupyter.widget-view+json"]["model_id"] == ""  # hidden in JupyterLab
    widget.draw_strokes(EXAMPLE_STROKES["7"])
    drawn = widget.picture_bundle()
    picture = Image.open(io.BytesIO(base64.b64decode(drawn["image/png"])))
    assert picture.format == "PNG" and picture.width > 400
    assert drawn["image/png"] != blank["image/png"] and "prediction 7" in drawn["text/plain"]


def test_shown_it_puts_out_the_live_widget_and_a_picture_that_each_stroke_redraws(monkeypatch):
    import IPython.display

    class Handle:
        display_id = "draw-picture"

    shown, updates = [], []
    monkeypatch.setattr(IPython.display, "display",
                        lambda bundle, raw, display_id=False: shown.append(bundle) or (Handle() if display_id else None))
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


def test_making_the_widget_leaves_the_learners_random_numbers_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DrawDigit().draw_strokes(EXAMPLE_STROKES["7"])
    assert torch.equal(torch.rand(3), expected)
