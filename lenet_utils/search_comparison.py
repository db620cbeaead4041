"""Notebook 11's four searches measured against each other: the grid, random search, successive
halving and Optuna, repeated over seeds on the same validation split and counted in training
examples and seconds, with the table, the paired differences (95% intervals) and the final pick.

>>> comparison = compare_searches(data, grid, num_epochs=5, num_halving=15, rungs=[1, 3, 5], seeds=[0, 1, 2])
>>> print(comparison)
"""

import contextlib
import json
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import optuna

from .checks import learning_rate_range
from .search import SEARCH_SPACE, Run, grid_search, optuna_search, random_search, successive_halving
from .splits import Split
from .stats import t_interval, verdict
from .tables import format_table
from .train import evaluate

__all__ = ["METHODS", "quiet_optuna", "study_log", "SearchComparison", "compare_searches"]

#: The four methods compared, in the order of the table.
METHODS = ("grid", "random", "halving", "optuna")


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

    ``print(comparison)`` shows the table; :meth:`differences` says what it shows (paired 95%
    intervals); :meth:`curves` gives best-so-far against examples trained.
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
        the best validation accuracy found and of the examples trained, the mean seconds, and the
        microseconds per example trained."""
        grid_examples = statistics.fmean(self.examples("grid"))
        rows = []
        for method in METHODS:
            best, examples = self.best(method), self.examples(method)
            rows.append({"method": method, "repeats": len(best),
                         "best val acc": statistics.fmean(best), "spread": max(best) - min(best),
                         "examples": round(statistics.fmean(examples)),
                         "examples spread": max(examples) - min(examples),
                         "% of grid": f"{statistics.fmean(examples) / grid_examples:.0%}",
                         "seconds": statistics.fmean(self.seconds[method]),
                         "µs/example": 1e6 * sum(self.seconds[method]) / max(1, sum(examples))})
        return rows

    def __str__(self) -> str:
        columns = ["method", "repeats", "best val acc", "spread", "examples", "examples spread",
                   "% of grid", "seconds", "µs/example"]
        return format_table(columns, self.table(), align="lrrrrrrrr")

    def differences(self) -> str:
        """Each method's best validation accuracy minus the grid's, paired by seed, with a 95%
        t-interval and its verdict: 'likely' when the interval excludes zero, else 'not shown'."""
        grid = self.best("grid")
        lines = []
        for method in METHODS[1:]:
            diffs = [m - g for m, g in zip(self.best(method), grid)]
            line = f"{method} - grid: {statistics.fmean(diffs):+.4f}"
            interval = t_interval(diffs)
            if interval is None:
                lines.append(line + " (one repeat: no interval): not shown")
                continue
            low, high = interval
            said = verdict(low, high)
            if said == "likely":
                said += " higher than the grid" if low > 0 else " lower than the grid"
            lines.append(f"{line} (95% interval {low:+.4f} to {high:+.4f} over {len(diffs)} "
                         f"paired repeats): {said}")
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
