"""The convolution stepper shows PyTorch's arithmetic: every number it shows is checked against
F.conv2d, LeNet-5's C3 layer and the pooling functions, at every position."""

import base64
import io

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lenet_utils.models import C3_TABLE, LeNet5
from lenet_utils.weights import prepare
from lenet_utils.widgets.stepper import C3Stepper, ConvStepper, PoolStepper, c3_step, conv_step, pool_step, sample_digit


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
        stepper.position.value = k
        r, c = divmod(k, 28)
        assert stepper.row_col == (r, c)
        assert stepper.shown_sum == pytest.approx(float(expected[r, c]) - bias, abs=1e-4)
        assert f"sum of the 25 products = {stepper.result.total:.4f}" in stepper.view.value
        built = stepper.feature_map
        assert built.view(-1)[k + 1:].isnan().all(), "positions not yet visited must stay blank"
        torch.testing.assert_close(built.view(-1)[:k + 1], expected.view(-1)[:k + 1], rtol=0, atol=1e-5)
    stepper.position.value = 5  # moving back blanks the later positions again
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
    stepper.position.value = 57
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
    stepper = PoolStepper(net=net, image=digit, channel=4, position=14 * 6 + 9)
    assert stepper.result.subsampled == pytest.approx(float(s2[4, 6, 9]), abs=1e-5)
    assert stepper.shown_sum == pytest.approx(float(avg[4, 6, 9]) * 4, abs=1e-4)
    with pytest.raises(ValueError, match="grid of windows"):
        pool_step(c1[0, 0], 14, 0)


def test_widgets_refuse_a_position_off_the_slider(net, digit):
    with pytest.raises(ValueError, match=r"position must lie in 0\.\.99"):
        C3Stepper(net=net, image=digit, position=100)
    with pytest.raises(ValueError, match=r"map must be one of \[0, 1, 2, 3, 4, 5\], got 6"):
        ConvStepper(net=net, image=digit, channel=6)
    with pytest.raises(ValueError, match="one 32x32 digit"):
        ConvStepper(net=net, image=torch.zeros(1, 28, 28))


def test_each_widget_carries_a_picture_of_its_state(net, digit):
    for stepper in (ConvStepper(net=net, image=digit, position=300), C3Stepper(net=net, image=digit),
                    PoolStepper(net=net, image=digit)):
        bundle = stepper.picture_bundle()
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ""  # hidden in JupyterLab
        assert "sum" in bundle["text/plain"]
        picture = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
        assert picture.width > 200 and picture.height > 100
        before = stepper.snapshot()
        stepper.position.value += 1
        assert stepper.snapshot() != before, "the picture must follow the widget's state"


def test_default_stepper_uses_the_shipped_weights_and_a_real_digit():
    stepper = ConvStepper(position=14 * 28 + 14)
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
        stepper.position.value += 1
    assert torch.equal(torch.rand(3), expected)
