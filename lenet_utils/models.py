"""LeNet in the versions the course compares; the chapters write these in their ``#@save`` cells.

Every model checks its input shape before its first layer runs and says what to do about a wrong
one (``LeNet5`` in its ``forward``, the plain ``nn.Sequential`` nets with an ``ExpectInput`` hook).

- Chapter 1: ``mlp`` (d2l's dense baseline) and ``small_cnn`` (LeNet's layout with ReLU and max
  pooling), both plain ``nn.Sequential``.
- Chapter 3: ``lenet_d2l`` (d2l's LeNet exactly as the book writes it) and the faithful LeNet-5 of
  LeCun et al. (1998) piece by piece: ``ScaledTanh``, ``Subsampling``, ``C3_TABLE`` /
  ``c3_connection_mask`` / ``PartialConv2d``, ``DIGIT_GLYPHS`` / ``DIGIT_CODES`` / ``RBFOutput``,
  ``LeNet5``.
- Chapter 6: ``make_lenet``, the conv-pool-conv-pool-dense family with the activation, pooling,
  batch norm, dropout, channels and image size as arguments and named layers (conv1, act1, pool1,
  ...), with its pieces ``ACTIVATIONS`` / ``activation_layer`` and ``POOLS`` / ``pooling_layer``.
- Package only: the named variants built with ``make_lenet`` (``lenet_relu_avg``, ``lenet_cifar10``,
  ``lenet_modern``); ``ExpectInput``, the input check the chapters' ``nn.Sequential`` nets import.
"""

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .checks import whole_number
from .shapes import ShapeError, conv_out, pool_out

__all__ = [
    "ExpectInput", "mlp", "small_cnn", "lenet_d2l", "ScaledTanh", "Subsampling", "C3_TABLE",
    "c3_connection_mask", "PartialConv2d", "DIGIT_GLYPHS", "DIGIT_CODES", "RBFOutput", "LeNet5",
    "ACTIVATIONS", "POOLS", "activation_layer", "pooling_layer", "make_lenet",
    "lenet_relu_avg", "lenet_cifar10", "lenet_modern",
]


# --- the input check of the nn.Sequential nets ---------------------------------------------------

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


# --- chapter 1 ------------------------------------------------------------------------------------

def mlp(num_hiddens: int = 256) -> nn.Sequential:
    """d2l's multilayer perceptron for 28x28 images: flatten the 784 pixels, one hidden layer of
    ReLU units, 10 outputs."""
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, num_hiddens), nn.ReLU(),
        nn.Linear(num_hiddens, 10))
    # before the first layer: a wrong input shape gets advice instead of a raw PyTorch error
    net.register_forward_pre_hook(ExpectInput(1, 28, 28, flat=True, net="mlp()"))
    return net


def small_cnn() -> nn.Sequential:
    """LeNet's layout with two modern choices, ReLU and max pooling: two 5x5 convolutions, each
    followed by 2x2 pooling, then three dense layers."""
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))
    # before the first layer: a wrong input shape gets advice instead of a raw PyTorch error
    net.register_forward_pre_hook(ExpectInput(1, 28, 28, net="small_cnn()"))
    return net


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


# --- chapter 6: the configurable family ----------------------------------------------------------

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "scaled_tanh": ScaledTanh,
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
}

POOLS = {
    "avg": lambda channels: nn.AvgPool2d(kernel_size=2, stride=2),
    "max": lambda channels: nn.MaxPool2d(kernel_size=2, stride=2),
    "subsampling": lambda channels: Subsampling(channels),
}


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module from its name (see ``ACTIVATIONS``): ``activation_layer("relu")``."""
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[key]()


def pooling_layer(name: str, channels: int) -> nn.Module:
    """A 2x2, stride-2 pooling module for ``channels`` maps: 'avg', 'max' or LeNet-5's trainable
    'subsampling' (see ``POOLS``): ``pooling_layer("max", 6)``."""
    key = str(name).lower()
    if key not in POOLS:
        raise ValueError(f"unknown pool {name!r}; choose one of {', '.join(POOLS)}.")
    return POOLS[key](channels)


def make_lenet(activation: str = "sigmoid", pool: str = "avg", batch_norm: bool = False,
               dropout: float = 0.0, in_channels: int = 1, image_size: int = 28,
               num_classes: int = 10, padding: int | None = None, channels: tuple[int, int] = (6, 16),
               kernel_size: int = 5, hidden: tuple[int, int] = (120, 84)) -> nn.Sequential:
    """LeNet as an ``nn.Sequential`` with named layers: conv1 (channels[0] maps) -> act1 -> pool1 ->
    conv2 (channels[1] maps) -> act2 -> pool2 -> flatten -> fc1 hidden[0] -> act3 -> fc2 hidden[1]
    -> act4 -> fc3 num_classes, with kernel_size x kernel_size convolutions.

    ``batch_norm`` puts BatchNorm after each conv and hidden dense layer, before the activation (as
    d2l does); ``dropout > 0`` puts Dropout before fc1 and fc2. ``padding`` of the first conv defaults
    to (kernel_size - 1) // 2 for images smaller than 32 (5x5 kernels keep 28x28 at 28x28) and to 0
    from 32 up (LeNet-5's unpadded C1). With the defaults it has the layer shapes and parameter count
    of ``lenet_d2l()``.
    """
    if not all(isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in (channels, hidden)):
        raise ValueError(f"channels and hidden are pairs (two convolutions, two hidden dense layers), "
                         f"e.g. channels=(6, 16), hidden=(120, 84); got {channels!r} and {hidden!r}.")
    sizes = {"in_channels": in_channels, "image_size": image_size, "num_classes": num_classes,
             "kernel_size": kernel_size, "channels[0]": channels[0], "channels[1]": channels[1],
             "hidden[0]": hidden[0], "hidden[1]": hidden[1]}
    for name, value in sizes.items():
        whole_number(name, value)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout!r}.")
    if padding is None:
        padding = (kernel_size - 1) // 2 if image_size < 32 else 0
    try:
        size = pool_out(conv_out(image_size, kernel_size, P=padding), 2, allow_floor=True)
        size = pool_out(conv_out(size, kernel_size), 2, allow_floor=True)
    except ShapeError as err:
        raise ShapeError(f"image_size={image_size} with padding={padding} is too small for LeNet's two "
                         f"{kernel_size}x{kernel_size} convolutions and 2x2 poolings: {err}") from err

    def block(i, name, layer, channels, norm):  # layer -> [batch norm] -> activation, numbered i
        parts = [(name, layer)] + ([(f"bn{i}", norm(channels))] if batch_norm else [])
        return parts + [(f"act{i}", activation_layer(activation))]

    def drop(name):
        return [(name, nn.Dropout(dropout))] if dropout > 0 else []

    (c1, c2), (h1, h2), k = channels, hidden, kernel_size
    layers = (block(1, "conv1", nn.Conv2d(in_channels, c1, kernel_size=k, padding=padding), c1, nn.BatchNorm2d)
              + [("pool1", pooling_layer(pool, c1))]
              + block(2, "conv2", nn.Conv2d(c1, c2, kernel_size=k), c2, nn.BatchNorm2d)
              + [("pool2", pooling_layer(pool, c2)), ("flatten", nn.Flatten())]
              + drop("drop1") + block(3, "fc1", nn.Linear(c2 * size * size, h1), h1, nn.BatchNorm1d)
              + drop("drop2") + block(4, "fc2", nn.Linear(h1, h2), h2, nn.BatchNorm1d)
              + [("fc3", nn.Linear(h2, num_classes))])
    net = nn.Sequential(OrderedDict(layers))
    settings = f"in_channels={in_channels}, image_size={image_size}"
    net.register_forward_pre_hook(ExpectInput(in_channels, image_size, image_size,
                                              net=f"make_lenet({settings})"))
    return net


def lenet_relu_avg() -> nn.Sequential:
    """The ReLU + average-pooling LeNet of the sources: 28x28 input without padding, so the second
    pooling leaves 16x4x4 = 256 features for fc1."""
    return make_lenet(activation="relu", pool="avg", padding=0)


def lenet_cifar10(dropout: float = 0.5, num_classes: int = 10) -> nn.Sequential:
    """The sources' LeNet for 3x32x32 CIFAR-10: first conv padded by 1, ReLU, max pooling, dropout
    before fc1 and fc2. Note 32 -> 30 -> 15 -> 11 -> 5: the second pooling floors 11/2."""
    return make_lenet(activation="relu", pool="max", dropout=dropout, in_channels=3,
                      image_size=32, num_classes=num_classes, padding=1)


def lenet_modern(activation: str = "relu", pool: str = "max", batch_norm: bool = True,
                 dropout: float = 0.0, in_channels: int = 1, image_size: int = 28,
                 num_classes: int = 10) -> nn.Sequential:
    """LeNet with today's defaults: ReLU, max pooling and batch norm (each can be switched)."""
    return make_lenet(activation=activation, pool=pool, batch_norm=batch_norm, dropout=dropout,
                      in_channels=in_channels, image_size=image_size, num_classes=num_classes)
