"""The grid a sweep runs: the settings it can vary (``AXES``), every combination of the values given
(``make_grid``), which settings differ among runs (``varied_axes``), and the LeNet each setting
builds for the data at hand (``lenet_for``).

>>> len(make_grid(lr=[0.1, 0.9], activation=["sigmoid", "relu"]))
4
"""

import itertools
from collections.abc import Callable, Sequence

from torch import nn

from .checks import choice, learning_rate, optimizer_name, whole_number
from .data import TensorLoader
from .models import ACTIVATIONS, POOLS, make_lenet

__all__ = ["AXES", "make_grid", "varied_axes", "lenet_for"]

#: The settings a sweep can vary, with the value each takes when a sweep does not name it.
AXES = {"lr": 0.9, "batch_size": 256, "num_epochs": 10, "activation": "sigmoid", "pool": "avg",
        "optimizer": "sgd", "seed": 0}


def _check_value(axis: str, value: object) -> "float | int | str":
    """``value`` checked (and normalised) as a setting of ``axis``."""
    if axis == "lr":
        return learning_rate(value)
    if axis in ("batch_size", "num_epochs", "seed"):
        return whole_number(axis, value, low=0 if axis == "seed" else 1)
    if axis == "optimizer":
        return optimizer_name(value)
    return choice(axis, value, tuple({"activation": ACTIVATIONS, "pool": POOLS}[axis]))


def make_grid(**axes: object) -> list[dict]:
    """Every combination of the given settings, as a list of dicts (all :data:`AXES` filled in).

    Each keyword is an axis of :data:`AXES` with one value or a list of values, e.g.
    ``make_grid(lr=[0.1, 0.9], activation=["sigmoid", "relu"])`` gives 4 settings. The last axis
    named varies fastest.
    """
    unknown = set(axes) - set(AXES)
    if unknown:
        raise ValueError(f"Unknown sweep axis {', '.join(sorted(unknown))}: a sweep varies "
                         f"{', '.join(AXES)}.")
    values = {}
    for axis, default in AXES.items():
        given = axes.get(axis, default)
        given = list(given) if isinstance(given, (list, tuple, range)) else [given]
        if not given:
            raise ValueError(f"{axis} has an empty list of values: give at least one.")
        values[axis] = [_check_value(axis, v) for v in given]
    order = [a for a in axes] + [a for a in AXES if a not in axes]
    grid = []
    for combo in itertools.product(*(values[a] for a in order)):
        settings = dict(zip(order, combo))
        grid.append({a: settings[a] for a in AXES})
    return grid


def varied_axes(rows: Sequence[dict]) -> list[str]:
    """The axes that take more than one value in ``rows`` (or in a grid)."""
    return [a for a in AXES if len({r[a] for r in rows}) > 1]


def lenet_for(train_iter: TensorLoader) -> Callable[[str, str], nn.Module]:
    """``model_fn(activation, pool)`` building a LeNet for this data's channels and image size."""
    _, channels, size, _ = train_iter.X.shape

    def model_fn(activation: str, pool: str) -> nn.Module:
        return make_lenet(activation=activation, pool=pool, in_channels=channels, image_size=size)
    return model_fn
