"""Turn a drawing of any size into a digit the way MNIST was made, ready for LeNet-5.

MNIST's recipe (LeCun et al.): take the bounding box of the ink, scale it to fit a 20x20 box keeping
its aspect ratio (anti-aliased, so edges become grey levels), then place it in a 28x28 field so that
its centre of mass sits at the centre. LeNet-5 reads 32x32, so the field is finally padded by 2.

Ink convention (what counts as ink in ``image``):

- a 2-D array (H x W) or an RGB array (H x W x 3): light ink on a dark background, as in MNIST
  (RGB is converted to grey); pass ``invert=True`` for dark ink on light paper;
- an RGBA array (H x W x 4), e.g. an ipycanvas ``get_image_data()``: the alpha channel is the
  ink, so strokes of any colour drawn on a transparent canvas count.

Integer arrays are read as 0-255, float arrays as 0-1. An empty drawing gives an all-zero image
(``is_blank`` says so) instead of an error.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["BOX", "FIELD", "PAD", "ink_map", "mnist_style", "is_blank"]

BOX = 20    #: the longer side of the ink's bounding box after scaling
FIELD = 28  #: MNIST's image size
PAD = 2     #: padding on each side: 28 + 2 * 2 = LeNet-5's 32
_INK_THRESHOLD = 0.05  # pixels fainter than this (fraction of full ink) do not count for the box


def ink_map(image: "np.ndarray | torch.Tensor", invert: bool = False) -> torch.Tensor:
    """The ink of ``image`` as a float32 H x W tensor in [0, 1] (see the module docstring)."""
    x = torch.as_tensor(np.array(image))  # a copy: the caller's array may be read-only
    if not (x.dim() == 2 or (x.dim() == 3 and x.shape[-1] in (3, 4))):
        raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {tuple(x.shape)}.")
    if x.numel() == 0:
        raise ValueError("the image is empty (a zero-sized array): draw on a canvas of at least 1x1 pixels.")
    x = x.float() / 255 if not x.is_floating_point() else x.float()
    if x.dim() == 3 and x.shape[-1] == 4:
        return x[..., 3].clamp(0, 1)
    if x.dim() == 3:
        x = x @ torch.tensor([0.299, 0.587, 0.114])
    x = x.clamp(0, 1)
    return 1 - x if invert else x


def mnist_style(image: "np.ndarray | torch.Tensor", invert: bool = False) -> torch.Tensor:
    """A drawing of any size -> a 1 x 32 x 32 float32 image in [0, 1] (ink = 1), made as MNIST was:
    bounding box -> scaled to fit 20x20 keeping the aspect ratio -> centred by centre of mass in
    28x28 -> padded by 2. All zeros when there is no ink."""
    ink = ink_map(image, invert=invert)
    out = torch.zeros(1, FIELD + 2 * PAD, FIELD + 2 * PAD)
    rows = (ink > _INK_THRESHOLD).any(dim=1).nonzero()
    cols = (ink > _INK_THRESHOLD).any(dim=0).nonzero()
    if len(rows) == 0:
        return out
    box = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = box.shape
    scale = BOX / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = F.interpolate(box[None, None], size=size, mode="bilinear", antialias=True,
                          align_corners=False)[0, 0].clamp(0, 1)
    mass = small.sum()
    if mass <= 0:
        return out
    r = torch.arange(size[0], dtype=torch.float32)
    c = torch.arange(size[1], dtype=torch.float32)
    com_r, com_c = (small.sum(dim=1) @ r) / mass, (small.sum(dim=0) @ c) / mass
    centre = (FIELD - 1) / 2
    # shift so the centre of mass lands on the centre (whole pixels; a half-pixel tie always rounds
    # the same way despite float noise), but never push ink out of the 28x28 field
    top = min(max(math.floor(centre - com_r.item() + 0.5 + 1e-3), 0), FIELD - size[0])
    left = min(max(math.floor(centre - com_c.item() + 0.5 + 1e-3), 0), FIELD - size[1])
    out[0, PAD + top:PAD + top + size[0], PAD + left:PAD + left + size[1]] = small
    return out


def is_blank(x: torch.Tensor) -> bool:
    """True when a preprocessed image holds no ink (nothing was drawn)."""
    return not bool((x > 0).any())
