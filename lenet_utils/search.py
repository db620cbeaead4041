"""Hyperparameter search as notebook 11 writes it: the search space, a :class:`Run` continued rung
by rung, grid search, random search, successive halving and the same with Optuna. Every method picks
on a validation split (:class:`~lenet_utils.splits.Split`) and returns its log, one line per run
(and rung); a run stopped early (pruned, or diverged) costs the examples it trained.

>>> log = random_search(data, num_runs=18, num_epochs=5, seed=0)  # data: a Split
"""

import math
import random

import optuna
import torch

from .data import TensorLoader
from .models import make_lenet
from .splits import Split
from .plain_loop import init_weights
from .train import train_ch6

__all__ = ["SEARCH_SPACE", "sample_settings", "Run", "grid_search", "random_search",
           "successive_halving", "objective", "optuna_search"]

SEARCH_SPACE = {"lr": (0.01, 3.0),  # lowest and highest, searched on a log scale
                "activation": ["sigmoid", "tanh", "relu"],
                "batch_size": [32, 64, 128]}


def sample_settings(rng: random.Random) -> dict:
    """One setting drawn at random from SEARCH_SPACE (the learning rate uniform in its log)."""
    low, high = SEARCH_SPACE["lr"]
    return {"lr": math.exp(rng.uniform(math.log(low), math.log(high))),
            "activation": rng.choice(SEARCH_SPACE["activation"]),
            "batch_size": rng.choice(SEARCH_SPACE["batch_size"])}


class Run:
    """One setting (a dict with lr, activation and batch_size) in training on ``data.train``,
    scored on ``data.val`` after every epoch.

    ``run.train(epochs)`` trains on from where the last call stopped (plain SGD keeps no state
    between steps, so two calls of one epoch train exactly like one call of two) and returns one
    line of the search's log. ``run.best_acc`` is the best validation accuracy so far (0 before
    the first epoch); ``run.examples`` counts the examples trained (a run that diverged counts
    them up to its last checkpoint, and trains no more).
    """

    def __init__(self, settings: dict, data: Split, seed: int) -> None:
        self.settings = {key: settings[key] for key in SEARCH_SPACE}  # a grid's dicts hold more
        self.data = data
        torch.manual_seed(seed)  # seeded like run_sweep: same seed, same initial weights ...
        self.net = make_lenet(settings["activation"])
        self.net.apply(init_weights)
        self.batches = TensorLoader(data.train.X, data.train.y, settings["batch_size"],
                                    device=data.train.device, seed=seed)  # ... and same batches
        self.val_acc, self.examples, self.status = [], 0, "new"

    @property
    def best_acc(self) -> float:
        return max(self.val_acc, default=0.0)

    def train(self, epochs: int) -> dict:
        before = self.examples
        if epochs > 0 and self.status != "diverged":
            history = train_ch6(self.net, self.batches, self.data.val, epochs, self.settings["lr"],
                                init=False, animate=False, verbose=False)
            if history.status == "interrupted":
                raise KeyboardInterrupt  # Ctrl-C stops the whole search, not only this run
            self.val_acc += history.test_acc  # train_ch6's test set is our validation split
            self.examples += history.points[-1].examples if history.points else 0
            self.status = history.status
        best_epoch = self.val_acc.index(self.best_acc) + 1 if self.val_acc else 0
        return {**self.settings, "epochs": len(self.val_acc), "best_epoch": best_epoch,
                "examples": self.examples - before, "val_acc": self.best_acc, "status": self.status}


def grid_search(data: Split, grid: list[dict], num_epochs: int, seed: int) -> list[dict]:
    """Train every setting of ``grid`` for ``num_epochs``; return the log, one line per run."""
    return [Run(settings, data, seed).train(num_epochs) for settings in grid]


def random_search(data: Split, num_runs: int, num_epochs: int, seed: int) -> list[dict]:
    """Train ``num_runs`` settings drawn at random for ``num_epochs``; return the log."""
    rng = random.Random(seed)
    return [Run(sample_settings(rng), data, seed).train(num_epochs) for _ in range(num_runs)]


def successive_halving(data: Split, num_runs: int, rungs: list[int], seed: int,
                       keep: int = 3) -> list[dict]:
    """Train ``num_runs`` random settings (the first ones ``random_search`` draws with this seed)
    to the first rung (a number of epochs), keep the best 1/``keep`` of them (at least one),
    train those on to the next rung, and so on; return the log, one line per run and rung."""
    rng = random.Random(seed)
    runs = [Run(sample_settings(rng), data, seed) for _ in range(num_runs)]
    log, done = [], 0
    for rung in rungs:
        log += [run.train(rung - done) for run in runs]
        done = rung
        runs = sorted(runs, key=lambda run: run.best_acc, reverse=True)[:max(1, len(runs) // keep)]
    return log


def objective(trial: optuna.Trial, data: Split, num_epochs: int, seed: int) -> float:
    """Optuna's objective: train the setting the trial suggests, one epoch at a time; after each,
    report the best validation accuracy so far and stop when the pruner says so."""
    low, high = SEARCH_SPACE["lr"]
    run = Run({"lr": trial.suggest_float("lr", low, high, log=True),
               "activation": trial.suggest_categorical("activation", SEARCH_SPACE["activation"]),
               "batch_size": trial.suggest_categorical("batch_size", SEARCH_SPACE["batch_size"])},
              data, seed)
    for epoch in range(1, num_epochs + 1):
        run.train(1)
        trial.set_user_attr("examples", run.examples)  # the cost, pruned or not
        trial.report(run.best_acc, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return run.best_acc


def optuna_search(data: Split, num_epochs: int, budget: int, seed: int) -> optuna.Study:
    """Search with Optuna: the TPE sampler proposes each setting from the trials so far, the
    successive-halving pruner stops poor runs at epochs 1, 3, 9, ...; new trials start while a
    full run still fits in ``budget`` training examples. Return the study."""
    full_run = num_epochs * data.train.num_examples
    if budget < full_run:  # else the study would still run one trial
        raise ValueError(f"budget={budget} is less than one full run ({num_epochs} epoch(s) of "
                         f"{data.train.num_examples} examples = {full_run}): give at least {full_run}.")
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(n_startup_trials=5, seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))

    def stop_at_budget(study, trial):
        if sum(t.user_attrs.get("examples", 0) for t in study.trials) + full_run > budget:
            study.stop()

    study.optimize(lambda trial: objective(trial, data, num_epochs, seed),
                   callbacks=[stop_at_budget])
    return study
