"""Shape arithmetic and the layer trace, checked against what PyTorch actually computes."""

import pytest
import torch
from torch import nn

from lenet_utils.lenet import LeNet5, lenet_d2l
from lenet_utils.lenet_variants import lenet_cifar10, lenet_modern
from lenet_utils.models import make_lenet, mlp, small_cnn
from lenet_utils.parameters import conv_params, count_parameters, linear_params, parameter_table
from lenet_utils.shapes import ShapeError, conv_out, pool_out, trace


@pytest.mark.parametrize("W, F, P, S", [
    (28, 5, 2, 1), (32, 5, 0, 1), (14, 5, 0, 1), (7, 3, 1, 2), (227, 11, 0, 4), (5, 5, 0, 1),
    (10, 1, 0, 3), (9, 3, 0, 3),
])
def test_conv_out_matches_pytorch(W, F, P, S):
    expected = nn.Conv2d(1, 1, F, stride=S, padding=P)(torch.zeros(1, 1, W, W)).shape[-1]
    assert conv_out(W, F, P, S) == expected


@pytest.mark.parametrize("W, F, P, S", [(28, 2, 0, 2), (10, 2, 0, 2), (13, 3, 1, 2), (6, 3, 0, 3)])
def test_pool_out_matches_pytorch(W, F, P, S):
    x = torch.zeros(1, 1, W, W)
    assert pool_out(W, F, P, S) == nn.MaxPool2d(F, S, P)(x).shape[-1] == nn.AvgPool2d(F, S, P)(x).shape[-1]


def test_pool_stride_defaults_to_window():
    assert pool_out(28, 2) == 14
    assert pool_out(27, 3) == 9


def test_window_larger_than_padded_input_is_refused():
    with pytest.raises(ShapeError, match=r"larger than the padded input W \+ 2P = 3 \+ 2\*0 = 3") as err:
        conv_out(3, 5)
    assert "P = 1" in str(err.value)  # the padding that would make it fit
    assert conv_out(3, 5, P=1) == 1
    with pytest.raises(ShapeError, match="larger than the padded input"):
        pool_out(1, 2)


@pytest.mark.parametrize("W, F, P, S, kind", [(11, 2, 0, 2, "pool"), (32, 5, 0, 2, "conv"), (28, 3, 0, 2, "pool")])
def test_non_integer_output_explains_pytorch_floor(W, F, P, S, kind):
    fn = conv_out if kind == "conv" else pool_out
    layer = nn.Conv2d(1, 1, F, S, P) if kind == "conv" else nn.MaxPool2d(F, S, P)
    torch_size = layer(torch.zeros(1, 1, W, W)).shape[-1]
    with pytest.raises(ShapeError, match="not an integer") as err:
        fn(W, F, P, S)
    message = str(err.value)
    assert "floors" in message and f"gives {torch_size}" in message and "allow_floor=True" in message
    assert fn(W, F, P, S, allow_floor=True) == torch_size


def test_bad_arguments_are_refused_with_a_reason():
    with pytest.raises(ShapeError, match="S \\(stride\\) must be an int of at least 1, got 0"):
        conv_out(28, 5, 0, 0)
    with pytest.raises(ShapeError, match="P \\(padding\\) must be an int of at least 0, got -1"):
        conv_out(28, 5, -1)
    with pytest.raises(ShapeError, match="W \\(input size\\) must be an int of at least 1, got 28.0"):
        conv_out(28.0, 5)
    with pytest.raises(ShapeError, match="F \\(window size\\) must be an int"):
        pool_out(28, True)
    with pytest.raises(ShapeError, match="more than half the window"):
        pool_out(10, 2, P=2)


def test_parameter_formulas_match_modules():
    assert conv_params(6, 16, 5) == count_parameters(nn.Conv2d(6, 16, 5)) == 2416
    assert conv_params(3, 8, 3, bias=False) == count_parameters(nn.Conv2d(3, 8, 3, bias=False))
    assert linear_params(400, 120) == count_parameters(nn.Linear(400, 120)) == 48120
    assert linear_params(84, 10, bias=False) == 840
    with pytest.raises(ValueError, match="in_channels=0 is not valid: it must be a whole number >= 1"):
        conv_params(0, 6, 5)


def test_trace_reproduces_d2l_lenet():
    rows = trace(lenet_d2l(), (1, 1, 28, 28))
    assert [r.type for r in rows] == ["Conv2d", "Sigmoid", "AvgPool2d", "Conv2d", "Sigmoid", "AvgPool2d",
                                      "Flatten", "Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    layer_shapes = [s for r, s in zip(rows, rows.shapes()) if r.type not in ("Sigmoid",)]
    assert layer_shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (400,), (120,), (84,), (10,)]


@pytest.mark.parametrize("make, shape", [
    (lenet_d2l, (2, 1, 28, 28)), (lenet_cifar10, (3, 3, 32, 32)), (lenet_modern, (1, 1, 28, 28)),
    (mlp, (4, 1, 28, 28)), (small_cnn, (2, 1, 28, 28)), (LeNet5, (2, 1, 32, 32)),
])
def test_trace_agrees_with_a_plain_forward_pass(make, shape):
    torch.manual_seed(0)
    net = make().eval()
    rows = trace(net, shape)
    # step through the Sequential by hand: every output shape must be what the trace recorded
    x = torch.zeros(shape)
    for (name, layer), row in zip(net.named_children(), rows, strict=True):
        x = layer(x)
        assert (row.name, row.output_shape, row.num_params) == (name, tuple(x.shape), count_parameters(layer))
    assert rows.total_params == count_parameters(net)
    assert tuple(net(torch.zeros(shape)).shape) == rows[-1].output_shape


def test_trace_runs_in_eval_mode_and_restores_training_mode():
    net = lenet_modern()
    net.train()
    before = net.bn1.running_mean.clone()
    trace(net, (1, 1, 28, 28))  # batch norm would refuse a batch of one in training mode
    assert net.training and all(m.training for m in net.modules())
    assert torch.equal(net.bn1.running_mean, before)  # statistics untouched by the zeros
    net.eval()
    trace(net, (1, 1, 28, 28))
    assert not net.training


def test_trace_table_is_plain_and_deterministic():
    text = str(trace(make_lenet(), (1, 1, 28, 28)))
    assert text == str(trace(make_lenet(), (1, 1, 28, 28)))
    assert text.splitlines()[0] == "input: 1×1×28×28"
    assert "fc1      Linear     1×120             48,120" in text
    assert text.splitlines()[-1].split() == ["total", "61,706"]


def test_trace_reports_the_layer_where_shapes_break():
    with pytest.raises(ShapeError, match=r"does not fit after layer 'flatten' \(Flatten, output \(1, 576\)\)"):
        trace(make_lenet(), (1, 1, 32, 32))  # 32x32 gives 16x6x6 = 576 features, fc1 wants 400
    with pytest.raises(ShapeError, match="does not fit at the first layer"):
        trace(lenet_d2l(), (1, 3, 28, 28))  # three channels for a one-channel conv
    with pytest.raises(TypeError, match="layers of an nn.Sequential"):
        trace(nn.Conv2d(1, 6, 5), (1, 1, 28, 28))
    with pytest.raises(ShapeError, match="tuple of positive ints"):
        trace(lenet_d2l(), (28, 28.0))


def test_parameter_table_lists_owners_of_parameters():
    table = parameter_table(make_lenet())
    assert [(r[0], r[3]) for r in table] == [("conv1", 156), ("conv2", 2416), ("fc1", 48120),
                                             ("fc2", 10164), ("fc3", 850)]
    assert table[0][2] == "6×1×5×5 + 6"
    assert table.total == 61706 and str(table).splitlines()[-1].split() == ["total", "61,706"]
