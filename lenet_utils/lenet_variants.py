"""The named LeNets of the sources, each ``make_lenet`` with its settings: ``lenet_relu_avg``,
``lenet_cifar10`` and ``lenet_modern``.

>>> lenet_cifar10()(torch.zeros(2, 3, 32, 32)).shape  # doctest: +SKIP
torch.Size([2, 10])
"""

from torch import nn

from .models import make_lenet

__all__ = ["lenet_relu_avg", "lenet_cifar10", "lenet_modern"]


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
