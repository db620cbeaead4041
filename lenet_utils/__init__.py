"""lenet_utils: the helper package behind the 'LeNet, hands on' chapters."""

from .device import try_all_gpus, try_gpu
from .mode import is_quick, mode_line, pick

__version__ = "0.1.0"
