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

__all__ = ["OPTIMIZERS", "whole_number", "seconds", "learning_rate", "learning_rate_range", "optimizer_name",
           "choice"]

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
