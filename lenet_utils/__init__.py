"""lenet_utils: the helper package behind the 'LeNet, hands on' chapters.

It speaks d2l's vocabulary, so d2l's LeNet chapter runs with ``import lenet_utils as d2l``:
``load_data_fashion_mnist``, ``try_gpu``, ``Animator``, ``Accumulator``, ``Timer``, ``accuracy``,
``evaluate_accuracy_gpu`` (d2l's own code, saved from chapter 4), ``size`` (d2l's alias of
``numel``, defined below) and ``train_ch6`` (the course's fast engine, same signature).
Everything else lives in one module per idea; widget modules (``lenet_utils.widgets.*``) are
imported explicitly, since ipywidgets pulls in IPython.
"""

import torch

from .data import load_data, load_data_fashion_mnist, load_data_mnist, text_labels
from .device import try_gpu
from .history import History, Point
from .lenet import LeNet5, lenet_d2l
from .models import make_lenet
from .quick_mode import is_quick, mode_line, pick
from .pictures import show_images
from .plot import Animator
from .plain_loop import Accumulator, Timer, accuracy, evaluate_accuracy_gpu
from .train import train_ch6

__version__ = "0.1.0"


def size(x: torch.Tensor) -> int:
    """d2l's ``size`` (its English edition's alias, ``d2l.size(y)``): the number of elements of a
    tensor, ``x.numel()``."""
    return x.numel()
