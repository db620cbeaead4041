"""A validation split: a class-balanced part of the training images set aside, so that a search
picks its settings on images it never trained on and the test set is used once, at the end.

>>> data = load_split(train_size=5000, val_size=1000, test_size=2000)
"""

from pathlib import Path
from typing import NamedTuple

import torch

from .checks import whole_number
from .data import TensorLoader, balanced_subset, load_data

__all__ = ["Split", "split_validation", "load_split"]


class Split(NamedTuple):
    """Training batches, a validation split carved out of the training images, and the test set."""

    train: TensorLoader
    val: TensorLoader
    test: TensorLoader


def split_validation(train_iter: TensorLoader, test_iter: TensorLoader, val_size: int,
                     seed: int = 0) -> Split:
    """Move a class-balanced ``val_size`` of ``train_iter``'s examples into a validation loader.

    >>> data = split_validation(*load_data("fashion-mnist", 64, train_size=6000), val_size=1000)
    """
    val_size = whole_number("val_size", val_size)
    if val_size >= train_iter.num_examples:
        raise ValueError(f"val_size={val_size} leaves no training examples out of "
                         f"{train_iter.num_examples}: take a smaller validation split.")
    is_val = torch.zeros(train_iter.num_examples, dtype=torch.bool)
    is_val[balanced_subset(train_iter.y.cpu(), val_size, seed=seed)] = True
    is_val = is_val.to(train_iter.device)
    return Split(TensorLoader(train_iter.X[~is_val], train_iter.y[~is_val], train_iter.batch_size,
                              device=train_iter.device, seed=seed),
                 TensorLoader(train_iter.X[is_val], train_iter.y[is_val], 500, shuffle=False,
                              device=train_iter.device),
                 test_iter)


def load_split(train_size: int, val_size: int, test_size: int | None = None,
               root: "str | Path | None" = None, verbose: bool = True) -> Split:
    """Fashion-MNIST as a :class:`Split`: ``train_size`` training and ``val_size`` validation
    images (a class-balanced subset of the training set, split class-balanced) and ``test_size``
    test images (None: all)."""
    train_iter, test_iter = load_data("fashion-mnist", 64, train_size=train_size + val_size,
                                      test_size=test_size, root=root, verbose=verbose)
    return split_validation(train_iter, test_iter, val_size)
