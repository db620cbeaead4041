"""Torch state that a widget keeps to itself: the notebook's random numbers and thread counts stay
the learner's, whatever a widget makes or trains in the background.

    generator = torch.Generator().manual_seed(0)
    net = fresh_lenet(generator, activation="relu")   # torch.rand() in the notebook is unaffected
    use_threads_here(1)                               # in a worker thread: only it trains on one

Building a net draws its starting weights from torch's global generator, and ``torch.manual_seed``
resets that generator for everyone; a widget instead builds its net on the meta device (no numbers
drawn) and draws every weight from a ``torch.Generator`` of its own. ``torch.set_num_threads`` sets
the calling thread's count and also the count every thread started later takes at its first torch
operation; :func:`use_threads_here` puts the latter back.
"""

import functools
import math
import threading

import torch
from torch import nn

from ..models import make_lenet
from ..plain_loop import init_weights

__all__ = ["fresh_lenet", "use_threads_here"]


def fresh_lenet(generator: torch.Generator, *, xavier: bool = True, **make_lenet_args) -> nn.Sequential:
    """``make_lenet(**make_lenet_args)`` on the CPU with its weights drawn from ``generator`` only:
    PyTorch's default initialisation, then d2l's Xavier-uniform weights when ``xavier`` (as
    ``train_ch6(init=True)`` does). The same generator state gives the same net.

        net = fresh_lenet(torch.Generator().manual_seed(0), xavier=False, activation="tanh")
    """
    with torch.device("meta"):
        net = make_lenet(**make_lenet_args)
    net.to_empty(device="cpu")
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)  # nn's default
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())  # 1 / sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        elif next(module.parameters(recurse=False), None) is not None or \
                next(module.buffers(recurse=False), None) is not None:
            raise ValueError(f"fresh_lenet initialises convolutions and linear layers only, and this net "
                             f"has a {type(module).__name__} with weights or buffers of its own: build it "
                             f"without batch norm ({make_lenet_args}).")
    if xavier:
        net.apply(functools.partial(init_weights, generator=generator))
    return net


def use_threads_here(count: int) -> None:
    """Run the calling thread's torch operations on ``count`` CPU threads, for the rest of its life;
    the notebook's thread, and every thread started later, keep the count they would have had.

        threading.Thread(target=lambda: (use_threads_here(1), train())).start()
    """
    before = torch.get_num_threads()  # what this thread took at its first torch operation
    torch.set_num_threads(count)
    # that also made `count` the default of threads started later; setting it back from here
    # would reset this thread too, so a helper thread (which then ends) sets it back
    helper = threading.Thread(target=torch.set_num_threads, args=(before,), name="lenet-thread-count")
    helper.start()
    helper.join()
