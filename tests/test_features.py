"""Feature-map capture: every layer's output through forward hooks, the network left as it was."""

import pytest
import torch

from lenet_utils.features import capture_feature_maps
from lenet_utils.lenet import LeNet5


def test_capture_feature_maps_matches_the_forward_pass():
    torch.manual_seed(0)
    net = LeNet5()
    net.train()
    X = torch.rand(3, 1, 32, 32)
    maps = capture_feature_maps(net, X)
    assert list(maps)[:3] == ["c1", "c1_act", "s2"] and maps["c3"].shape == (3, 16, 10, 10)
    torch.testing.assert_close(maps["output"], net(X).detach())
    torch.testing.assert_close(maps["c1_act"], net.c1_act(net.c1(X)).detach())
    assert net.training and all(not m._forward_hooks for m in net.modules())
    only = capture_feature_maps(net, X, layers=["s4", "f6"])
    assert list(only) == ["s4", "f6"]
    with pytest.raises(KeyError, match="no layer named"):
        capture_feature_maps(net, X, layers=["conv9"])
