"""Hyperparameter search as practitioners do it: random search, successive halving and Optuna,
measured against a grid on the same data, seeds and currency (training examples trained).

Chapter 5 writes out :data:`SEARCH_SPACE`, :func:`sample_settings`, :class:`Run` (one setting in
training, continued rung by rung), :func:`grid_search`, :func:`random_search`,
:func:`successive_halving`, :func:`objective` and :func:`optuna_search`. The rest is the bench
around them: a class-balanced validation split carved out of the training images
(:func:`load_split`), the comparison over repeats (:func:`compare_searches`, stored like the other
long experiments) with its table, paired differences, verdict and best-so-far plot, and the worker
that runs trials of a shared Optuna study from another process::

    python -m lenet_utils.search --storage study.log --study lenet --trials 8 --worker A

Every method picks on the validation split; the test set is used once, for the final pick. A run
stopped early (pruned, or diverged) costs the examples it trained up to its last checkpoint.
"""

import argparse
import contextlib
import json
import math
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib.pyplot as plt
import optuna
import torch

from .checks import learning_rate_range, whole_number
from .data import TensorLoader, balanced_subset, load_data
from .models import make_lenet
from .stats import t_interval
from .tables import format_table
from .train import evaluate, init_weights, train_ch6

__all__ = ["SEARCH_SPACE", "METHODS", "Split", "Run", "sample_settings", "grid_search",
           "random_search", "successive_halving", "objective", "optuna_search", "load_split",
           "split_validation", "study_log", "quiet_optuna", "compare_searches", "SearchComparison",
           "plot_best_so_far", "open_storage", "worker_command", "run_workers", "work"]

#: The four methods compared, in the order of the table.
METHODS = ("grid", "random", "halving", "optuna")
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


# ---------------------------------------------------------------- the methods (chapter 5)


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
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(n_startup_trials=5, seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    full_run = num_epochs * data.train.num_examples

    def stop_at_budget(study, trial):
        if sum(t.user_attrs.get("examples", 0) for t in study.trials) + full_run > budget:
            study.stop()

    study.optimize(lambda trial: objective(trial, data, num_epochs, seed),
                   callbacks=[stop_at_budget])
    return study


# ---------------------------------------------------------------- the bench around them


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Inside the block Optuna logs warnings only (not a line per trial); its verbosity is
    restored afterwards."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def study_log(study: optuna.Study) -> list[dict]:
    """The study's trials as log lines like :meth:`Run.train`'s, one per trial that reported."""
    log = []
    for t in study.trials:
        values = t.intermediate_values
        if not values:
            continue
        best = max(values.values())
        log.append({**t.params, "epochs": max(values),
                    "best_epoch": min(step for step, v in values.items() if v == best),
                    "examples": t.user_attrs.get("examples", 0), "val_acc": best,
                    "status": t.state.name.lower()})
    return log


class SearchComparison:
    """What :func:`compare_searches` measured: ``rows`` (the log lines of every method and seed,
    each with ``method``, ``seed`` and ``step``), ``seconds`` (method -> seconds per seed),
    ``pick`` (the best validation result of all, retrained and tested once) and ``settings``.

    ``print(comparison)`` shows the table; :meth:`differences` and :meth:`verdict` say what it
    shows; :meth:`curves` gives best-so-far against examples trained.
    """

    def __init__(self, rows: list[dict], seconds: dict, pick: dict, settings: dict) -> None:
        self.rows, self.seconds, self.pick, self.settings = rows, seconds, pick, settings
        self.seeds = list(dict.fromkeys(r["seed"] for r in rows))

    def save(self, folder: Path) -> None:
        """Write everything to ``comparison.json``."""
        saved = {"rows": self.rows, "seconds": self.seconds, "pick": self.pick,
                 "settings": self.settings}
        (folder / "comparison.json").write_text(json.dumps(saved))

    @classmethod
    def load(cls, folder: Path) -> "SearchComparison":
        """The comparison :meth:`save` wrote."""
        saved = json.loads((folder / "comparison.json").read_text())
        return cls(saved["rows"], saved["seconds"], saved["pick"], saved["settings"])

    def best(self, method: str) -> list[float]:
        """The best validation accuracy ``method`` found, one per seed."""
        return [max(r["val_acc"] for r in self.rows if r["method"] == method and r["seed"] == s)
                for s in self.seeds]

    def examples(self, method: str) -> list[int]:
        """The training examples ``method`` trained, one total per seed."""
        return [sum(r["examples"] for r in self.rows if r["method"] == method and r["seed"] == s)
                for s in self.seeds]

    def table(self) -> list[dict]:
        """One row per method: the mean over seeds and the spread (best minus worst seed) of
        the best validation accuracy found and of the examples trained, and the mean seconds."""
        grid_examples = statistics.fmean(self.examples("grid"))
        rows = []
        for method in METHODS:
            best, examples = self.best(method), self.examples(method)
            rows.append({"method": method, "repeats": len(best),
                         "best val acc": statistics.fmean(best), "spread": max(best) - min(best),
                         "examples": round(statistics.fmean(examples)),
                         "examples spread": max(examples) - min(examples),
                         "% of grid": f"{statistics.fmean(examples) / grid_examples:.0%}",
                         "seconds": statistics.fmean(self.seconds[method])})
        return rows

    def __str__(self) -> str:
        columns = ["method", "repeats", "best val acc", "spread", "examples", "examples spread",
                   "% of grid", "seconds"]
        return format_table(columns, self.table(), align="lrrrrrrr")

    def differences(self) -> str:
        """Each method's best validation accuracy minus the grid's, paired by seed, with a 95%
        t-interval; 'not shown' when the interval includes zero."""
        grid = self.best("grid")
        lines = []
        for method in METHODS[1:]:
            diffs = [m - g for m, g in zip(self.best(method), grid)]
            line = f"{method} - grid: {statistics.fmean(diffs):+.4f}"
            interval = t_interval(diffs)
            if interval is None:
                lines.append(line + " (one repeat: no interval)")
                continue
            low, high = interval
            shown = ("not shown (the interval includes zero)" if low <= 0 <= high
                     else "higher than the grid" if low > 0 else "lower than the grid")
            lines.append(f"{line} (95% interval {low:+.4f} to {high:+.4f} over {len(diffs)} "
                         f"paired repeats): {shown}")
        return "\n".join(lines)

    def verdict(self) -> str:
        """For each method that stops runs early: did it reach within the grid's seed spread of
        the grid's best validation accuracy with at most a third of the grid's examples?"""
        grid = self.best("grid")
        grid_best, grid_spread = statistics.fmean(grid), max(grid) - min(grid)
        grid_examples = statistics.fmean(self.examples("grid"))
        lines = []
        for method, name in (("halving", "Successive halving"),
                             ("optuna", "Optuna (TPE + pruner)")):
            best = statistics.fmean(self.best(method))
            examples = statistics.fmean(self.examples(method))
            short, share = grid_best - best, examples / grid_examples
            close, cheap = short <= grid_spread, share <= 1 / 3
            how = (f"{abs(short):.4f} above the grid's {grid_best:.4f}" if short <= 0 else
                   f"{short:.4f} below the grid's {grid_best:.4f}, "
                   f"{'within' if close else 'outside'} the grid's seed spread {grid_spread:.4f}")
            cost = (f"{share:.0%} of the grid's examples "
                    f"({'at most' if cheap else 'more than'} a third)")
            lines.append(f"{name}: {'yes' if close and cheap else 'no'}: its mean best validation "
                         f"accuracy {best:.4f} is {how}, and it trained {cost}.")
        return "\n".join(lines)

    def curves(self, method: str) -> list[tuple[list[int], list[float]]]:
        """Per seed: examples trained so far and the best validation accuracy so far, after each
        line of ``method``'s log."""
        out = []
        for seed in self.seeds:
            spent, best, xs, ys = 0, 0.0, [], []
            for r in self.rows:
                if r["method"] == method and r["seed"] == seed:
                    spent, best = spent + r["examples"], max(best, r["val_acc"])
                    xs.append(spent)
                    ys.append(best)
            out.append((xs, ys))
        return out

    def pick_line(self) -> str:
        """The final pick and its one test accuracy."""
        p = self.pick
        return (f"Pick (best validation accuracy of all {len(self.rows)} log lines): "
                f"{p['method']}, seed {p['seed']}: lr {p['lr']:.3g}, {p['activation']}, batch "
                f"{p['batch_size']}, {p['best_epoch']} epoch(s): validation {p['val_acc']:.4f} "
                f"(retrained: {p['retrained_val_acc']:.4f}), test {p['test_acc']:.4f} on "
                f"{p['test_examples']:,} test images.")


def compare_searches(data: Split, grid: list[dict], num_epochs: int, num_halving: int,
                     rungs: list[int], seeds: Sequence[int],
                     verbose: bool = True) -> SearchComparison:
    """Run the four searches with every seed: the grid, random search with as many runs,
    successive halving from ``num_halving`` settings over ``rungs``, and Optuna with a third of
    the grid's examples. Then retrain the best validation result of all and test it once."""
    learning_rate_range(SEARCH_SPACE["lr"], "SEARCH_SPACE['lr']")
    full_run = num_epochs * data.train.num_examples
    budget = len(grid) * full_run // 3
    searches = {"grid": lambda seed: grid_search(data, grid, num_epochs, seed),
                "random": lambda seed: random_search(data, len(grid), num_epochs, seed),
                "halving": lambda seed: successive_halving(data, num_halving, rungs, seed),
                "optuna": lambda seed: study_log(optuna_search(data, num_epochs, budget, seed))}
    rows, seconds = [], {m: [] for m in METHODS}
    with quiet_optuna():
        for i, seed in enumerate(seeds, start=1):
            start = time.perf_counter()
            for method in METHODS:
                began = time.perf_counter()
                log = searches[method](seed)
                seconds[method].append(time.perf_counter() - began)
                rows += [{**line, "method": method, "seed": seed, "step": step}
                         for step, line in enumerate(log, start=1)]
            if verbose:
                print(f"repeat {i}/{len(seeds)} (seed {seed}): four searches in "
                      f"{time.perf_counter() - start:.0f} s")
    best = max(rows, key=lambda r: r["val_acc"])
    settings = {k: best[k] for k in SEARCH_SPACE}
    retrained = Run(settings, data, best["seed"])
    retrained.train(best["best_epoch"])
    pick = {**best, "retrained_val_acc": retrained.val_acc[-1],
            "test_acc": evaluate(retrained.net, data.test), "test_examples": data.test.num_examples}
    return SearchComparison(rows, seconds, pick, {"grid": grid, "num_epochs": num_epochs,
                                                  "num_halving": num_halving, "rungs": list(rungs),
                                                  "seeds": list(seeds), "budget": budget})


def plot_best_so_far(comparison: SearchComparison, ax: "plt.Axes | None" = None) -> "plt.Axes":
    """Best validation accuracy so far against training examples trained: one colour per method,
    one faint line per seed and a bold line for the mean over seeds; a dotted line at a third of
    the grid's examples."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for method, color in zip(METHODS, ("C0", "C1", "C2", "C3")):
        curves = comparison.curves(method)
        for xs, ys in curves:
            ax.step(xs, ys, where="post", color=color, alpha=0.25, lw=1)
        end = max(xs[-1] for xs, _ in curves)
        grid = [end * k / 200 for k in range(1, 201)]
        def so_far(xs, ys, g):  # the best so far after g examples; NaN before the first run
            return next((y for x, y in zip(reversed(xs), reversed(ys)) if x <= g), math.nan)
        mean = [statistics.fmean(so_far(xs, ys, g) for xs, ys in curves) for g in grid]
        ax.plot(grid, mean, color=color, lw=2, label=method)
    third = statistics.fmean(comparison.examples("grid")) / 3
    ax.axvline(third, color="gray", ls=":", label="a third of the grid's examples")
    ax.set(xlabel="training examples trained", ylabel="best validation accuracy so far")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return ax


# ---------------------------------------------------------------- one study, several workers


def open_storage(where: str) -> "str | optuna.storages.BaseStorage":
    """An Optuna storage: a database URL (``sqlite:///study.db``, ``postgresql://user@host/db``)
    as it is, anything else as the path of a journal file that processes share (its folder must
    exist and be writable); a ValueError that says what to give otherwise."""
    where = str(where)
    if "://" in where:
        return where
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):/*", where)  # two letters at least: C:\ is a path
    if scheme:
        raise ValueError(f"storage={where!r} looks like a database URL without '//': write "
                         f"{scheme[1]}:///{where[scheme.end():]} (a file, relative to the working "
                         f"folder; four slashes for an absolute path), or give a journal file's path.")
    try:
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(where))
    except OSError as err:
        raise ValueError(f"storage={where!r} cannot be used as a journal file: "
                         f"{(err.strerror or str(err)).lower()} ({err.filename or where}). Give the path "
                         f"of a file in a folder that exists and that you can write to, such as "
                         f"'study.log' (create the folder first if need be).") from None


def worker_command(storage: str, study: str, trials: int, worker: str, num_epochs: int,
                   train_size: int, val_size: int, root: "str | Path | None" = None) -> list[str]:
    """The command line that starts one worker process (see :func:`work`)."""
    command = [sys.executable, "-m", "lenet_utils.search", "--storage", str(storage), "--study",
               study, "--trials", str(trials), "--worker", worker, "--epochs", str(num_epochs),
               "--train-size", str(train_size), "--val-size", str(val_size)]
    return command + (["--root", str(root)] if root is not None else [])


def work(storage: str, study: str, trials: int, worker: str, num_epochs: int, train_size: int,
         val_size: int, root: "str | Path | None" = None, seed: int = 0, threads: int = 1) -> int:
    """Run ``trials`` trials of the shared ``study`` (created beforehand) in ``storage`` with
    :func:`objective`, each tagged with the user attribute ``worker``; return how many ran.
    The sampler draws from a seed of its own per worker name, so workers do not propose the
    same settings; every run trains with ``seed`` (same initial weights, as everywhere). It prints
    a line as each trial starts and ends, flushed, so that its log shows where it stopped."""
    learning_rate_range(SEARCH_SPACE["lr"], "SEARCH_SPACE['lr']")
    torch.set_num_threads(threads)  # one thread per worker: two workers share two cores
    data = load_split(train_size, val_size, test_size=10, root=root, verbose=False)  # never tests
    with quiet_optuna():
        shared = optuna.load_study(
            study_name=study, storage=open_storage(storage),
            sampler=optuna.samplers.TPESampler(n_startup_trials=5,
                                               seed=zlib.crc32(worker.encode())),
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))

        def tagged(trial: optuna.Trial) -> float:
            trial.set_user_attr("worker", worker)
            print(f"worker {worker}: trial {trial.number} started", flush=True)
            return objective(trial, data, num_epochs, seed)

        def ended(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            print(f"worker {worker}: trial {trial.number} {trial.state.name.lower()} "
                  f"({len(trial.intermediate_values)} epoch(s))", flush=True)

        try:
            shared.optimize(tagged, n_trials=trials, callbacks=[ended])
        except KeyboardInterrupt:
            print(f"worker {worker}: stopped; its trial in progress is marked failed", flush=True)
            raise
    return trials


def run_workers(storage: str, study: str, workers: Sequence[str], trials: int, num_epochs: int,
                train_size: int, val_size: int, root: "str | Path | None" = None) -> float:
    """Create ``study`` in ``storage`` (or find it there, made by run_workers with the same
    direction and settings), start one worker process per name with :func:`worker_command`, wait
    for all; return the seconds until the last finished. A worker that fails raises with the end
    of its output (kept in ``<worker>.log`` next to a journal file, in the working folder for a
    database URL), once the other workers are stopped and no trial is left running."""
    if (isinstance(workers, str) or not workers or len(set(workers)) != len(workers)
            or not all(isinstance(name, str) and name for name in workers)):
        raise ValueError(f"workers={workers!r} is not valid: name each worker once, e.g. ['A', 'B'].")
    settings = {"num_epochs": whole_number("num_epochs", num_epochs),
                "train_size": whole_number("train_size", train_size),
                "val_size": whole_number("val_size", val_size)}
    whole_number("trials", trials)
    where = open_storage(storage)
    with quiet_optuna():
        shared = optuna.create_study(study_name=study, storage=where, direction="maximize",
                                     load_if_exists=True)
    found = f"Study {study!r} in {storage}"
    if shared.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        ways = " and ".join(d.name.lower() for d in shared.directions)
        raise ValueError(f"{found} {ways}s its objective: these workers maximize the validation "
                         f"accuracy. Give another study name, or another storage.")
    made_with = shared.user_attrs.get("run_workers")
    if made_with is None and shared.trials:
        raise ValueError(f"{found} holds {len(shared.trials)} trial(s) made without run_workers, with "
                         f"settings it cannot check. Give another study name, or another storage.")
    if made_with is None:
        shared.set_user_attr("run_workers", settings)
    elif made_with != settings:
        def words(given: dict) -> str:
            return ", ".join(f"{key}={value}" for key, value in given.items())
        raise ValueError(f"{found} was made with {words(made_with)}; these workers have "
                         f"{words(settings)}: their trials would not compare. Give another study "
                         f"name, or the same settings.")
    logs = Path(storage).parent if "://" not in str(storage) else Path.cwd()
    started, procs = time.perf_counter(), {}
    failed, stopped = None, []
    try:
        for name in workers:
            with open(logs / f"{name}.log", "w") as out:  # the child keeps its own handle
                procs[name] = subprocess.Popen(worker_command(storage, study, trials, name, num_epochs,
                                                              train_size, val_size, root),
                                               stdout=out, stderr=subprocess.STDOUT)
        while failed is None and any(proc.poll() is None for proc in procs.values()):
            time.sleep(0.2)
            failed = next((name for name, proc in procs.items() if proc.poll()), None)
        failed = failed or next((name for name, proc in procs.items() if proc.returncode), None)
    finally:  # a failed worker or an interrupted wait leaves no worker running, no trial RUNNING
        stopped = [name for name, proc in procs.items() if proc.poll() is None]
        for name in stopped:
            procs[name].terminate()  # the worker marks its trial failed and ends
        for name in stopped:
            try:
                procs[name].wait(timeout=60)
            except subprocess.TimeoutExpired:
                procs[name].kill()
                procs[name].wait()
        left = [t for t in shared.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                if t.user_attrs.get("worker") in procs]
        if left:  # trials of workers that died (killed) without a word to the study
            backend = optuna.storages.get_storage(where)
            study_id = backend.get_study_id_from_name(study)
            for t in left:
                backend.set_trial_state_values(
                    backend.get_trial_id_from_study_id_trial_number(study_id, t.number),
                    optuna.trial.TrialState.FAIL)
    if failed is not None:
        code = procs[failed].returncode
        how = f"{code}: killed by {signal.Signals(-code).name}" if code < 0 else str(code)
        tail = (logs / f"{failed}.log").read_text()[-3000:].rstrip() or "(nothing: it failed before writing a line)"
        also = (f"\nStopped worker {', '.join(stopped)} (its trial in progress marked failed)." if stopped else "")
        also += (f"\nTrial(s) {', '.join(str(t.number) for t in left)} left running by the dead worker "
                 f"are marked failed." if left else "")
        raise RuntimeError(f"Worker {failed} failed (exit code {how}); the end of its output "
                           f"({logs / f'{failed}.log'}):\n{tail}{also}")
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lenet_utils.search``: one worker of a shared study (see :func:`work`)."""
    parser = argparse.ArgumentParser(prog="python -m lenet_utils.search",
                                     description="Run trials of a shared Optuna study of LeNet "
                                                 "settings (chapter 5) as one worker.")
    parser.add_argument("--storage", required=True,
                        help="a journal file path, or a database URL such as "
                             "postgresql://user@host/db")
    parser.add_argument("--study", required=True,
                        help="the study's name (the same on every worker)")
    parser.add_argument("--trials", type=int, required=True, help="trials this worker runs")
    parser.add_argument("--worker", required=True, help="this worker's name, kept with its trials")
    parser.add_argument("--epochs", type=int, default=5,
                        help="epochs of a run the pruner lets finish")
    parser.add_argument("--train-size", type=int, default=5000, help="training images")
    parser.add_argument("--val-size", type=int, default=1000, help="validation images")
    parser.add_argument("--root", default=None, help="the data folder (default: the usual search)")
    parser.add_argument("--seed", type=int, default=0, help="the training seed of every run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this worker")
    args = parser.parse_args(argv)

    def stopped(signum, frame):  # run_workers stops a worker with SIGTERM: Optuna fails its trial
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stopped)
    ran = work(args.storage, args.study, whole_number("trials", args.trials), args.worker,
               whole_number("epochs", args.epochs), whole_number("train-size", args.train_size),
               whole_number("val-size", args.val_size), args.root, args.seed,
               whole_number("threads", args.threads))
    print(f"worker {args.worker}: ran {ran} trial(s) of study {args.study!r}")


if __name__ == "__main__":
    main()
