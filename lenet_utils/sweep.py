"""The sweep loop, as chapter 5 writes it: :func:`run_sweep` trains one fresh LeNet per setting of
a grid (:func:`~lenet_utils.sweep_grids.make_grid`) with :func:`~lenet_utils.train.train_ch6` and
returns a :class:`~lenet_utils.sweep_results.SweepResult`. The pictures are in
:mod:`lenet_utils.plot` (curves) and :mod:`lenet_utils.pictures` (the heatmap).

Runs are repeatable: every run re-seeds PyTorch with its ``seed`` right before it builds and
initialises the net and shuffles the batches, so all runs with the same seed start from the same
weights and see the same batches in the same order (only the setting under study differs).
"""

from collections.abc import Callable

import torch
from torch import nn

from .data import TensorLoader
from .plot import run_label
from .sweep_grids import lenet_for
from .sweep_results import SweepResult, sweep_row
from .train import train_ch6

__all__ = ["run_sweep"]


def run_sweep(train_iter: TensorLoader, test_iter: TensorLoader, grid: list[dict],
              model_fn: Callable[[str, str], nn.Module] | None = None,
              verbose: bool = True) -> "SweepResult":
    """Train one fresh LeNet per settings dict of ``grid`` (from ``make_grid``) with ``train_ch6``
    and collect the results in a table."""
    if model_fn is None:
        model_fn = lenet_for(train_iter)
    rows, histories = [], []
    for run, settings in enumerate(grid, start=1):
        torch.manual_seed(settings["seed"])  # same seed: same initial weights, same batches
        net = model_fn(settings["activation"], settings["pool"])
        batches = TensorLoader(train_iter.X, train_iter.y, settings["batch_size"],
                               device=train_iter.device, seed=settings["seed"])
        history = train_ch6(net, batches, test_iter, settings["num_epochs"], settings["lr"],
                            optimizer=settings["optimizer"], animate=False, verbose=False,
                            label=run_label(settings, grid))
        rows.append(sweep_row(run, settings, history))
        histories.append(history)
        if verbose:
            print(f"run {run}/{len(grid)}: {history.summary()}")
        if not history.complete:  # Ctrl-C ends the whole sweep, not only this run
            print(f"Run {run}/{len(grid)} {history.status}: the sweep stops here.")
            break
    return SweepResult(rows, histories)
