"""Every model's parameter counts and output shapes, and the pieces of the faithful LeNet-5."""

import copy
import io
import math

import pytest
import torch
from torch import nn

from lenet_utils.lenet import (C3_TABLE, DIGIT_CODES, DIGIT_GLYPHS, LeNet5, PartialConv2d, RBFOutput, ScaledTanh,
                               Subsampling, c3_connection_mask, lenet_d2l)
from lenet_utils.lenet_variants import lenet_cifar10, lenet_modern, lenet_relu_avg
from lenet_utils.models import make_lenet, mlp, small_cnn
from lenet_utils.parameters import conv_params, count_parameters, linear_params, parameter_table
from lenet_utils.shapes import ShapeError, trace


def test_lenet5_parameter_table_is_the_papers():
    table = {name: count for name, _, _, count in parameter_table(LeNet5())}
    assert table == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164, "output": 850}
    assert count_parameters(LeNet5()) == 60850
    # what the optimizer sees is the same number: nothing is counted specially
    assert sum(p.numel() for p in LeNet5().parameters()) == 60850


def test_lenet5_trace_shapes():
    rows = {r.name: r.output_shape for r in trace(LeNet5(), (2, 1, 32, 32))}
    assert rows["c1"] == (2, 6, 28, 28) and rows["s2"] == (2, 6, 14, 14)
    assert rows["c3"] == (2, 16, 10, 10) and rows["s4"] == (2, 16, 5, 5)
    assert rows["c5"] == (2, 120, 1, 1) and rows["f6"] == (2, 84) and rows["output"] == (2, 10)


def test_lenet5_refuses_28x28_with_advice():
    with pytest.raises(ShapeError, match="pad=2"):
        LeNet5()(torch.zeros(1, 1, 28, 28))


def test_c3_connection_table_is_table_one_of_the_paper():
    mask = c3_connection_mask()
    assert mask.shape == (16, 6) and int(mask.sum()) == 60
    assert mask.sum(dim=1).tolist() == [3] * 6 + [4] * 9 + [6]
    # maps 0-5 read three cyclically neighbouring S2 maps, maps 6-11 four
    for o in range(6):
        assert set(C3_TABLE[o]) == {o % 6, (o + 1) % 6, (o + 2) % 6}
        assert set(C3_TABLE[o + 6]) == {(o + k) % 6 for k in range(4)}
    # row 0 of the paper's table: S2 map 0 feeds C3 maps 0, 4, 5, 6, 9, 10, 11, 12, 14, 15
    assert mask[:, 0].nonzero().squeeze(1).tolist() == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    assert conv_params(6, 16, 5) - count_parameters(LeNet5().c3) == 900  # 36 unconnected kernels


def test_partial_conv_is_a_masked_conv():
    torch.manual_seed(0)
    c3 = PartialConv2d(c3_connection_mask())
    dense = nn.Conv2d(6, 16, 5)
    with torch.no_grad():
        dense.weight.copy_(c3.full_weight())
        dense.bias.copy_(c3.bias)
    x = torch.randn(3, 6, 14, 14)
    torch.testing.assert_close(c3(x), dense(x))
    full = c3.full_weight()
    assert torch.all(full[~c3.mask] == 0) and torch.all(full[c3.mask].abs().sum(dim=(1, 2)) > 0)
    c3(x).sum().backward()
    assert c3.weight.grad.shape == (60, 5, 5) and torch.all(c3.weight.grad.abs().sum(dim=(1, 2)) > 0)


def test_partial_conv_init_follows_fan_in():
    torch.manual_seed(0)
    c3 = PartialConv2d(c3_connection_mask())
    bounds = 2.4 / (c3.mask.sum(dim=1).float() * 25)
    largest = c3.weight.abs().amax(dim=(1, 2))
    assert torch.all(largest <= bounds[c3.out_index]) and torch.all(largest > 0.5 * bounds[c3.out_index])
    assert torch.all(c3.bias.abs() <= bounds)
    with pytest.raises(ValueError, match="at least one input map"):
        PartialConv2d(torch.tensor([[True, False], [False, False]]))
    with pytest.raises(ValueError, match="out x in boolean table"):
        PartialConv2d(torch.ones(6, dtype=torch.bool))


def test_scaled_tanh():
    f = ScaledTanh()
    x = torch.tensor([-1.0, 0.0, 1.0, 50.0])
    y = f(x)
    assert y[1] == 0 and abs(y[2] - 1) < 1e-4 and abs(y[0] + 1) < 1e-4  # f(+-1) = +-1
    assert abs(y[3] - 1.7159) < 1e-4  # saturates at A
    torch.testing.assert_close(y, 1.7159 * torch.tanh(2 * x / 3))


def test_subsampling_is_average_times_coefficient_plus_bias():
    layer = Subsampling(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([2.0, -1.0]))
        layer.bias.copy_(torch.tensor([0.5, 1.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    y = layer(x)
    assert y.shape == (1, 2, 2, 2)
    top_left = x[0, :, :2, :2].mean(dim=(1, 2))
    torch.testing.assert_close(y[0, :, 0, 0], top_left * torch.tensor([2.0, -1.0]) + torch.tensor([0.5, 1.0]))
    assert count_parameters(layer) == 4
    y.sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad.tolist() == [4.0, 4.0]


def test_rbf_output_scores_distance_to_fixed_codes():
    assert DIGIT_CODES.shape == (10, 84) and set(DIGIT_CODES.unique().tolist()) == {-1.0, 1.0}
    assert all(len(DIGIT_GLYPHS[d].split()) == 12 and {len(r) for r in DIGIT_GLYPHS[d].split()} == {7}
               for d in range(10))  # 12 rows of 7 pixels, as in the paper's Fig. 3
    assert len({tuple(c.tolist()) for c in DIGIT_CODES}) == 10
    rbf = RBFOutput()
    scores = rbf(DIGIT_CODES[[3, 7]])
    assert scores.argmax(dim=1).tolist() == [3, 7] and torch.all(scores.amax(dim=1) == 0)
    x = torch.randn(2, 84)
    torch.testing.assert_close(rbf(x), -((x[:, None] - DIGIT_CODES) ** 2).sum(-1))
    net = LeNet5(output="rbf")
    assert count_parameters(net) == 60000 and net(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="'dense' or 'rbf'"):
        LeNet5(output="softmax")


def test_lenet5_starts_with_the_papers_initialisation():
    torch.manual_seed(0)
    net = LeNet5()
    for layer, fan_in in ((net.c1, 25), (net.c5, 400), (net.f6, 120), (net.output, 84)):
        bound = 2.4 / fan_in
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
    assert torch.all(net.s2.weight == 1) and torch.all(net.s2.bias == 0)


@pytest.mark.parametrize("output", ["dense", "rbf"])
def test_lenet5_learns_a_tiny_batch(output):
    torch.manual_seed(0)
    net = LeNet5(output=output)
    X, y = torch.randn(20, 1, 32, 32), torch.arange(20) % 10
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
    assert (net(X).argmax(1) == y).float().mean() == 1.0


@pytest.mark.parametrize("make, shape, expected", [
    # expected counts from the layer formulas, not from the modules themselves
    (lenet_d2l, (2, 1, 28, 28),
     conv_params(1, 6, 5) + conv_params(6, 16, 5) + linear_params(400, 120) + linear_params(120, 84)
     + linear_params(84, 10)),
    (lenet_relu_avg, (2, 1, 28, 28),
     conv_params(1, 6, 5) + conv_params(6, 16, 5) + linear_params(256, 120) + linear_params(120, 84)
     + linear_params(84, 10)),
    (lenet_cifar10, (2, 3, 32, 32),
     conv_params(3, 6, 5) + conv_params(6, 16, 5) + linear_params(400, 120) + linear_params(120, 84)
     + linear_params(84, 10)),
    (lenet_modern, (2, 1, 28, 28),
     conv_params(1, 6, 5) + conv_params(6, 16, 5) + linear_params(400, 120) + linear_params(120, 84)
     + linear_params(84, 10) + 2 * (6 + 16 + 120 + 84)),
    (mlp, (2, 1, 28, 28), linear_params(784, 256) + linear_params(256, 10)),
    (small_cnn, (2, 1, 28, 28),
     conv_params(1, 6, 5) + conv_params(6, 16, 5) + linear_params(400, 120) + linear_params(120, 84)
     + linear_params(84, 10)),
])
def test_variants_count_and_shape(make, shape, expected):
    net = make()
    assert count_parameters(net) == expected
    assert net(torch.rand(shape)).shape == (shape[0], 10)


def test_d2l_lenet_is_d2ls_sequential():
    net = lenet_d2l()
    assert isinstance(net, nn.Sequential) and len(net) == 12
    assert net[0].padding == (2, 2) and isinstance(net[1], nn.Sigmoid) and isinstance(net[2], nn.AvgPool2d)
    with pytest.raises(TypeError):
        lenet_d2l("relu")  # variants are make_lenet(activation=..., pool=...)


@pytest.mark.parametrize("plain, named", [(lenet_d2l, lambda: make_lenet()),
                                          (small_cnn, lambda: make_lenet(activation="relu", pool="max"))])
def test_plain_sequentials_match_make_lenet_layer_for_layer(plain, named):
    a, b = trace(plain(), (1, 1, 28, 28)), trace(named(), (1, 1, 28, 28))
    assert [(r.type, r.output_shape, r.num_params) for r in a] == [(r.type, r.output_shape, r.num_params) for r in b]
    assert a.total_params == b.total_params == 61706


def test_chapter_6_builds_d2l_017s_batch_norm_lenet_layer_for_layer():
    """d2l 0.17, section 7.5 (concise version): BN after each conv and dense layer, before the
    sigmoid; the first conv unpadded, so fc1 gets 16 * 4 * 4 inputs. Chapter 6 trains it as
    ``make_lenet("sigmoid", "avg", batch_norm=True, padding=0)``."""
    d2l = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, 10))
    for batch_norm in (True, False):  # without batch norm: the same layout, batch norm the only difference
        ours = make_lenet("sigmoid", "avg", batch_norm=batch_norm, padding=0)
        theirs = d2l if batch_norm else nn.Sequential(*(m for m in d2l if not isinstance(m, nn.modules.batchnorm._BatchNorm)))
        a, b = trace(theirs, (2, 1, 28, 28)), trace(ours, (2, 1, 28, 28))
        assert [(r.type, r.output_shape, r.num_params) for r in a] == [(r.type, r.output_shape, r.num_params) for r in b]


def test_cifar10_variant_has_dropout_and_floors_11_to_5():
    net = lenet_cifar10()
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.5 for d in drops)
    rows = {r.name: r.output_shape for r in trace(net, (1, 3, 32, 32))}
    assert rows["conv2"] == (1, 16, 11, 11) and rows["pool2"] == (1, 16, 5, 5)


@pytest.mark.parametrize("activation, cls", [("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("relu", nn.ReLU),
                                             ("scaled_tanh", ScaledTanh), ("ReLU", nn.ReLU)])
@pytest.mark.parametrize("pool, pool_cls", [("avg", nn.AvgPool2d), ("max", nn.MaxPool2d),
                                            ("subsampling", Subsampling)])
def test_make_lenet_options(activation, cls, pool, pool_cls):
    net = make_lenet(activation=activation, pool=pool)
    assert sum(isinstance(m, cls) for m in net) == 4
    assert sum(isinstance(m, pool_cls) for m in net) == 2
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_make_lenet_batch_norm_dropout_and_sizes():
    net = make_lenet(batch_norm=True, dropout=0.25, in_channels=3, image_size=32, num_classes=7)
    names = [name for name, _ in net.named_children()]
    assert names == ["conv1", "bn1", "act1", "pool1", "conv2", "bn2", "act2", "pool2", "flatten",
                     "drop1", "fc1", "bn3", "act3", "drop2", "fc2", "bn4", "act4", "fc3"]
    assert net(torch.rand(4, 3, 32, 32)).shape == (4, 7)
    big = make_lenet(image_size=64)  # 64 -> 60 -> 30 -> 26 -> 13
    assert big.fc1.in_features == 16 * 13 * 13 and big(torch.rand(1, 1, 64, 64)).shape == (1, 10)
    assert make_lenet(image_size=32).conv1.padding == (0, 0)


def test_make_lenet_channels_kernel_size_and_width():
    # d2l's exercise: wider convolutions, 3x3 kernels, other hidden widths
    net = make_lenet(channels=(12, 32), kernel_size=3, hidden=(200, 50))
    rows = {r.name: r for r in trace(net, (1, 1, 28, 28))}
    assert rows["conv1"].output_shape == (1, 12, 28, 28)  # padding (3 - 1) // 2 = 1 keeps 28x28
    assert rows["pool2"].output_shape == (1, 32, 6, 6)  # 28 -> 14 -> 12 -> 6
    assert rows["fc1"].num_params == linear_params(32 * 6 * 6, 200) and rows["fc3"].num_params == linear_params(50, 10)
    assert count_parameters(net) == (conv_params(1, 12, 3) + conv_params(12, 32, 3) + linear_params(1152, 200)
                                     + linear_params(200, 50) + linear_params(50, 10))
    big = make_lenet(kernel_size=7, batch_norm=True)  # padding 3: 28 -> 28 -> 14 -> 8 -> 4
    assert big.fc1.in_features == 16 * 4 * 4 and big.bn1.num_features == 6
    assert big(torch.rand(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("kwargs, message", [
    ({"channels": (6,)}, "channels and hidden are pairs"),
    ({"hidden": 84}, "channels and hidden are pairs"),
    ({"channels": (6, 0)}, r"channels\[1\]=0 is not valid: it must be a whole number >= 1"),
    ({"kernel_size": 15}, "too small for LeNet's two 15x15 convolutions"),
    ({"activation": "swish"}, "unknown activation 'swish'; choose one of sigmoid, tanh"),
    ({"pool": "median"}, "unknown pool 'median'; choose one of avg, max"),
    ({"dropout": 1.0}, "dropout is a probability"),
    ({"in_channels": 0}, "in_channels=0 is not valid"),
    ({"image_size": 8}, "image_size=8 with padding=2 is too small"),
])
def test_make_lenet_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_lenet(**kwargs)


@pytest.mark.parametrize("make, right, wrong, advice", [
    # what arrives, and the advice the message must give
    (lenet_d2l, (2, 1, 28, 28), (2, 1, 32, 32), r"Resize them to 28x28 \(load_data\(\.\.\., resize=28\)\)"),
    # 30x30 used to pass silently: 30 -> 15 -> 11 -> 5, the second pooling floors
    (lenet_d2l, (2, 1, 28, 28), (2, 1, 30, 30),
     r"resize=28\)\) or build a net for them \(make_lenet\(image_size=30"),
    (small_cnn, (2, 1, 28, 28), (2, 1, 24, 24),
     r"Pad them by 2 pixels on each side \(load_data\(\.\.\., pad=2\)\)"),
    (small_cnn, (2, 1, 28, 28), (2, 28, 28), r"x\.unsqueeze\(1\) adds the channel axis"),
    (small_cnn, (2, 1, 28, 28), (28, 28), r"one image: x\.reshape\(1, 1, 28, 28\)"),
    (mlp, (2, 1, 28, 28), (2, 1, 32, 32), "resize=28"),
    (mlp, (2, 784), (2, 1024), r"or N x 784 flattened\), got \(2, 1024\)\. Reshape or resize"),
    (lambda: make_lenet(in_channels=3, image_size=32), (2, 3, 32, 32), (2, 1, 32, 32),
     r"These have 1 channel\(s\), the first layer reads 3"),
    (lambda: make_lenet(in_channels=3, image_size=32), (2, 3, 32, 32), (3, 32, 32),
     r"one image: x\.reshape\(1, 3, 32, 32\)"),
])
def test_wrong_input_shape_says_what_arrived_what_fits_and_what_to_do(make, right, wrong, advice):
    net = make()
    with pytest.raises(ShapeError, match=advice) as refused:
        net(torch.zeros(wrong))
    message = str(refused.value)
    assert f"got {wrong}" in message and "expects a batch of" in message
    assert "mat1 and mat2" not in message
    assert net(torch.zeros(right)).shape == (right[0], 10)


def test_input_check_names_the_net_and_its_settings():
    with pytest.raises(ShapeError, match=r"^lenet_d2l\(\) expects a batch of 1x28x28 images \(N x 1 x 28 x 28\)"):
        lenet_d2l()(torch.zeros(1, 3, 28, 28))
    with pytest.raises(ShapeError, match=r"^make_lenet\(in_channels=1, image_size=32\) expects .* 1x32x32"):
        make_lenet(image_size=32)(torch.zeros(1, 1, 28, 28))
    with pytest.raises(ShapeError, match=r"^mlp\(\) expects .*N x 784 flattened"):
        mlp()(torch.zeros(1, 1, 20, 20))
    with pytest.raises(TypeError, match=r"a torch\.Tensor.*got list.*torch\.as_tensor"):
        small_cnn()([[0.0] * 28] * 28)


@pytest.mark.parametrize("make", [lenet_d2l, small_cnn, mlp, make_lenet, lenet_modern])
def test_input_check_survives_copies_pickling_and_state_dict(make):
    net = make()
    assert type(net) is nn.Sequential  # the check is a hook, not a layer or a subclass
    twin = copy.deepcopy(net)
    buffer = io.BytesIO()
    torch.save(net, buffer)
    buffer.seek(0)
    unpickled = torch.load(buffer, weights_only=False)
    fresh = make()
    fresh.load_state_dict(net.state_dict())
    x = torch.rand(2, 1, 28, 28)
    net.eval(), twin.eval(), unpickled.eval(), fresh.eval()
    for other in (twin, unpickled, fresh):
        torch.testing.assert_close(other(x), net(x))
        with pytest.raises(ShapeError, match="expects a batch of 1x28x28"):
            other(torch.zeros(2, 1, 32, 32))


def test_mlp_layers():
    net = mlp(num_hiddens=128)
    assert [type(m).__name__ for m in net] == ["Flatten", "Linear", "ReLU", "Linear"]
    assert count_parameters(net) == linear_params(784, 128) + linear_params(128, 10)
    assert not math.isnan(net(torch.rand(3, 784)).sum().item())


@pytest.mark.parametrize("make, dataset, pad, threshold", [
    (lambda: LeNet5(), "mnist", 2, 0.75),
    (small_cnn, "fashion-mnist", 0, 0.6),
    (mlp, "fashion-mnist", 0, 0.65),
])
def test_models_learn_the_bundled_sample(make, dataset, pad, threshold):
    """Two epochs of Adam on the package's own sample (no download, no LENET_DATA_DIR): far above the
    0.1 of chance, a regression in a model's forward pass or initialisation shows up here."""
    from lenet_utils.data import SAMPLE_DIR, load_data

    train_iter, test_iter = load_data(dataset, 64, pad=pad, root=SAMPLE_DIR, train_size=2000,
                                      test_size=1000, seed=0, verbose=False)
    torch.manual_seed(0)
    net = make()
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(2):
        for X, y in train_iter:
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(X), y).backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (net(test_iter.X).argmax(dim=1) == test_iter.y).float().mean().item()
    assert accuracy > threshold
