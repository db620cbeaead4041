"""Classic versus modern LeNet, measured one change at a time: ``run_ladder`` (written out in
chapter 6) trains every rung (:mod:`~lenet_utils.rungs`) on every data set with every seed, the same
budget for all, with :func:`~lenet_utils.train.train_ch6`, and hands back a
:class:`~lenet_utils.ladder_results.LadderResult`.

The ladder starts from the classic network (tanh, average pooling) and adds one modern ingredient
per rung: ReLU, max pooling, batch norm, augmentation (the sources' "modern" LeNet). Every rung
trains with the same recipe (Adam, as the sources train both, with decoupled weight decay, on the
paper's input scaling) and the same budget (epochs, batch size, data) on each data set and several
seeds, so the difference between two neighbouring rungs is what that one change buys.
"""

from collections.abc import Sequence

import torch

from .augment import AugmentedLoader
from .data import TensorLoader
from .device import check_device, hardware_summary
from .ladder_results import TARGETS, TITLES, LadderResult, LadderRun
from .rungs import Rung
from .train import train_ch6

__all__ = ["run_ladder"]


def run_ladder(rungs: Sequence[Rung], data: dict, seeds: Sequence[int], num_epochs: int,
               device: "str | torch.device | None" = None, verbose: bool = True) -> LadderResult:
    """Train every rung on every data set (``data``: name -> (train_iter, test_iter)) with every
    seed, all with the same budget and schedule (the learning rate decays to 0 along a cosine),
    using ``train_ch6``."""
    device = check_device(device)
    result = LadderResult(settings={"seeds": tuple(seeds), "num_epochs": num_epochs,
                                    "hardware": hardware_summary(device)})
    for dataset, (train_iter, test_iter) in data.items():
        for rung in rungs:
            for seed in seeds:
                torch.manual_seed(seed)  # the seed fixes the weights, the batches, the augmentation
                net = rung.build()
                batches = TensorLoader(train_iter.X, train_iter.y, train_iter.batch_size,
                                       device=device, seed=seed)
                if rung.augment:
                    batches = AugmentedLoader(batches, rung.max_degrees, rung.max_shift, seed=seed)
                history = train_ch6(net, batches, test_iter, num_epochs, rung.lr, device,
                                    optimizer=rung.training_optimizer(), scheduler="cosine", animate=False,
                                    verbose=False, label=f"{rung.name}, seed {seed}")
                run = LadderRun(rung, dataset, seed, history, TARGETS.get(dataset, 1.0))
                result.add(run, net, test_iter)
                if verbose:
                    print(f"{TITLES.get(dataset, dataset):>13} | {rung.name:<15} | seed {seed} | "
                          f"test acc {run.final_test_acc:.2%} | {run.seconds:5.1f} s | {history.status}")
                if not history.complete:  # Ctrl-C ends the whole ladder, not only this run
                    print(f"{rung.name}, seed {seed} {history.status}: the ladder stops here.")
                    return result
    return result
