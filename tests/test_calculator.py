"""The chapter 2 shape calculator, driven from Python the way a slider would drive it."""

import torch
from torch import nn

from lenet_utils.widgets.calculator import ShapeCalculator


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


def test_invalid_combinations_are_flagged():
    calc = ShapeCalculator(W=28, F=5, P=0, S=2)  # (28 - 5) / 2 + 1 = 12.5
    assert not calc.valid and calc.output_shape is None
    assert "invalid" in calc.result.value and "floors" in calc.result.value and "gives 12" in calc.result.value
    calc.P.value = 1  # (28 - 5 + 2) / 2 + 1 = 13.5 still
    assert not calc.valid
    calc.F.value = 4  # (28 - 4 + 2) / 2 + 1 = 14
    assert calc.valid and calc.output_shape == (6, 14, 14)
    calc.W.value, calc.F.value, calc.P.value = 3, 9, 0  # window larger than the input
    assert not calc.valid and "larger than the padded input" in calc.result.value


def test_pooling_keeps_channels_and_has_no_parameters():
    calc = ShapeCalculator(W=28, F=2, S=2, in_channels=6, kind="pool")
    assert calc.output_shape == (6, 14, 14) and calc.num_params == 0 and calc.out_channels.disabled
    calc.kind.value = "conv"
    assert not calc.out_channels.disabled and calc.num_params == 6 * 6 * 2 * 2 + 6
