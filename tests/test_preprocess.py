"""MNIST-style preprocessing of drawings: real digits survive the round trip through a canvas."""

import numpy as np
import pytest
import torch

from lenet_utils.data import SAMPLE_DIR, load_tensors, to_float_images
from lenet_utils.preprocess import BOX, FIELD, PAD, is_blank, mnist_style
from lenet_utils.weights import load_lenet5, prepare


@pytest.fixture(scope="module")
def digits():
    images, labels = load_tensors("mnist", train=False, root=SAMPLE_DIR, verbose=False)
    return images[:200], labels[:200]


def canvas_rgba(digit: torch.Tensor, zoom: int = 10) -> np.ndarray:
    """A 28x28 uint8 digit drawn back onto a (28*zoom)-square RGBA canvas: black ink, alpha = ink."""
    ink = digit.numpy().repeat(zoom, 0).repeat(zoom, 1)
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = ink
    return rgba


def test_real_digits_drawn_on_a_canvas_keep_their_prediction(digits):
    images, _ = digits
    net = load_lenet5()
    drawn = torch.stack([mnist_style(canvas_rgba(d)) for d in images])
    with torch.no_grad():
        original = net(prepare(to_float_images(images, pad=2))).argmax(dim=1)
        after = net(prepare(drawn)).argmax(dim=1)
    agreement = (original == after).float().mean().item()
    assert agreement >= 0.95, f"only {agreement:.1%} of 200 MNIST digits kept their prediction"


def test_output_is_mnist_shaped(digits):
    x = mnist_style(canvas_rgba(digits[0][3]))
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    inner = x[0, PAD:PAD + FIELD, PAD:PAD + FIELD]
    assert x.sum() == pytest.approx(inner.sum()), "the 2-pixel border must stay blank"
    rows, cols = (x[0] > 0.05).any(1).nonzero(), (x[0] > 0.05).any(0).nonzero()
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (BOX - 1, BOX, BOX + 1)
    r = torch.arange(32.0)
    com = ((x[0].sum(1) @ r) / x.sum(), (x[0].sum(0) @ r) / x.sum())
    assert all(abs(c - 15.5) <= 1.0 for c in com), f"centre of mass {com} is not at the centre"


def test_position_and_size_on_the_canvas_do_not_matter():
    stroke = np.zeros((280, 280), np.float32)
    stroke[20:120, 30:45] = 1.0           # a small upright bar, top left
    moved = np.zeros((280, 280), np.float32)
    moved[60:260, 150:180] = 1.0           # the same bar, twice as large, elsewhere
    a, b = mnist_style(stroke), mnist_style(moved)
    assert (a - b).abs().max() < 0.05


def test_aspect_ratio_is_kept():
    bar = np.zeros((100, 300), np.float32)
    bar[40:50, 50:250] = 1.0               # 10 x 200 pixels: a 1 x 20 bar after scaling
    x = mnist_style(bar)[0]
    rows, cols = (x > 0.5).any(1).nonzero(), (x > 0.5).any(0).nonzero()
    assert cols[-1] - cols[0] + 1 == BOX and rows[-1] - rows[0] + 1 == 1


def test_dark_ink_on_light_paper_with_invert(digits):
    light_on_dark = digits[0][0].numpy()
    paper = np.stack([255 - light_on_dark] * 3, axis=-1)  # RGB: black ink on white
    assert torch.allclose(mnist_style(paper, invert=True), mnist_style(light_on_dark), atol=1e-2)


def test_empty_drawing_is_blank_not_an_error():
    for empty in (np.zeros((280, 280, 4), np.uint8), np.zeros((5, 7), np.float32)):
        x = mnist_style(empty)
        assert x.shape == (1, 32, 32) and is_blank(x)
    assert not is_blank(mnist_style(np.eye(40, dtype=np.float32)))


@pytest.mark.parametrize("shape", [(10,), (10, 10, 2), (0, 0)])
def test_bad_shapes_say_what_is_expected(shape):
    with pytest.raises(ValueError, match="image"):
        mnist_style(np.zeros(shape))
