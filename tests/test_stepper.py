"""The convolution stepper shows PyTorch's arithmetic: every number it shows is checked against
F.conv2d, LeNet-5's C3 layer and the pooling functions, at every position."""

import base64
import re
import io

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ipywidgets as widgets
import matplotlib
import numpy as np
from ipycanvas import Canvas

from lenet_utils.lenet import C3_TABLE, LeNet5
from lenet_utils.weights import INPUT_BACKGROUND, INPUT_INK, prepare
from lenet_utils.widgets import stepper as stepper_module
from lenet_utils.widgets.saved_picture import colour_bar
from lenet_utils.widgets.stepper import (POOLINGS, C3Stepper, ConvStepper, PoolStepper, c3_step, conv_step, pool_step,
                                         sample_digit)

OUTPUT_AREA = (1100, 760)  # px: what a widget may fill in the notebook (RULES.md)
CONTROLS_PX = 90  # px: the rows of controls above a stepper's picture (buttons, map, sliders) when they do not wrap
NARROW = 860  # px: the output area of a 900 px wide notebook


@pytest.fixture(scope="module")
def net():
    """A LeNet-5 with random weights everywhere, S2's coefficients and biases included (a fresh
    S2 is a plain average, which would hide a wrong coefficient or bias)."""
    torch.manual_seed(0)
    model = LeNet5().eval()
    with torch.no_grad():
        model.s2.weight.uniform_(0.5, 2.0)
        model.s2.bias.uniform_(-0.5, 0.5)
    return model.requires_grad_(False)


@pytest.fixture(scope="module")
def digit():
    image, label = sample_digit(3)
    assert image.shape == (1, 32, 32) and 0 <= label <= 9
    return image


def test_sample_digit_is_a_padded_mnist_digit():
    image, _ = sample_digit(0)
    assert image.min() == 0 and image.max() == 1  # [0, 1], ink = 1
    assert image[0, :2].abs().sum() == 0 and image[0, :, -2:].abs().sum() == 0  # the 2-pixel frame
    with pytest.raises(ValueError, match="index must lie in"):
        sample_digit(10**6)


def test_conv_step_equals_conv2d_at_every_position(net, digit):
    x = prepare(digit)[0]
    expected = F.conv2d(prepare(digit)[None], net.c1.weight, net.c1.bias)[0].detach()
    for c in range(6):
        kernel, bias = net.c1.weight[c, 0].detach(), float(net.c1.bias[c])
        got = torch.tensor([[conv_step(x, kernel, bias, r, q).output for q in range(28)] for r in range(28)])
        torch.testing.assert_close(got, expected[c], rtol=0, atol=1e-5)
    step = conv_step(x, kernel, bias, 10, 7)
    assert step.products.shape == (5, 5)
    torch.testing.assert_close(step.products, x[10:15, 7:12] * kernel)
    assert step.total == pytest.approx(float(step.products.sum()))


def test_conv_step_rejects_positions_outside_the_output():
    with pytest.raises(ValueError, match="outside the 28x28 output"):
        conv_step(torch.zeros(32, 32), torch.zeros(5, 5), 0.0, 28, 0)
    with pytest.raises(ValueError, match="square 2-D kernel"):
        conv_step(torch.zeros(32, 32), torch.zeros(5, 4), 0.0, 0, 0)


def test_conv_stepper_shows_the_sum_and_builds_the_conv2d_map(net, digit):
    stepper = ConvStepper(net=net, image=digit, channel=2)
    expected = F.conv2d(prepare(digit)[None], net.c1.weight, net.c1.bias)[0, 2].detach()
    bias = float(net.c1.bias[2])
    for k in (0, 41, 400, 783):
        r, c = divmod(k, 28)
        stepper.row.value, stepper.col.value = r, c
        assert stepper.row_col == (r, c) and stepper.play.value == k
        assert stepper.shown_sum == pytest.approx(float(expected[r, c]) - bias, abs=1e-4)
        assert f"sum of the 25 products = {stepper.result.total:.4f}" in stepper.view.value
        built = stepper.feature_map
        assert built.view(-1)[k + 1:].isnan().all(), "positions not yet visited must stay blank"
        torch.testing.assert_close(built.view(-1)[:k + 1], expected.view(-1)[:k + 1], rtol=0, atol=1e-5)
    stepper.row.value, stepper.col.value = 0, 5  # moving back blanks the later positions again
    assert stepper.feature_map.isnan().sum() == 784 - 6


def test_c3_partial_sums_equal_lenet5_c3(net, digit):
    s2 = net.s2_act(net.s2(net.c1_act(net.c1(prepare(digit)[None])))).detach()
    expected = net.c3(s2)[0].detach()
    stepper = C3Stepper(net=net, image=digit)
    torch.testing.assert_close(stepper.s2, s2[0])
    assert stepper.table == list(C3_TABLE)
    weight = net.c3.full_weight().detach()
    for o, in_maps in enumerate(C3_TABLE):
        got = torch.tensor([[c3_step(s2[0], weight[o], float(net.c3.bias[o]), in_maps, r, q).output
                             for q in range(10)] for r in range(10)])
        torch.testing.assert_close(got, expected[o], rtol=0, atol=1e-5)
    stepper.choice.value = 13
    stepper.row.value, stepper.col.value = 5, 7
    result = stepper.result
    assert result.in_maps == C3_TABLE[13] and len(result.partials) == len(C3_TABLE[13])
    assert result.output == pytest.approx(float(expected[13, 5, 7]), abs=1e-5)
    assert stepper.shown_sum == pytest.approx(float(expected[13, 5, 7] - net.c3.bias[13]), abs=1e-4)
    assert f"sum of the partial sums = {result.total:.4f}" in stepper.view.value
    with pytest.raises(ValueError, match="reads at least one S2 map"):
        c3_step(s2[0], weight[0], 0.0, (), 0, 0)


def test_pooling_values_equal_torch_pooling_and_s2(net, digit):
    c1 = net.c1_act(net.c1(prepare(digit)[None])).detach()
    avg, mx = F.avg_pool2d(c1, 2)[0], F.max_pool2d(c1, 2)[0]
    s2 = net.s2(c1)[0].detach()
    for c in range(6):
        for r in range(14):
            for q in range(14):
                p = pool_step(c1[0, c], r, q, coefficient=float(net.s2.weight[c]), bias=float(net.s2.bias[c]))
                assert p.average == pytest.approx(float(avg[c, r, q]), abs=1e-6)
                assert p.maximum == pytest.approx(float(mx[c, r, q]), abs=1e-6)
                assert p.subsampled == pytest.approx(float(s2[c, r, q]), abs=1e-5)
    stepper = PoolStepper(net=net, image=digit, channel=4, row=6, col=9)
    assert stepper.result.subsampled == pytest.approx(float(s2[4, 6, 9]), abs=1e-5)
    assert stepper.shown_sum == pytest.approx(float(avg[4, 6, 9]) * 4, abs=1e-4)
    with pytest.raises(ValueError, match="grid of windows"):
        pool_step(c1[0, 0], 14, 0)


def test_widgets_refuse_a_position_off_the_sliders(net, digit):
    with pytest.raises(ValueError, match=r"row must be an int in 0\.\.9 \(10x10 positions\), got 10"):
        C3Stepper(net=net, image=digit, row=10)
    with pytest.raises(ValueError, match=r"col must be an int in 0\.\.13"):
        PoolStepper(net=net, image=digit, col=-1)
    with pytest.raises(ValueError, match=r"map must be one of \[0, 1, 2, 3, 4, 5\], got 6"):
        ConvStepper(net=net, image=digit, channel=6)
    with pytest.raises(ValueError, match="one 32x32 digit"):
        ConvStepper(net=net, image=torch.zeros(1, 28, 28))
    with pytest.raises(ValueError, match=r"pooling must be one of \['average', 'max', 'subsampling'\]"):
        PoolStepper(net=net, image=digit, pooling="min")


def test_row_and_column_sliders_and_play_walking_row_by_row(net, digit):
    stepper = ConvStepper(net=net, image=digit, row=3, col=27)
    assert stepper.row_col == (3, 27) and stepper.play.value == 3 * 28 + 27
    assert (stepper.play.min, stepper.play.max) == (0, 28 * 28 - 1)
    stepper.play.value += 1  # what one tick of Play does: the end of a row leads to the next row
    assert (stepper.row.value, stepper.col.value) == (4, 0)
    assert "position (row 4, col 0)" in stepper.view.value
    stepper.col.value = 9  # a slider moves Play's count with it, so Play goes on from there
    assert stepper.play.value == 4 * 28 + 9
    stepper.row.value = 20
    assert stepper.play.value == 20 * 28 + 9 and stepper.row_col == (20, 9)


@pytest.mark.parametrize("make", [ConvStepper, C3Stepper, PoolStepper])
def test_sliders_are_wide_enough_to_pick_each_row_and_column(net, digit, make):
    stepper = make(net=net, image=digit)
    rows, cols = stepper.grid
    for slider, count in ((stepper.row, rows), (stepper.col, cols)):
        assert (slider.min, slider.max) == (0, count - 1)
        assert int(slider.layout.width.removesuffix("px")) >= 300


def _png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _pictures(stepper) -> list:
    """The card's picture widgets (Images and clickable Canvases) and their colour bars."""
    return [w for picture, bar, _ in stepper._slots for w in (picture, bar) if w is not None]


def test_each_stepper_wraps_in_a_900_px_notebook_and_its_saved_picture_fits(net, digit):
    steppers = [ConvStepper(net=net, image=digit, row=27, col=27), PoolStepper(net=net, image=digit, row=13, col=13)]
    steppers += [C3Stepper(net=net, image=digit, out_map=o, row=9, col=9) for o in range(16)]  # up to 6 S2 maps read
    for stepper in steppers:
        for picture in _pictures(stepper):  # shown at its own size
            width = int(picture.layout.width.removesuffix("px"))
            if isinstance(picture, widgets.Image):
                assert (width, int(picture.layout.height.removesuffix("px"))) == _png(picture.value).size
        for _, row in stepper._blocks()[0][0]:
            for panel in row:  # each panel (picture, colour bar, caption) fits a 900 px notebook alone
                assert panel.image().width + 14 <= NARROW, panel.caption
        for box in _boxes(stepper.card):  # rows of panels (and of blocks) wrap instead of clipping or scrolling
            if isinstance(box, widgets.HBox) and any(isinstance(child, widgets.Box) for child in box.children):
                assert box.layout.flex_flow == "row wrap", box
        saved = _png(stepper.snapshot())  # the whole card with its text
        assert saved.width <= OUTPUT_AREA[0] and saved.height <= OUTPUT_AREA[1] - CONTROLS_PX, saved.size
        assert max(int(w.layout.width.removesuffix("px")) for w in (stepper.row, stepper.col)) <= NARROW


def _boxes(box) -> list:
    """``box`` and every Box inside it."""
    inside = [w for child in box.children if isinstance(child, widgets.Box) for w in _boxes(child)]
    return [box] + inside


def test_colour_bar_shows_the_colours_and_ends_of_its_range():
    bar = np.asarray(colour_bar(-0.5, 2.0, "RdBu_r", 100))
    cmap = matplotlib.colormaps["RdBu_r"]
    assert bar.shape[0] == 100 and bar.shape[1] > 12 + 20  # the strip and its labels
    for y in (1, 50, 79, 98):  # vmax at the top, vmin at the bottom, 0 a fifth of the way up (y = 79)
        np.testing.assert_allclose(bar[y, 6], np.array(cmap(1 - y / 99)[:3]) * 255, atol=3)
    with pytest.raises(ValueError, match="vmax > vmin"):
        colour_bar(1.0, 1.0, "gray", 100)


def _bars(monkeypatch, make) -> list[tuple[float, float]]:
    """The (vmin, vmax) of every colour bar drawn while ``make()`` draws its widget once."""
    ranges = []

    def bar(lo, hi, *args, **kwargs):
        ranges.append((round(lo, 4), round(hi, 4)))
        return colour_bar(lo, hi, *args, **kwargs)

    monkeypatch.setattr(stepper_module, "colour_bar", bar)
    make()
    return ranges


def test_every_heat_map_has_a_colour_bar_with_its_range(net, digit, monkeypatch):
    x = prepare(digit)[0]
    conv_map = F.conv2d(x[None, None], net.c1.weight[2:3], net.c1.bias[2:3])[0, 0]
    kernel = float(net.c1.weight[2].abs().max())
    window = x[14:19, 10:15] * net.c1.weight[2, 0]
    got = _bars(monkeypatch, lambda: ConvStepper(net=net, image=digit, channel=2, row=14, col=10))
    assert len(got) == 5  # input, map so far, window, kernel, products
    for lo, hi in [(INPUT_BACKGROUND, INPUT_INK), (-float(conv_map.abs().max()), float(conv_map.abs().max())),
                   (-kernel, kernel), (-float(window.abs().max()), float(window.abs().max()))]:
        assert (round(lo, 4), round(hi, 4)) in got

    act = float(net.s2_act.A)
    got = _bars(monkeypatch, lambda: C3Stepper(net=net, image=digit, out_map=15))
    c3_kernel = float(net.c3.full_weight()[15].abs().max())
    tanh, kernels = (round(-act, 4), round(act, 4)), (round(-c3_kernel, 4), round(c3_kernel, 4))
    c3_map = float(F.conv2d(net.s2_act(net.s2(net.c1_act(net.c1(x[None, None])))), net.c3.full_weight(),
                            net.c3.bias)[0, 15].abs().max())
    assert len(got) == 5 and got[:3] == [tanh, tanh, kernels]  # S2 maps, windows, kernels, products, the C3 map
    assert got[4] == (round(-c3_map, 4), round(c3_map, 4))

    got = _bars(monkeypatch, lambda: PoolStepper(net=net, image=digit, pooling="max"))
    assert got == [(round(-act, 4), round(act, 4))] * 3  # C1 map, window and max-pooled map share the tanh's range


@pytest.mark.parametrize("pooling", sorted(POOLINGS))
def test_pool_stepper_builds_the_pooled_map_so_far(net, digit, pooling):
    c1 = net.c1_act(net.c1(prepare(digit)[None])).detach()
    expected = {"average": F.avg_pool2d(c1, 2), "max": F.max_pool2d(c1, 2), "subsampling": net.s2(c1)}[pooling][0, 3]
    stepper = PoolStepper(net=net, image=digit, channel=3, row=5, col=8, pooling=pooling)
    built = stepper.pooled_map
    visited = 5 * 14 + 8 + 1
    torch.testing.assert_close(built.view(-1)[:visited], expected.detach().view(-1)[:visited], rtol=0, atol=1e-5)
    assert built.view(-1)[visited:].isnan().all(), "windows not yet pooled must stay blank"
    assert f"the map on the right shows {POOLINGS[pooling]}" in stepper.summary()
    before = stepper.snapshot()
    stepper.pooling.value = next(p for p in POOLINGS if p != pooling)
    assert stepper.snapshot() != before, "the picture must show the chosen pooling's map"


def test_each_widget_carries_a_picture_of_its_state(net, digit):
    for stepper in (ConvStepper(net=net, image=digit, row=10, col=20), C3Stepper(net=net, image=digit),
                    PoolStepper(net=net, image=digit)):
        bundle = stepper.picture_bundle()
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ""  # hidden in JupyterLab
        assert "sum" in bundle["text/plain"]
        picture = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
        assert picture.width > 200 and picture.height > 100
        before = stepper.snapshot()
        stepper.col.value += 1
        assert stepper.snapshot() != before, "the picture must follow the widget's state"


def test_default_stepper_uses_the_shipped_weights_and_a_real_digit():
    stepper = ConvStepper(row=14, col=14)
    image, _ = sample_digit()
    from lenet_utils.weights import load_lenet5

    trained = load_lenet5().requires_grad_(False)
    expected = F.conv2d(prepare(image)[None], trained.c1.weight, trained.c1.bias)[0, 0, 14, 14]
    assert stepper.result.output == pytest.approx(float(expected), abs=1e-5)


def test_making_the_widgets_leaves_the_learners_random_numbers_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    for stepper in (ConvStepper(), C3Stepper(), PoolStepper()):
        stepper.play.value += 1
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("interval_ms", [-5, 0, 12.5, "100"])
def test_a_play_interval_that_is_no_whole_number_of_milliseconds_is_refused(net, digit, interval_ms):
    with pytest.raises(ValueError, match=rf"interval_ms={interval_ms!r} is not valid: it must be a whole number >= 1"):
        ConvStepper(net=net, image=digit, interval_ms=interval_ms)


def test_c3_stepper_builds_the_map_the_trained_c3_makes():
    from lenet_utils.weights import load_lenet5

    trained = load_lenet5().requires_grad_(False)
    image, _ = sample_digit()
    s2 = trained.s2_act(trained.s2(trained.c1_act(trained.c1(prepare(image)[None]))))
    expected = trained.c3(s2)[0]
    stepper = C3Stepper(trained, out_map=6, row=4, col=4)
    built = stepper.feature_map.view(-1)
    torch.testing.assert_close(built[:45], expected[6].view(-1)[:45], rtol=0, atol=1e-5)
    assert built[45:].isnan().all(), "positions not yet visited must stay blank"
    stepper.move_to(9, 9)  # the last position: the whole map
    for o in range(16):
        stepper.choice.value = o
        torch.testing.assert_close(stepper.feature_map, expected[o], rtol=0, atol=1e-5)


def _captions(stepper) -> list[str]:
    return [stepper._text_lines([caption.value])[0] for _, _, caption in stepper._slots]


def test_c3_rows_are_labelled_and_the_products_row_adds_up(net, digit):
    stepper = C3Stepper(net=net, image=digit, out_map=13, row=5, col=7)
    result = stepper.result
    labels = [label for label, _ in stepper._blocks()[0][0]]
    assert len(labels) == 4 and all(labels) and "S2 maps" in labels[0] and "kernel" in labels[2]
    shown_labels = [w.value for w in _boxes(stepper.card) if isinstance(w, widgets.HBox)
                    for w in w.children if isinstance(w, widgets.HTML)]
    assert sum("S2 maps it reads" in v for v in shown_labels) == 1  # the labels are on the page
    n = len(result.partials)
    products = _captions(stepper)[3 * n:4 * n]  # the fourth row: "a", "+ b", ..., "+ z = total"
    assert products[0] == f"{result.partials[0]:.4f}"
    for caption, partial in zip(products[1:], result.partials[1:]):
        assert caption.startswith(f"{'-' if partial < 0 else '+'} {abs(partial):.4f}")
    assert products[-1].endswith(f"= {result.total:.4f}")
    assert f"{result.partials[0]:.4f}" in stepper.summary() and f"= {result.output:.4f}" in stepper.summary()


def test_play_pauses_where_it_is_and_keeps_the_map(net, digit):
    stepper = ConvStepper(net=net, image=digit, row=3, col=5)
    assert stepper.play.layout.display == "none", "Play's own stop button would throw the map away"
    stepper.play_button.click()
    assert stepper.play.playing and stepper.play_button.description == "pause"
    for _ in range(3):
        stepper.play.value += 1  # what three ticks of Play do in the browser
    stepper.play_button.click()
    assert not stepper.play.playing and stepper.play_button.description == "play"
    assert stepper.row_col == (3, 8) and stepper.play.value == 3 * 28 + 8
    assert (~stepper.feature_map.isnan()).sum() == 3 * 28 + 9, "the map built so far must stay"
    stepper.restart_button.click()  # start over is a separate, labelled button
    assert stepper.row_col == (0, 0) and (~stepper.feature_map.isnan()).sum() == 1


@pytest.mark.parametrize("make", [ConvStepper, C3Stepper, PoolStepper])
def test_every_control_says_what_it_does(net, digit, make):
    stepper = make(net=net, image=digit)
    for button in (stepper.play_button, stepper.restart_button, stepper.loop):
        assert button.description and len(button.tooltip) > 20, button
    assert len(stepper.speed.tooltips) == len(stepper.speed.options) and all(stepper.speed.tooltips)
    stepper.loop.value = True
    assert stepper.play.repeat, "loop must make Play start again after the last position"


def test_the_pooling_choice_has_short_labels_and_full_names_in_tooltips(net, digit):
    stepper = PoolStepper(net=net, image=digit)
    assert all(len(label) <= 10 for label in stepper.pooling._options_labels)  # never cut at a button's width
    assert stepper.pooling.style.button_width == "auto"
    for tooltip, name in zip(stepper.pooling.tooltips, POOLINGS.values()):
        assert tooltip.startswith(name)


def test_speed_sets_the_interval_and_whole_rows_fill_the_map_to_its_end(net, digit):
    stepper = ConvStepper(net=net, image=digit, interval_ms=100)
    stepper.speed.value = "slow"
    assert (stepper.play.interval, stepper.play.step) == (400, 1)
    stepper.speed.value = "rows"
    assert stepper.play.step == 28 and stepper.play.interval == 300
    stepper.play.value = 5  # a tick from position 5: the window goes to the end of the row
    assert stepper.row_col == (0, 27)
    while stepper.play.value + stepper.play.step <= stepper.play.max:  # what Play's ticks do until the end
        stepper.play.value += stepper.play.step
        assert stepper.col.value == 27
    assert stepper.row_col == (27, 27)
    expected = F.conv2d(prepare(digit)[None], net.c1.weight, net.c1.bias)[0, 0].detach()
    torch.testing.assert_close(stepper.feature_map, expected, rtol=0, atol=1e-5)


def _canvas(stepper, where: str) -> Canvas:
    return next(p for p, _, _ in stepper._slots if isinstance(p, Canvas) and f"lenet-stepper-{where}" in p._dom_classes)


@pytest.mark.parametrize("make, where, pixel, position", [
    (ConvStepper, "input", (10 * 8 + 3, 20 * 8 + 7), (18, 8)),  # input cell (20, 10): the window centred on it
    (ConvStepper, "output", (5 * 8 + 1, 7 * 8 + 2), (7, 5)),
    (ConvStepper, "input", (1, 1), (0, 0)),  # near the edge: the nearest window
    (C3Stepper, "input", (9 * 6, 13 * 6), (9, 7)),
    (C3Stepper, "output", (3 * 12, 8 * 12), (8, 3)),
    (PoolStepper, "input", (9 * 8, 13 * 8), (6, 4)),  # C1 cell (13, 9) lies in window (6, 4)
    (PoolStepper, "output", (11 * 16, 2 * 16), (2, 11)),
])
def test_a_click_on_a_map_moves_the_window_there(net, digit, make, where, pixel, position):
    stepper = make(net=net, image=digit, row=1, col=1)
    canvas = _canvas(stepper, where)
    canvas._handle_frontend_event(None, {"event": "mouse_down", "x": pixel[0], "y": pixel[1]}, [])
    assert stepper.row_col == position and stepper.play.value == position[0] * stepper.grid[1] + position[1]
    assert f"row {position[0]}, col {position[1]}" in stepper.summary()
    with pytest.raises(ValueError, match="where must be 'input' or 'output'"):
        stepper.click("kernel", 1, 1)


@pytest.mark.parametrize("make", [ConvStepper, C3Stepper, PoolStepper])
def test_the_card_is_white_with_dark_text_in_any_theme(net, digit, make):
    stepper = make(net=net, image=digit)
    assert "lenet-stepper-card" in stepper.card._dom_classes
    assert re.search(r"\.lenet-stepper-card \{ background: #ffffff; color: #1a1a1a", stepper.ui.children[0].value)
    texts = [stepper.view.value] + [c.value for _, _, c in stepper._slots]
    for text in texts:  # every line sets its dark colour itself, whatever the theme's text colour
        assert text and all(f"color:{stepper_module.INK}" in div for div in text.split("</div>") if div)


@pytest.mark.parametrize("make", [ConvStepper, C3Stepper, PoolStepper])
def test_the_saved_text_is_the_text_in_the_saved_picture(net, digit, make, monkeypatch):
    stepper = make(net=net, image=digit, row=2, col=3)
    drawn = []
    real = stepper_module.sheet
    monkeypatch.setattr(stepper_module, "sheet", lambda rows, lines=(), columns=False: drawn.append(list(lines))
                        or real(rows, lines, columns))
    stepper.snapshot()
    assert [lines for lines in drawn if lines] == [stepper.summary().split("\n")]
    assert "(row 2, col 3)" in stepper.picture_bundle()["text/plain"]
