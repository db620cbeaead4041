"""Receptive fields from the layer geometry agree with what the input gradients say."""

import numpy as np
import pytest
import torch

from lenet_utils.lenet import C3_TABLE, LeNet5
from lenet_utils.receptive_fields import LAYERS, Box, c3_inputs, layer_shape, receptive_field


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return LeNet5().double().eval()


def layer_output(net, x, layer):
    """Output of ``layer`` (after its activation for conv/subsampling layers, where there is one)."""
    for name, module in net.named_children():
        x = module(x)
        if name == layer:
            return x
    raise KeyError(layer)


def depends_on(net, layer, channel, row, col):
    """Boolean 32x32 mask of the input pixels with a non-zero gradient of that unit."""
    x = torch.randn(1, 1, 32, 32, dtype=torch.float64, requires_grad=True)
    out = layer_output(net, x, layer)
    unit = out[0, channel, row, col] if out.dim() == 4 else out[0, channel]
    unit.backward()
    return x.grad[0, 0] != 0


def as_mask(box: Box):
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[box.slices] = True
    return mask


UNITS = [("c1", 0, 0, 0), ("c1", 5, 27, 27), ("c1", 2, 13, 4),
         ("s2", 0, 0, 0), ("s2", 3, 13, 13), ("s2", 5, 6, 9),
         ("c3", 0, 0, 0), ("c3", 7, 9, 9), ("c3", 15, 4, 2),
         ("s4", 1, 0, 0), ("s4", 9, 4, 4), ("s4", 15, 2, 3),
         ("c5", 0, 0, 0), ("c5", 119, 0, 0), ("f6", 40, 0, 0), ("output", 3, 0, 0)]


@pytest.mark.parametrize("layer,channel,row,col", UNITS)
def test_box_equals_the_pixels_with_nonzero_input_gradient(net, layer, channel, row, col):
    box = receptive_field(layer, channel, row, col)
    assert torch.equal(depends_on(net, layer, channel, row, col), as_mask(box))


def test_sizes_grow_layer_by_layer():
    sizes = {layer: receptive_field(layer, 0, 0, 0).size for layer in LAYERS}
    assert sizes == {"c1": (5, 5), "s2": (6, 6), "c3": (14, 14), "s4": (16, 16), "c5": (32, 32),
                     "f6": (32, 32), "output": (32, 32)}


def test_layer_shapes():
    assert [layer_shape(layer) for layer in LAYERS] == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1), (84, 1, 1), (10, 1, 1)]


@pytest.mark.parametrize("channel", range(16))
def test_c3_reads_exactly_the_s2_maps_its_table_row_names(net, channel):
    s2 = layer_output(net, torch.randn(1, 1, 32, 32, dtype=torch.float64), "s2_act")
    s2 = s2.detach().requires_grad_(True)
    net.c3(s2)[0, channel, 5, 5].backward()
    fed = tuple(int(c) for c in (s2.grad[0] != 0).any(dim=2).any(dim=1).nonzero().flatten())
    assert c3_inputs(channel) == fed == C3_TABLE[channel]


def test_numpy_integers_are_units_too():
    assert receptive_field("s4", np.int64(2), np.int64(1), np.int64(3)) == Box(4, 12, 20, 28)


@pytest.mark.parametrize("args", [("c9", 0, 0, 0), ("c1", 6, 0, 0), ("s2", 0, 14, 0), ("c3", 0, 0, -1),
                                  ("c5", 0, 1, 0), ("c1", 0.0, 0, 0)])
def test_bad_units_get_a_clear_message(args):
    with pytest.raises(ValueError, match="layer|must be an int"):
        receptive_field(*args)
