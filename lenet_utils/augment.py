"""Moving images on the device, a whole batch at a time: a fixed shift (:func:`shift_images`, for
translation experiments) and data augmentation by random rotations and shifts.

For augmentation, each image gets its own random rotation and translation; one
``F.affine_grid`` + ``F.grid_sample`` call warps the whole batch. Labels pass through untouched.
Augmentation is off unless you ask for it: wrap a training loader in :class:`AugmentedLoader`
(``enabled=False`` passes batches through), and ``train_ch6`` trains on the warped batches without
knowing about it::

    train_iter, test_iter = load_data("mnist", 256)
    train_ch6(net, AugmentedLoader(train_iter, max_degrees=10, max_shift=2, seed=0), test_iter, 10, 0.1)
"""

import math
import numbers

import torch
import torch.nn.functional as F

from .checks import whole_number

__all__ = ["shift_images", "random_affine", "AugmentedLoader"]


def shift_images(X: torch.Tensor, dx: int = 0, dy: int = 0) -> torch.Tensor:
    """Move every image of a N x C x H x W batch ``dx`` pixels right and ``dy`` pixels down (negative:
    left/up). Pixels moved in from outside are 0 (the background), nothing wraps around.

        shift_images(X, dx=2)  # every image 2 px to the right
    """
    if X.dim() != 4:
        raise ValueError(f"shift_images expects a batch N x C x H x W, got shape {tuple(X.shape)}.")
    h, w = X.shape[-2:]
    if abs(dx) >= w or abs(dy) >= h:
        raise ValueError(f"a shift of ({dx}, {dy}) moves a {h}x{w} image out of the frame.")
    padded = F.pad(X, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


def _check_range(name: str, value: object, unit: str) -> float:
    """``value`` as a float >= 0 (0 switches that warp off); refuses bools and text."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value < 0):
        raise ValueError(f"{name}={value!r} is not valid: it must be a number of {unit}, finite and "
                         f">= 0 (0 switches it off).")
    return float(value)


def random_affine(X: torch.Tensor, max_degrees: float = 10.0, max_shift: float = 2.0,
                  generator: torch.Generator = None) -> torch.Tensor:
    """Rotate each image by a random angle in ±``max_degrees`` and shift it by up to ``max_shift``
    pixels along each axis (uniform draws, one per image); pixels moved in from outside take the
    image's background, its smallest value (0 for raw images, -0.1 after the paper's input scaling).

    ``X`` is a float batch N×C×H×W on any device; ``generator`` (on the same device) makes the
    draws reproducible. With both ranges 0 the batch comes back unchanged; a ``max_shift`` as large
    as the image is refused (it could move a whole image out of its frame).
    """
    max_degrees = _check_range("max_degrees", max_degrees, "degrees")
    max_shift = _check_range("max_shift", max_shift, "pixels")
    if X.dim() != 4 or not X.is_floating_point():
        raise ValueError(f"random_affine expects a float batch of shape N×C×H×W, got "
                         f"{X.dtype} of shape {tuple(X.shape)}. Add a channel axis with X.unsqueeze(1).")
    n, _, h, w = X.shape
    if max_shift >= min(h, w):
        raise ValueError(f"max_shift={max_shift:g} px can move a whole {h}x{w} image out of its frame: "
                         f"keep it below {min(h, w)} (2 to 3 px suits 28x28 digits).")
    if max_degrees == 0 and max_shift == 0:
        return X

    def uniform(limit):  # n draws in [-limit, limit]
        return (torch.rand(n, device=X.device, generator=generator, dtype=X.dtype) * 2 - 1) * limit

    angle = uniform(math.radians(max_degrees))
    shift_x, shift_y = uniform(max_shift), uniform(max_shift)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid works in coordinates normalised to [-1, 1]: one pixel is 2/w wide and 2/h high.
    # Rotating in pixel space and converting keeps non-square images undistorted.
    theta = torch.stack([
        torch.stack([cos, -sin * h / w, shift_x * 2 / w], dim=1),
        torch.stack([sin * w / h, cos, shift_y * 2 / h], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(X.shape), align_corners=False)
    background = X.amin(dim=(1, 2, 3), keepdim=True)  # grid_sample pads with 0: pad X - background
    return F.grid_sample(X - background, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + background


class AugmentedLoader:
    """Wrap a training loader so every batch is randomly rotated and shifted, per image.

    Iterates like the loader it wraps (``for X, y in it``, ``len(it)``, ``.num_examples``,
    ``.batch_size``, ``.device``) so it drops into ``train_ch6`` unchanged. ``seed`` fixes the draws:
    the same seed over the same batches gives the same images. ``enabled=False`` passes batches
    through untouched. Wrap only the training loader; test images stay as they are. ``seed`` is a
    whole number >= 0 and ``enabled`` True or False.
    """

    def __init__(self, loader, max_degrees: float = 10.0, max_shift: float = 2.0, seed: int = 0,
                 enabled: bool = True):
        self.loader = loader
        self.max_degrees = _check_range("max_degrees", max_degrees, "degrees")
        self.max_shift = _check_range("max_shift", max_shift, "pixels")
        if not isinstance(enabled, bool):
            raise ValueError(f"enabled={enabled!r} is not valid: pass True or False.")
        self.enabled = enabled
        self.device = torch.device(getattr(loader, "device", "cpu"))
        self.generator = torch.Generator(self.device)
        self.generator.manual_seed(whole_number("seed", seed, low=0))

    @property
    def num_examples(self) -> int:
        return self.loader.num_examples

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for X, y in self.loader:
            if self.enabled:
                X = random_affine(X, self.max_degrees, self.max_shift, generator=self.generator)
            yield X, y

    def __repr__(self) -> str:
        what = (f"rotate ±{self.max_degrees:g}°, shift ±{self.max_shift:g} px" if self.enabled
                else "disabled")
        return f"AugmentedLoader({what}, over {self.loader!r})"
