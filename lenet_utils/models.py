"""The MLP, the small CNN and the configurable LeNet family; chapters 1 and 3 write these in their
``#@save`` cells (chapter 3's d2l LeNet and LeNet-5 are in :mod:`~lenet_utils.lenet`).

- Chapter 1: ``mlp`` (d2l's dense baseline) and ``small_cnn`` (LeNet's layout with ReLU and max
  pooling), both plain ``nn.Sequential`` with an ``ExpectInput`` hook (:mod:`~lenet_utils.input_checks`).
- Chapter 3: ``make_lenet``, the conv-pool-conv-pool-dense family with the activation, pooling,
  batch norm, dropout, channels and image size as arguments and named layers (conv1, act1, pool1,
  ...), with its pieces ``ACTIVATIONS`` / ``activation_layer`` and ``POOLS`` / ``pooling_layer``.
  Chapters 4-6 build their LeNet variants with it.

>>> make_lenet("relu", "max")(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 10])
"""

from collections import OrderedDict

import torch
from torch import nn

from .checks import whole_number
from .input_checks import ExpectInput
from .lenet import ScaledTanh, Subsampling
from .shapes import ShapeError, conv_out, pool_out

__all__ = ["mlp", "small_cnn", "ACTIVATIONS", "POOLS", "activation_layer", "pooling_layer", "make_lenet"]


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


# --- chapter 3: the configurable family ----------------------------------------------------------

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
