"""Optimizers by name and learning-rate schedules, as ``train_ch6`` takes them.

    opt = make_optimizer("adam", net.parameters(), 1e-3)
    set_lr = lr_setter("cosine", opt, 0.1, num_epochs=10, num_batches=235)   # set_lr(epoch, batch)
"""

import math
from collections.abc import Callable, Iterable

import torch

from .checks import learning_rate, optimizer_name

__all__ = ["make_optimizer", "name", "lr_setter"]


def make_optimizer(optimizer: "str | Callable", params: Iterable, lr: float,
                   capturable: bool = False) -> torch.optim.Optimizer:
    """'sgd' (d2l), 'adam', or a factory called as ``factory(params, lr=lr)`` (e.g.
    ``functools.partial(torch.optim.SGD, momentum=0.9)``). ``params`` may be parameters or
    param-group dicts, each with its own 'lr'. ``capturable`` lets Adam run inside a CUDA graph."""
    if callable(optimizer):
        return optimizer(params, lr=lr)
    if optimizer_name(optimizer, factory_allowed=True) == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, capturable=capturable)


def name(optimizer: "str | Callable") -> str:
    """What a run's label calls ``optimizer``: its name, a factory's ``__name__``, else 'custom'.

        >>> name("adam"), name(torch.optim.AdamW)
        ('adam', 'AdamW')
    """
    return optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "custom")


def lr_setter(scheduler: "str | Callable[[int], float] | None", optimizer: torch.optim.Optimizer,
              lr: float, num_epochs: int, num_batches: int) -> Callable[[int, int], None]:
    """``set_lr(epoch, batch)``, called before each batch (both counted from 0), which gives the
    optimizer the schedule's learning rate: 'cosine' falls from ``lr`` to 0 over the run, batch by
    batch; a function ``epoch -> lr`` (d2l's convention) is asked at the first batch of each epoch,
    its answer checked by :func:`~lenet_utils.checks.learning_rate` (a ValueError names
    ``scheduler(epoch)``); with None it does nothing (the optimizer keeps its rates).

        set_lr = lr_setter("cosine", opt, 0.1, num_epochs=10, num_batches=235)
    """
    def set_lr(epoch: int, batch: int) -> None:
        if scheduler == "cosine":  # from lr down to 0, every batch
            new = 0.5 * lr * (1 + math.cos(math.pi * (epoch * num_batches + batch) / (num_epochs * num_batches)))
        elif scheduler is not None and batch == 0:
            new = learning_rate(scheduler(epoch), f"scheduler({epoch})")
        else:
            return
        for group in optimizer.param_groups:
            group["lr"] = new
    return set_lr
