"""The input check of the course's ``nn.Sequential`` nets: a forward pre-hook that refuses a batch
of the wrong shape or type before the first layer sees it, and says what to do about it.

Chapter 1 shows it at work on ``mlp`` and ``small_cnn``; the nets chapters 1, 3 and 6 write register it.

>>> net.register_forward_pre_hook(ExpectInput(1, 28, 28, net="lenet_d2l()"))  # doctest: +SKIP
"""

import math

import torch
from torch import nn

from .shapes import ShapeError

__all__ = ["ExpectInput"]


class ExpectInput:
    """A forward pre-hook that refuses a batch of the wrong shape before the first layer sees it,
    saying what arrived, what the net reads and what to do (instead of PyTorch's 'mat1 and mat2
    shapes cannot be multiplied' a few layers later). It adds no layer: indices, parameter counts
    and the ``state_dict`` stay as they are, and it survives ``copy.deepcopy`` and pickling.
    ``flat=True`` (a net that starts with ``nn.Flatten``) also takes each example flattened.

        net.register_forward_pre_hook(ExpectInput(1, 28, 28, net="lenet_d2l()"))
    """

    def __init__(self, channels: int, height: int, width: int, *, flat: bool = False,
                 net: str = "this net") -> None:
        self.shape, self.flat, self.net = (channels, height, width), flat, net

    def __call__(self, module: nn.Module, inputs: tuple) -> None:
        x = inputs[0]
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self.net} expects a torch.Tensor batch, got {type(x).__name__}; "
                            f"convert it with torch.as_tensor(x, dtype=torch.float32).")
        if not x.is_floating_point():
            raise TypeError(f"{self.net} expects float images in [0, 1], got a {x.dtype} batch of shape "
                            f"{tuple(x.shape)} (load_tensors gives raw 0-255 pixels): to_float_images(images) "
                            f"from lenet_utils.data turns them into N x C x H x W floats in [0, 1].")
        shape, (c, h, w) = tuple(x.shape), self.shape
        if shape[1:] == self.shape or (self.flat and math.prod(shape[1:]) == c * h * w):
            return
        flat = f", or N x {c * h * w} flattened" if self.flat else ""
        raise ShapeError(f"{self.net} expects a batch of {c}x{h}x{w} images (N x {c} x {h} x {w}{flat}), "
                         f"got {shape}. {self._advice(shape)}")

    def _advice(self, shape: tuple[int, ...]) -> str:
        """What to do about a batch of ``shape``, one sentence."""
        (c, h, w), n = self.shape, shape[1] if len(shape) == 4 else None
        if n is not None and n != c:
            grey = " (X.mean(dim=1, keepdim=True) turns colour into grey)" if c == 1 else ""
            return (f"These have {n} channel(s), the first layer reads {c}: give it {c}-channel images"
                    f"{grey} or build a net for {n} channels (make_lenet(in_channels={n}, ...)).")
        if n is not None:
            dh, dw = h - shape[2], w - shape[3]
            rebuild = (f" or build a net for them (make_lenet(image_size={shape[2]}, ...))"
                       if shape[2] == shape[3] else "")
            if dh == dw > 0 and dh % 2 == 0:
                return f"Pad them by {dh // 2} pixels on each side (load_data(..., pad={dh // 2})){rebuild}."
            return f"Resize them to {h}x{w} (load_data(..., resize={h if h == w else (h, w)})){rebuild}."
        if shape[1:] == (h, w) and c == 1:
            return f"x.unsqueeze(1) adds the channel axis: N x {h} x {w} becomes N x 1 x {h} x {w}."
        if math.prod(shape) == c * h * w:
            return f"That is one image: x.reshape(1, {c}, {h}, {w}) makes it a batch of one."
        return (f"Reshape or resize it to N x {c} x {h} x {w} (load_data's resize= and pad= set the "
                f"image size).")
