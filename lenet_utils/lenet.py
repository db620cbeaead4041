"""LeNet as chapter 3 writes it, layer by layer: d2l's LeNet exactly as the book writes it
(``lenet_d2l``) and the faithful LeNet-5 of LeCun et al. (1998) piece by piece: ``ScaledTanh``,
``Subsampling``, ``C3_TABLE`` / ``c3_connection_mask`` / ``PartialConv2d``, ``DIGIT_GLYPHS`` /
``DIGIT_CODES`` / ``RBFOutput``, ``LeNet5``.

>>> LeNet5()(torch.zeros(2, 1, 32, 32)).shape
torch.Size([2, 10])
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .input_checks import ExpectInput
from .shapes import ShapeError

__all__ = ["lenet_d2l", "ScaledTanh", "Subsampling", "C3_TABLE", "c3_connection_mask", "PartialConv2d",
           "DIGIT_GLYPHS", "DIGIT_CODES", "RBFOutput", "LeNet5"]


# --- chapter 3: d2l's LeNet -----------------------------------------------------------------------

def lenet_d2l() -> nn.Sequential:
    """d2l's LeNet for 28x28 Fashion-MNIST, as the book writes it: sigmoid activations, average
    pooling, the first convolution padded by 2."""
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))
    # before the first layer: a wrong input shape gets advice instead of a raw PyTorch error
    net.register_forward_pre_hook(ExpectInput(1, 28, 28, net="lenet_d2l()"))
    return net


# --- chapter 3: the pieces of the 1998 network ----------------------------------------------------

class ScaledTanh(nn.Module):
    """LeNet-5's squashing function f(a) = A tanh(S a) with A = 1.7159 and S = 2/3, so that
    f(1) = 1 and f(-1) = -1."""

    def __init__(self, A: float = 1.7159, S: float = 2 / 3) -> None:
        super().__init__()
        self.A, self.S = A, S

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A * torch.tanh(self.S * x)

    def extra_repr(self) -> str:
        return f"A={self.A}, S={self.S:.4f}"


class Subsampling(nn.Module):
    """LeNet-5's S2/S4: average each 2x2 block, multiply by a trainable coefficient and add a
    trainable bias, one of each per feature map. Starts as a plain average (1 and 0)."""

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x, self.kernel_size)
        return pooled * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.weight.numel()}, kernel_size={self.kernel_size}"


# Table I of the paper: for each of C3's 16 maps, the S2 maps (0-5) it reads.
C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),  # three neighbours
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),  # four
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),  # four, not neighbours
    (0, 1, 2, 3, 4, 5),  # all six
)


def c3_connection_mask(table: tuple = C3_TABLE, in_channels: int = 6) -> torch.Tensor:
    """Boolean out x in matrix: mask[o, i] is True when output map o reads input map i."""
    mask = torch.zeros(len(table), in_channels, dtype=torch.bool)
    for o, inputs in enumerate(table):
        mask[o, list(inputs)] = True
    return mask


class PartialConv2d(nn.Module):
    """A convolution in which each output map reads only some input maps (LeNet-5's C3).

    Only the connected kernels are parameters: weight is connections x F x F (60 x 5 x 5 for C3).
    The forward pass scatters them into an ordinary out x in x F x F kernel with zeros where there is
    no connection and runs a plain conv2d: a masked convolution.
    """

    def __init__(self, mask: torch.Tensor, kernel_size: int = 5) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.dim() != 2 or not mask.any(dim=1).all():
            raise ValueError(f"mask must be an out x in boolean table in which every output map reads "
                             f"at least one input map; got shape {tuple(mask.shape)}.")
        self.out_channels, self.in_channels = mask.shape
        self.kernel_size = kernel_size
        self.register_buffer("mask", mask)
        self.register_buffer("out_index", mask.nonzero()[:, 0])
        self.register_buffer("in_index", mask.nonzero()[:, 1])
        self.weight = nn.Parameter(torch.empty(int(mask.sum()), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        # the paper's initialisation: uniform in +-2.4 / fan-in, fan-in counted per output map
        bound = 2.4 / (mask.sum(dim=1) * kernel_size ** 2)
        with torch.no_grad():
            self.weight.uniform_(-1, 1).mul_(bound[self.out_index].view(-1, 1, 1))
            self.bias.uniform_(-1, 1).mul_(bound)

    def full_weight(self) -> torch.Tensor:
        """The equivalent dense out x in x F x F kernel (zeros where there is no connection)."""
        shape = (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        return self.weight.new_zeros(shape).index_put((self.out_index, self.in_index), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.full_weight(), self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"connections={self.weight.shape[0]} of {self.mask.numel()}")


# The RBF centres: a stylised 7x12 bitmap of each digit, in the style of the paper's Fig. 3
# (our own drawings), one string of 12 rows per digit.
DIGIT_GLYPHS = {
    0: "....... ..###.. .#...#. #.....# #.....# #.....# #.....# #.....# #.....# .#...#. ..###.. .......",
    1: "....... ...#... ..##... .#.#... ...#... ...#... ...#... ...#... ...#... ...#... .#####. .......",
    2: "....... .#####. #.....# ......# ......# .....#. ....#.. ...#... ..#.... .#..... ####### .......",
    3: "....... .#####. #.....# ......# ......# ..####. ......# ......# ......# #.....# .#####. .......",
    4: "....... .....#. ....##. ...#.#. ..#..#. .#...#. #....#. ####### .....#. .....#. .....#. .......",
    5: "....... ####### #...... #...... ######. ......# ......# ......# ......# #.....# .#####. .......",
    6: "....... ..####. .#..... #...... #...... ######. #.....# #.....# #.....# #.....# .#####. .......",
    7: "....... ####### ......# .....#. .....#. ....#.. ....#.. ...#... ...#... ..#.... ..#.... .......",
    8: "....... .#####. #.....# #.....# #.....# .#####. #.....# #.....# #.....# #.....# .#####. .......",
    9: "....... .#####. #.....# #.....# #.....# #.....# .###### ......# ......# .....#. .####.. .......",
}

# 10 x 84: +1 for ink, -1 for background, each bitmap read row by row.
DIGIT_CODES = torch.tensor(
    [[1.0 if ch == "#" else -1.0 for ch in DIGIT_GLYPHS[d].replace(" ", "")] for d in range(10)])


class RBFOutput(nn.Module):
    """The paper's output layer: class i scores y_i = sum_j (x_j - w_ij)^2, the squared distance
    between F6's 84 outputs and a fixed code. The codes are a buffer, set by hand, not trained.
    Returns -y, so the largest score is the prediction and cross-entropy applies."""

    def __init__(self, codes: torch.Tensor = DIGIT_CODES) -> None:
        super().__init__()
        self.register_buffer("codes", codes.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(x.unsqueeze(1) - self.codes).pow(2).sum(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.codes.shape[1]}, classes={self.codes.shape[0]}"


class LeNet5(nn.Sequential):
    """The faithful LeNet-5 (LeCun et al., 1998) for 1x32x32 input (MNIST padded by 2).

    C1 conv 6@5x5 -> S2 subsampling -> C3 partial conv 16@5x5 -> S4 subsampling -> C5 conv 120@5x5
    -> F6 dense 84 -> output, with the scaled tanh after every layer up to F6. output="rbf" ends in
    the paper's fixed RBF units; output="dense" (our default) in a trainable nn.Linear(84, 10).
    Weights start as in the paper, uniform in +-2.4 / fan-in.
    """

    def __init__(self, output: str = "dense") -> None:
        if output not in ("dense", "rbf"):
            raise ValueError(f"output must be 'dense' or 'rbf', got {output!r}.")
        super().__init__(OrderedDict([
            ("c1", nn.Conv2d(1, 6, kernel_size=5)), ("c1_act", ScaledTanh()),
            ("s2", Subsampling(6)), ("s2_act", ScaledTanh()),
            ("c3", PartialConv2d(c3_connection_mask(), kernel_size=5)), ("c3_act", ScaledTanh()),
            ("s4", Subsampling(16)), ("s4_act", ScaledTanh()),
            ("c5", nn.Conv2d(16, 120, kernel_size=5)), ("c5_act", ScaledTanh()),
            ("flatten", nn.Flatten()),
            ("f6", nn.Linear(120, 84)), ("f6_act", ScaledTanh()),
            ("output", nn.Linear(84, 10) if output == "dense" else RBFOutput()),
        ]))
        for layer in (self.c1, self.c5, self.f6, self.output):
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                bound = 2.4 / layer.weight[0].numel()  # fan-in of one output unit
                nn.init.uniform_(layer.weight, -bound, bound)
                nn.init.uniform_(layer.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (1, 32, 32):
            raise ShapeError(f"LeNet5 expects a batch of 1x32x32 images (N x 1 x 32 x 32), got "
                             f"{tuple(x.shape)}. Pad 28x28 MNIST by 2 pixels on each side, e.g. "
                             f"load_data('mnist', batch_size, pad=2).")
        return super().forward(x)
