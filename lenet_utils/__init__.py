"""lenet_utils: the helper package behind the 'LeNet, hands on' chapters.

d2l's vocabulary is here under the names learners know (``load_data_fashion_mnist``,
``train_ch6``, ``evaluate_accuracy_gpu``, ``Accumulator``, ``Timer``, ``Animator``, ``try_gpu``);
everything else lives in one module per idea. Widget modules (``lenet_utils.widgets.*``) are
imported explicitly, since ipywidgets pulls in IPython.
"""

from .data import load_data, load_data_fashion_mnist, load_data_mnist, text_labels
from .device import try_gpu
from .mode import is_quick, mode_line, pick
from .models import LeNet5, lenet_d2l, lenet_modern, make_lenet, mlp
from .plot import Animator, plot_history, show_images
from .shapes import conv_out, parameter_table, pool_out, trace
from .train import Accumulator, History, Timer, accuracy, evaluate_accuracy_gpu, train_ch6

__version__ = "0.1.0"
