"""Feature-map capture, shifted images and the chapter 3 pictures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lenet_utils.features import (architecture_figure, capture_feature_maps, shift_images,  # noqa: E402
                                 show_connection_table, show_feature_maps, show_kernels)
from lenet_utils.models import LeNet5, c3_connection_mask, make_lenet  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_shift_images_moves_pixels_and_fills_with_zeros():
    X = torch.zeros(1, 1, 5, 5)
    X[0, 0, 2, 2] = 1.0
    right_down = shift_images(X, dx=2, dy=1)
    assert right_down.shape == X.shape and right_down[0, 0, 3, 4] == 1 and right_down.sum() == 1
    left = shift_images(X, dx=-3)
    assert left.sum() == 0  # moved out of the frame, nothing wraps around
    assert torch.equal(shift_images(X), X)
    with pytest.raises(ValueError, match="N x C x H x W"):
        shift_images(X[0])


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


def test_pictures_draw_the_right_things():
    net = LeNet5()
    fig = show_connection_table(c3_connection_mask())
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (6, 16) and int(image.sum()) == 60

    fig = show_kernels(net.c3.full_weight(), mask=net.c3.mask)
    drawn = sum(len(ax.images) for ax in fig.axes)
    assert drawn == 60  # one picture per connected kernel, none for the 36 missing ones

    maps = capture_feature_maps(net, torch.rand(1, 1, 32, 32), layers=["c1_act", "c3_act", "f6_act"])
    fig = show_feature_maps(maps, max_channels=8)
    assert sum(len(ax.images) for ax in fig.axes) == 6 + 8 + 1

    fig = architecture_figure(net, (1, 1, 32, 32))
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"INPUT", "C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT", "6@28×28", "16@5×5", "84"} <= texts
    texts = {t.get_text() for t in architecture_figure(make_lenet(), (1, 1, 28, 28)).axes[0].texts}
    assert {"CONV1", "6@28×28", "POOL2", "16@5×5", "FC3"} <= texts


def test_architecture_figure_labels_each_arrow_on_one_line_and_draws_the_input():
    """Each connection's label sits right under its arrow, all at one height; the paper's F6 -> output
    is 'Gaussian connections'; an input image is drawn in the input box."""
    fig = architecture_figure(LeNet5(output="rbf"), (1, 1, 32, 32), input_image=torch.rand(1, 32, 32))
    ax = fig.axes[0]
    arrows = sorted((a.xy[0], a.xyann[0]) for a in ax.texts if hasattr(a, "arrow_patch") and a.arrow_patch)
    labels = [t for t in ax.texts if "\n" in t.get_text()]
    assert [t.get_text() for t in labels][-1] == "Gaussian\nconnections"
    assert len(labels) == len(arrows) == 7
    assert len({t.get_position()[1] for t in labels}) == 1  # one line, not staggered
    for text, (head, tail) in zip(sorted(labels, key=lambda t: t.get_position()[0]), arrows):
        assert tail < text.get_position()[0] < head  # under its own arrow
    assert len(ax.images) == 1
    assert len(architecture_figure(LeNet5(), (1, 1, 32, 32)).axes[0].images) == 0
