"""The chapter 2 shape calculator, driven from Python the way a slider would drive it."""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from lenet_utils.widgets.calculator import OUTPUT_RGB, PAD_RGB, SECOND_RGB, ShapeCalculator, layer_picture
from lenet_utils.widgets.saved_picture import SavedPicture

OUTPUT_AREA = (1100, 760)  # px: what a widget may fill in the notebook (RULES.md)
NARROW = 860  # px: the output area of a 900 px wide notebook
CONTROLS_PX = 250  # px: the layer toggle and six sliders above the picture


def _png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _count(img: Image.Image, rgb: tuple[int, int, int]) -> int:
    return int((np.asarray(img) == rgb).all(axis=-1).sum())


def test_moving_sliders_updates_the_result():
    calc = ShapeCalculator(W=28, F=5, P=2, S=1, in_channels=1, out_channels=6)
    assert calc.valid and calc.output_shape == (6, 28, 28) and calc.num_params == 156
    assert "6×28×28" in calc.result.value and "156" in calc.result.value

    calc.W.value, calc.P.value = 32, 0  # LeNet-5's C1
    assert calc.output_shape == (6, 28, 28)
    calc.W.value, calc.in_channels.value, calc.out_channels.value = 14, 6, 16  # d2l's second conv
    layer = nn.Conv2d(6, 16, 5)
    assert calc.output_shape == tuple(layer(torch.zeros(1, 6, 14, 14)).shape[1:])
    assert calc.num_params == sum(p.numel() for p in layer.parameters())
    assert "16×10×10" in calc.result.value and "2,416" in calc.result.value


def test_invalid_combinations_say_which_slider_to_move():
    calc = ShapeCalculator(W=28, F=5, P=0, S=2)  # (28 - 5) / 2 + 1 = 12.5
    assert not calc.valid and calc.output_shape is None
    assert "invalid" in calc.result.value and "W − F + 2P = 23 is not a multiple of S = 2: change P or S" \
        in calc.result.value and "give 12" in calc.result.value
    calc.P.value = 2  # (28 - 5 + 4) / 2 + 1 = 14.5 still
    assert not calc.valid and "W − F + 2P = 27 is not a multiple of S = 2" in calc.result.value
    calc.F.value = 4  # (28 - 4 + 4) / 2 + 1 = 15
    assert calc.valid and calc.output_shape == (6, 15, 15)
    calc.W.value, calc.F.value, calc.P.value = 3, 9, 0  # window larger than the input
    assert not calc.valid and "larger than the padded input W + 2P = 3" in calc.result.value
    assert "Make F smaller, or W or P larger" in calc.result.value
    pool = ShapeCalculator(W=28, F=2, P=2, S=2, kind="pool")  # 16 windows, but PyTorch refuses P > F / 2
    assert not pool.valid and "Make P at most 1" in pool.result.value
    for message in (calc.result.value, pool.result.value):
        assert "allow_floor" not in message and "=True" not in message, "the widget speaks of sliders, not code"


def test_pooling_channel_slider_shows_the_channels_pooling_keeps():
    calc = ShapeCalculator(W=28, F=2, S=2, in_channels=3, out_channels=6, kind="pool")
    assert calc.output_shape == (3, 14, 14) and calc.num_params == 0
    assert calc.out_channels.disabled and calc.out_channels.value == 3
    calc.in_channels.value = 5
    assert calc.out_channels.value == 5 and calc.output_shape == (5, 14, 14)
    calc.kind.value = "conv"  # the convolution's own output channels come back
    assert not calc.out_channels.disabled and calc.out_channels.value == 6
    assert calc.num_params == 6 * 5 * 2 * 2 + 6
    calc.out_channels.value = 9
    calc.kind.value = "pool"
    assert calc.out_channels.value == 5
    calc.kind.value = "conv"
    assert calc.out_channels.value == 9


def test_the_picture_draws_padding_window_stride_and_output_to_scale():
    padded = layer_picture(28, 5, 2, 1, 28, 1, 6)
    assert _count(padded, PAD_RGB) > 0 and _count(layer_picture(28, 5, 0, 1, 24, 1, 6), PAD_RGB) == 0
    assert _count(padded, SECOND_RGB) > 14 * 14  # the window one stride on, its output cell, the legend's square
    for no_second in (layer_picture(5, 5, 0, 1, 1, 1, 6), layer_picture(6, 5, 0, 2, None, 1, 6),
                      layer_picture(3, 9, 0, 1, None, 1, 6)):  # S past the edge; F larger than the padded input
        assert _count(no_second, SECOND_RGB) == 0, "no blue window drawn, so no blue square in the legend"
    # Same padded input and window, so the same cell size: the output's area goes with O squared.
    big, small = _count(layer_picture(28, 4, 1, 1, 27, 1, 6), OUTPUT_RGB), _count(layer_picture(28, 4, 1, 2, 14, 1, 6),
                                                                                  OUTPUT_RGB)
    assert big / small == pytest.approx((27 * 27 - 2) / (14 * 14 - 2), rel=0.1)
    assert _count(layer_picture(28, 5, 0, 2, None, 1, 6), OUTPUT_RGB) == 0  # no output for an impossible setting


def test_calculator_is_a_saved_picture_that_follows_the_sliders(monkeypatch):
    import IPython.display

    calc = ShapeCalculator(W=28, F=5, P=2, S=1, in_channels=1, out_channels=6)
    assert isinstance(calc, SavedPicture)
    live = _png(calc.picture.value)  # the live picture, shown at its own size
    assert calc.picture.layout.width == f"{live.width}px" and calc.picture.layout.height == f"{live.height}px"
    saved = _png(calc.snapshot())
    assert saved.width <= OUTPUT_AREA[0] and saved.height <= OUTPUT_AREA[1]
    assert live.height <= OUTPUT_AREA[1] - CONTROLS_PX
    assert "O = (28 − 5 + 2·2) / 1 + 1 = 28" in calc._lines
    before = calc.picture.value, calc.snapshot()
    calc.W.value = 32
    assert calc.picture.value != before[0] and calc.snapshot() != before[1]

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda bundle, raw, display_id=False: shown.append(bundle))
    calc._ipython_display_()  # what a cell ending in ShapeCalculator(...) does
    live_bundle, picture = shown
    assert live_bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == calc.ui.model_id
    assert _png(base64.b64decode(picture["image/png"])).size == _png(calc.snapshot()).size


@pytest.mark.parametrize("kind", ["conv", "pool"])
def test_every_slider_setting_fits_the_output_area(kind):
    calc = ShapeCalculator(kind=kind)
    for W in (1, 28, 64):
        for F in (1, 11):
            for P in (0, 6):
                for S in (1, 6):
                    calc.W.value, calc.F.value, calc.P.value, calc.S.value = W, F, P, S
                    live = _png(calc.picture.value)
                    assert live.width <= OUTPUT_AREA[0] and live.height <= OUTPUT_AREA[1] - CONTROLS_PX, \
                        (W, F, P, S, live.size)


def test_reset_puts_every_control_back():
    calc = ShapeCalculator(W=28, F=5, P=2, S=1, in_channels=1, out_channels=6)
    start = calc.output_shape, calc.num_params
    calc.kind.value = "pool"
    calc.W.value, calc.F.value, calc.P.value, calc.S.value, calc.in_channels.value = 33, 3, 0, 2, 4
    assert calc.output_shape != start[0]
    calc.reset_button.click()
    assert (calc.kind.value, calc.W.value, calc.F.value, calc.P.value, calc.S.value) == ("conv", 28, 5, 2, 1)
    assert (calc.in_channels.value, calc.out_channels.value) == (1, 6)
    assert (calc.output_shape, calc.num_params) == start


@pytest.mark.parametrize("kwargs, message", [
    ({"W": 100}, r"W=100 is not valid: it must be a whole number from 1 to 64"),
    ({"W": -5}, r"W=-5 is not valid: it must be a whole number from 1 to 64"),
    ({"S": 0}, r"S=0 is not valid: it must be a whole number from 1 to 6"),
    ({"F": 5.7}, r"F=5.7 is not valid: it must be a whole number from 1 to 11"),
    ({"P": "2"}, r"P='2' is not valid: it must be a whole number from 0 to 6"),
    ({"out_channels": 0}, r"out_channels=0 is not valid: it must be a whole number from 1 to 128"),
    ({"kind": "dense"}, r"kind='dense' is not valid: choose one of conv, pool"),
])
def test_a_value_off_its_slider_is_refused_not_clamped(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShapeCalculator(**kwargs)


def test_every_slider_end_is_accepted():
    calc = ShapeCalculator(W=64, F=11, P=6, S=6, in_channels=64, out_channels=128)
    assert (calc.W.value, calc.F.value, calc.P.value, calc.S.value) == (64, 11, 6, 6)


def test_the_controls_never_shrink_and_the_result_wraps_below_them():
    calc = ShapeCalculator()
    top, picture = calc.ui.children
    controls, result = top.children
    assert top.layout.flex_flow == "row wrap" and result is calc.result
    assert controls.layout.flex == "0 0 auto", "squeezed, the sliders' values hide behind a scrollbar"
    widest = max(int(s.layout.width.removesuffix("px")) for s in controls.children if s.layout.width)
    assert widest + 16 + int(result.layout.min_width.removesuffix("px")) <= NARROW  # side by side at 900 px
    assert _png(calc.picture.value).width <= NARROW


@pytest.mark.parametrize("W, F", [(28, 5), (3, 9)])
def test_the_result_is_dark_text_on_a_white_card_in_any_theme(W, F):
    calc = ShapeCalculator(W=W, F=F)
    colour = "#0b6e0b" if calc.valid else "#b00020"  # 6.3:1 and 7.1:1 against white
    assert calc.result.value.startswith(f"<div class='lenet-calc-result' style='background:#ffffff;color:{colour};")


def test_the_saved_view_prints_the_settings_once(monkeypatch):
    from lenet_utils.widgets import calculator

    calc = ShapeCalculator(W=28, F=5, P=2, S=1, in_channels=1, out_channels=6)
    drawn = []
    monkeypatch.setattr(calculator, "sheet", lambda rows, lines=(): drawn.append((rows, list(lines)))
                        or Image.new("RGB", (1, 1)))
    calc.snapshot()
    (rows, lines), = drawn
    settings = calc.summary()
    assert settings == "convolution: W = 28, F = 5, P = 2, S = 1, channels 1 → 6"  # the text above the picture
    assert [caption for row in rows for _, caption in row] == [""] and settings not in lines
    assert lines == ["O = (28 − 5 + 2·2) / 1 + 1 = 28", "input 1×28×28 → output 6×28×28 (4,704 values)",
                     "parameters: 156 = 6×1×5×5 weights + 6 biases"]  # the picture shows the result once
