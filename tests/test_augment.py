"""Moving images: a fixed shift, and augmentation by per-image random rotation and shift on whole
batches, reproducible by seed."""

import pytest
import torch

from lenet_utils.augment import AugmentedLoader, random_affine, shift_images
from lenet_utils.data import TensorLoader


def digit_batch(n=32, size=28):
    """A batch of n copies of a bright off-centre bar, plus labels 0..n-1."""
    X = torch.zeros(n, 1, size, size)
    X[:, :, 8:20, 12:15] = 1.0
    return X, torch.arange(n) % 10


def centre_of_mass(X):
    h, w = X.shape[-2:]
    mass = X.sum(dim=(1, 2, 3))
    ys = torch.arange(h, dtype=X.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=X.dtype).view(1, 1, 1, w)
    return (X * xs).sum(dim=(1, 2, 3)) / mass, (X * ys).sum(dim=(1, 2, 3)) / mass


def test_shape_dtype_and_range_kept():
    X, _ = digit_batch()
    out = random_affine(X, max_degrees=15, max_shift=3, generator=torch.Generator().manual_seed(0))
    assert out.shape == X.shape and out.dtype == X.dtype
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert not torch.equal(out, X)


def test_pixels_moved_in_take_the_background_so_scaling_commutes():
    X, _ = digit_batch()
    X[:, :, 0, :] = 1.0  # ink on the top edge: a shift down brings background in above it
    scaled = X * 1.275 - 0.1  # the paper's input scaling: background -0.1
    raw = random_affine(X, max_degrees=10, max_shift=3, generator=torch.Generator().manual_seed(2))
    warped = random_affine(scaled, max_degrees=10, max_shift=3, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(warped, raw * 1.275 - 0.1, atol=1e-5)
    assert warped.min() >= -0.1 - 1e-6  # padded with -0.1, not 0


def test_each_image_gets_its_own_draw():
    X, _ = digit_batch(n=16)
    out = random_affine(X, max_degrees=20, max_shift=3, generator=torch.Generator().manual_seed(1))
    flat = out.flatten(1)
    distinct = {tuple(row.round(decimals=4).tolist()) for row in flat}
    assert len(distinct) == len(X)  # identical inputs, 16 different outputs


def test_shift_only_moves_centre_by_at_most_max_shift():
    X, _ = digit_batch(n=64)
    out = random_affine(X, max_degrees=0, max_shift=2.5, generator=torch.Generator().manual_seed(2))
    x0, y0 = centre_of_mass(X)
    x1, y1 = centre_of_mass(out)
    dx, dy = (x1 - x0).abs(), (y1 - y0).abs()
    assert dx.max() <= 2.5 + 1e-3 and dy.max() <= 2.5 + 1e-3
    assert dx.max() > 1.0 and dy.max() > 1.0  # the draws actually spread over the range
    assert torch.allclose(out.sum(dim=(1, 2, 3)), X.sum(dim=(1, 2, 3)), rtol=1e-3)  # nothing cut off


def test_rotation_only_keeps_the_centre_and_turns_the_bar():
    X = torch.zeros(8, 1, 29, 29)
    X[:, :, 4:25, 14] = 1.0  # a vertical bar through the centre pixel
    out = random_affine(X, max_degrees=45, max_shift=0, generator=torch.Generator().manual_seed(3))
    x1, y1 = centre_of_mass(out)
    assert torch.allclose(x1, torch.full_like(x1, 14.0), atol=0.2)
    assert torch.allclose(y1, torch.full_like(y1, 14.0), atol=0.2)
    # a turned bar spreads over more columns than the single column it started in
    columns_used = (out.sum(dim=2) > 0.05).sum(dim=-1).flatten()
    assert (columns_used > 3).sum() >= 6


def test_fixed_seed_reproduces_and_other_seed_differs():
    X, _ = digit_batch()
    a = random_affine(X, generator=torch.Generator().manual_seed(7))
    b = random_affine(X, generator=torch.Generator().manual_seed(7))
    c = random_affine(X, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_zero_ranges_are_the_identity():
    X, _ = digit_batch()
    assert random_affine(X, max_degrees=0, max_shift=0) is X


@pytest.mark.parametrize("kwargs", [{"max_degrees": -1}, {"max_shift": float("nan")}])
def test_bad_ranges_are_rejected(kwargs):
    X, _ = digit_batch()
    with pytest.raises(ValueError, match=">= 0"):
        random_affine(X, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_shift": True}, r"max_shift=True is not valid: .*a number of pixels"),  # was a silent 1 px
    ({"max_degrees": "10"}, r"max_degrees='10' is not valid: .*a number of degrees"),  # was parsed silently
])
def test_ranges_must_be_numbers_not_bools_or_text(kwargs, message):
    X, _ = digit_batch()
    with pytest.raises(ValueError, match=message):
        random_affine(X, **kwargs)
    with pytest.raises(ValueError, match=message):
        AugmentedLoader(make_loader(), **kwargs)


def test_a_shift_that_can_move_the_whole_image_out_is_refused():
    X, _ = digit_batch(size=28)  # max_shift=28 used to return some images blank, without a word
    with pytest.raises(ValueError, match=r"max_shift=28 px can move a whole 28x28 image out of its frame: "
                                         r"keep it below 28"):
        random_affine(X, max_shift=28)
    assert random_affine(X, max_shift=27.5, generator=torch.Generator().manual_seed(0)).shape == X.shape


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": 2.5}, r"seed=2\.5 is not valid: it must be a whole number >= 0"),  # was a raw RuntimeError
    ({"seed": -1}, r"seed=-1 is not valid: it must be a whole number >= 0"),  # was taken silently
    ({"enabled": "False"}, r"enabled='False' is not valid: pass True or False"),  # was truthy: augmented
])
def test_loader_refuses_a_bad_seed_or_switch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentedLoader(make_loader(), **kwargs)


def test_bad_shape_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match="unsqueeze"):
        random_affine(torch.zeros(4, 28, 28))


def make_loader(seed=0):
    X, y = digit_batch(n=50)
    return TensorLoader(X, y, batch_size=16, shuffle=True, device="cpu", seed=seed)


def test_loader_keeps_interface_and_labels():
    base = make_loader()
    aug = AugmentedLoader(make_loader(), max_degrees=10, max_shift=2, seed=0)
    assert len(aug) == len(base) == 4
    assert aug.num_examples == 50 and aug.batch_size == 16 and aug.device == torch.device("cpu")
    for (X0, y0), (X1, y1) in zip(base, aug):  # same loader seed: same shuffle
        assert torch.equal(y0, y1)
        assert X1.shape == X0.shape
        assert not torch.equal(X1, X0)


def test_loader_seed_reproduces_and_epochs_differ():
    first = [X for X, _ in AugmentedLoader(make_loader(), seed=3)]
    again = [X for X, _ in AugmentedLoader(make_loader(), seed=3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    aug = AugmentedLoader(TensorLoader(*digit_batch(n=16), batch_size=16, shuffle=False, device="cpu"),
                          seed=3)
    (epoch1, _), = list(aug)
    (epoch2, _), = list(aug)
    assert not torch.equal(epoch1, epoch2)  # a new draw every epoch, not the same warp forever


def test_disabled_loader_passes_batches_through():
    base = make_loader()
    off = AugmentedLoader(make_loader(), enabled=False)
    for (X0, y0), (X1, y1) in zip(base, off):
        assert torch.equal(X0, X1) and torch.equal(y0, y1)
    assert "disabled" in repr(off)


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
