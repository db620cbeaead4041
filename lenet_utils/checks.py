"""Argument checks shared by the whole package: one wording for each kind of bad input.

    >>> whole_number("batch_size", 2.7)
    Traceback (most recent call last):
    ...
    ValueError: batch_size=2.7 is not valid: it must be a whole number >= 1.

Every function returns the value normalised (an ``int``, a ``float``, a lower-case name) or raises
a ``ValueError`` whose message names the argument, what it got and what to pass instead.
"""

import math
import numbers
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .device import check_device, evaluating

__all__ = ["OPTIMIZERS", "whole_number", "seconds", "learning_rate", "learning_rate_range", "optimizer_name", "choice",
           "check_train_args", "check_first_batch"]

#: The optimizers known by name; anything else is passed as a factory (see ``make_optimizer``).
OPTIMIZERS = ("sgd", "adam")


def whole_number(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """``value`` as an ``int`` >= ``low`` (and <= ``high`` when given); refuses floats (2.7 is not
    silently 2), bools and strings."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low
            or (high is not None and value > high)):
        where = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name}={value!r} is not valid: it must be a whole number {where}.")
    return int(value)


def seconds(name: str, value: object) -> float:
    """``value`` as a finite ``float`` >= 0: a time in seconds.

        >>> seconds("debounce", -1)
        Traceback (most recent call last):
        ...
        ValueError: debounce=-1 is not valid: it must be a number of seconds >= 0, such as 0.1.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value < 0):
        raise ValueError(f"{name}={value!r} is not valid: it must be a number of seconds >= 0, such as 0.1.")
    return float(value)


def learning_rate(value: object, name: str = "lr") -> float:
    """``value`` as a positive, finite ``float`` learning rate."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value <= 0):
        raise ValueError(f"{name}={value!r} is not valid: a learning rate is a positive number "
                         f"(e.g. 0.9 for SGD as in d2l 0.17, 1e-3 for Adam).")
    return float(value)


def learning_rate_range(value: object, name: str) -> tuple[float, float]:
    """``value`` as ``(lowest, highest)`` learning rates, both positive (a search draws them on a log
    scale), the lowest first: ``learning_rate_range((0.01, 3.0), "SEARCH_SPACE['lr']")``."""
    if isinstance(value, str) or not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ValueError(f"{name}={value!r} is not valid: give (lowest, highest) learning rates, "
                         f"such as (0.01, 3.0).")
    low, high = (learning_rate(v, f"{name}[{i}]") for i, v in enumerate(value))
    if low > high:
        raise ValueError(f"{name}={value!r} is not valid: give the lowest learning rate first, "
                         f"({high:g}, {low:g}).")
    return low, high


def choice(name: str, value: object, choices: tuple[str, ...], otherwise: str = "") -> str:
    """``value`` as one of ``choices`` (case-insensitive), lower-cased; ``otherwise`` tells what else
    the caller takes (e.g. 'or pass a factory')."""
    key = value.lower() if isinstance(value, str) else None
    if key not in choices:
        also = f", {otherwise}" if otherwise else ""
        raise ValueError(f"{name}={value!r} is not valid: choose one of {', '.join(choices)}{also}.")
    return key


def optimizer_name(value: object, factory_allowed: bool = False) -> str:
    """One of :data:`OPTIMIZERS`, lower-cased; with ``factory_allowed`` the message also offers a
    factory (what ``train_ch6`` and ``make_optimizer`` take besides a name)."""
    factory = "or pass a factory called as factory(params, lr=lr), such as torch.optim.AdamW"
    return choice("optimizer", value, OPTIMIZERS, factory if factory_allowed else "")


def check_train_args(net: nn.Module, train_iter: Iterable, test_iter: Iterable, num_epochs: int,
                     lr: float, device: "str | torch.device | None", optimizer: "str | Callable",
                     scheduler: "str | Callable[[int], float] | None", points_per_epoch: int) -> torch.device:
    """The device ``train_ch6`` trains on (``device``, else ``train_iter``'s, else
    :func:`~lenet_utils.device.try_gpu`), or a ValueError that says what to change unless its
    arguments are usable."""
    if not isinstance(net, nn.Module) or next(iter(net.parameters()), None) is None:
        raise ValueError("net must be a torch nn.Module with parameters to train.")
    whole_number("num_epochs", num_epochs)
    whole_number("points_per_epoch", points_per_epoch)
    learning_rate(lr)
    if not callable(optimizer):
        optimizer_name(optimizer, factory_allowed=True)
    if not (scheduler is None or scheduler == "cosine" or callable(scheduler)):
        raise ValueError(f"scheduler={scheduler!r} is not valid: pass None, 'cosine' or a function "
                         f"epoch -> lr.")
    for name, it in (("train_iter", train_iter), ("test_iter", test_iter)):
        try:
            n = len(it)
        except TypeError:
            raise ValueError(f"{name} must have a length (a TensorLoader or a DataLoader), "
                             f"got {type(it).__name__}.") from None
        if n == 0:
            raise ValueError(f"{name} yields no batches: the data set is empty. Check its size "
                             f"and batch size (drop_last drops a set smaller than one batch).")
    return check_device(device if device is not None else getattr(train_iter, "device", None))


def check_first_batch(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> int:
    """The number of classes K, read from ``net``'s output for the first batch ``(X, y)`` (one
    forward pass in eval mode without gradients, so that nothing trains or draws random numbers);
    a ValueError that says what to change unless the output is N x K scores (K >= 2) and ``y``
    holds N integer class indices in [0, K)."""
    with evaluating(net), torch.no_grad():
        y_hat = net(X)
    n = y.shape[0] if y.dim() else 1
    if not torch.is_tensor(y_hat):
        raise ValueError(f"The net returned a {type(y_hat).__name__}, not a tensor: train_ch6 needs "
                         f"a tensor of class scores, N x K (one row per example, one column per class).")
    if y_hat.dim() != 2 or y_hat.shape[0] != n:
        raise ValueError(f"The net gives output shape {tuple(y_hat.shape)} for a batch of {n} examples: "
                         f"train_ch6 needs class scores N x K, one row per example and one column per "
                         f"class. Flatten before the last layer and make it nn.Linear(..., K).")
    k = y_hat.shape[1]
    if k < 2:
        raise ValueError(f"The net gives output shape {tuple(y_hat.shape)}: one score per example, "
                         f"but a classifier needs at least 2 (one per class). Make its last layer "
                         f"nn.Linear(..., K) with K the number of classes.")
    if y.dim() != 1:
        raise ValueError(f"The labels of shape {tuple(y.shape)} do not fit {n} outputs: train_ch6 "
                         f"needs one class index per example, a 1-D tensor; flatten them with y.view(-1).")
    if y.dtype not in (torch.long, torch.uint8):
        raise ValueError(f"The labels are {y.dtype}: train_ch6 needs integer class indices 0 to K-1 as "
                         f"torch.long; convert them with y.long() (one-hot labels: y.argmax(dim=1)).")
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise ValueError(f"The labels must be class indices 0 to {k - 1}, got {low}: shift or "
                         f"re-map them so that the first class is 0.")
    if high >= k:
        raise ValueError(f"The labels go up to {high} but the net has {k} outputs: it needs one per "
                         f"class, at least {high + 1}; make its last layer nn.Linear(..., {high + 1}).")
    return k
