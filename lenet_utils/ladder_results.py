"""What the ladder measured: a ``LadderRun`` per rung, data set and seed, gathered in a
``LadderResult`` that saves and loads itself, tabulates mean and spread over the seeds, and gives
each gap between neighbouring rungs a 95% interval paired by seed: the gap is 'likely' only when
the interval excludes zero (:mod:`~lenet_utils.stats`).

Spread, the one definition used everywhere here: the largest minus the smallest final test accuracy
over the seeds of one rung on one data set.

>>> [g for g in LadderResult.load(folder).gaps() if g["verdict"] == "likely"]  # doctest: +SKIP
"""

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .history import History
from .rungs import Rung
from .stats import t_interval, verdict
from .train import predict

__all__ = ["TARGETS", "TITLES", "epochs_to_target", "LadderRun", "LadderResult"]

#: Test accuracy a rung must reach for "epochs to target", per data set.
TARGETS = {"mnist": 0.98, "fashion-mnist": 0.85}

#: Plain names for the data sets in tables and plots.
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def epochs_to_target(test_acc: Sequence[float], target: float) -> int | None:
    """The first epoch (1-based) whose test accuracy reaches ``target``, or None."""
    return next((epoch for epoch, acc in enumerate(test_acc, start=1) if acc >= target), None)


@dataclass
class LadderRun:
    """One rung trained once on one data set with one seed."""

    rung: Rung
    dataset: str
    seed: int
    history: History
    target: float

    @property
    def final_test_acc(self) -> float:
        """The last epoch's test accuracy; NaN when the run diverged before completing one."""
        return self.history.final_test_acc

    @property
    def seconds(self) -> float:
        """Training and evaluation time of the run."""
        return float(sum(self.history.seconds))

    @property
    def epochs_to_target(self) -> int | None:
        return epochs_to_target(self.history.test_acc, self.target)


def _fmean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


@dataclass
class LadderResult:
    """Every run of the ladder, the first seed's test-set predictions of each rung (for the
    galleries of mistakes) and the settings used. Saved as JSON, a few hundred kB: no weights."""

    runs: list[LadderRun] = field(default_factory=list)
    #: (rung, data set) -> the first seed's predicted label for every test image, in test-set order
    predictions: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every run ran its course (none interrupted, stopped or failed): only such a
        ladder is stored."""
        return all(run.history.complete for run in self.runs)

    def add(self, run: LadderRun, net: nn.Module, test_iter: "Iterable | None" = None) -> None:
        """Record a run; for the first seed of each rung and data set, also ``net``'s predictions on
        ``test_iter`` (in order, so they line up with its labels)."""
        self.runs.append(run)
        key = (run.rung.name, run.dataset)
        if test_iter is not None and key not in self.predictions:
            self.predictions[key] = predict(net, test_iter)[2]

    def save(self, folder: Path) -> None:
        """Write the runs and settings (``runs.json``) and the kept predictions (``predictions.json``,
        one string of digits per rung and data set)."""
        runs = [{"rung": asdict(r.rung), "dataset": r.dataset, "seed": r.seed, "target": r.target,
                 "history": r.history.to_dict()} for r in self.runs]
        (folder / "runs.json").write_text(json.dumps({"settings": self.settings, "runs": runs}, default=str))
        predictions = {f"{name}|{dataset}": "".join(map(str, labels.tolist()))
                       for (name, dataset), labels in self.predictions.items()}
        (folder / "predictions.json").write_text(json.dumps(predictions, indent=0))

    @classmethod
    def load(cls, folder: Path) -> "LadderResult":
        """The result :meth:`save` wrote."""
        saved = json.loads((folder / "runs.json").read_text())
        result = cls(settings=saved["settings"])
        for r in saved["runs"]:
            result.runs.append(LadderRun(Rung(**r["rung"]), r["dataset"], r["seed"],
                                         History.from_dict(r["history"]), r["target"]))
        for key, digits in json.loads((folder / "predictions.json").read_text()).items():
            name, dataset = key.split("|")
            result.predictions[(name, dataset)] = torch.tensor([int(d) for d in digits])
        return result

    def table(self) -> list[dict]:
        """One row per (rung, data set): mean, spread (max - min), min and max of the final test
        accuracy over the seeds that completed an epoch, how many diverged, epochs to reach the
        target (mean over the seeds that reached it) and seconds per run."""
        rows = []
        groups: dict[tuple[str, str], list[LadderRun]] = {}
        for run in self.runs:
            groups.setdefault((run.rung.name, run.dataset), []).append(run)
        for (name, dataset), runs in groups.items():
            accs = [r.final_test_acc for r in runs if math.isfinite(r.final_test_acc)]
            reached = [r.epochs_to_target for r in runs if r.epochs_to_target is not None]
            rows.append({
                "rung": name, "change": runs[0].rung.change, "dataset": dataset,
                "seeds": len(runs), "diverged": sum(r.history.status == "diverged" for r in runs),
                "test_acc_mean": _fmean(accs),
                "spread": max(accs) - min(accs) if accs else math.nan,
                "test_acc_min": min(accs, default=math.nan), "test_acc_max": max(accs, default=math.nan),
                "target": runs[0].target,
                "epochs_to_target": _fmean(reached) if reached else None,
                "reached": len(reached), "seconds": _fmean([r.seconds for r in runs]),
            })
        return rows

    def gaps(self) -> list[dict]:
        """For each rung and data set, what its one change did to the final test accuracy, paired
        by seed: ``gap`` (the mean over the seeds both rungs finished of rung minus rung below),
        ``low`` and ``high`` (its 95% t-interval; None with fewer than two such seeds), ``seeds``
        (how many) and ``verdict``: 'likely' when the interval excludes zero, else 'not shown'.

        ``[g for g in result.gaps() if g["verdict"] == "likely"]`` lists the changes that paid.
        """
        final = {(r.rung.name, r.dataset, r.seed): r.final_test_acc for r in self.runs}
        names = list(dict.fromkeys(r.rung.name for r in self.runs))
        datasets = list(dict.fromkeys(r.dataset for r in self.runs))
        seeds = list(dict.fromkeys(r.seed for r in self.runs))
        out = []
        for below, above in zip(names, names[1:]):
            for dataset in datasets:
                pairs = [(final[(above, dataset, s)], final[(below, dataset, s)]) for s in seeds
                         if (above, dataset, s) in final and (below, dataset, s) in final]
                diffs = [a - b for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
                if not diffs:
                    continue
                low, high = t_interval(diffs) or (None, None)
                out.append({"rung": above, "dataset": dataset, "gap": _fmean(diffs), "low": low,
                            "high": high, "seeds": len(diffs), "verdict": verdict(low, high)})
        return out

    def to_markdown(self) -> str:
        """The table as Markdown, one row per rung, data sets side by side."""
        rows = self.table()
        datasets = list(dict.fromkeys(r["dataset"] for r in rows))
        by_key = {(r["rung"], r["dataset"]): r for r in rows}
        targets = {r["dataset"]: r["target"] for r in rows}
        head = "| rung | change |" + "".join(
            f" {TITLES.get(d, d)} test acc (spread) | epochs to {targets[d]:.0%} | s/run |" for d in datasets)
        lines = [head, "|" + "---|" * (2 + 3 * len(datasets))]
        for name in dict.fromkeys(r["rung"] for r in rows):
            first = next(r for r in rows if r["rung"] == name)
            cells = [name, first["change"]]
            for d in datasets:
                r = by_key.get((name, d))
                if r is None:
                    cells += ["", "", ""]
                    continue
                cells += [_format_accuracy(r), _format_epochs(r), f"{r['seconds']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        seeds = max(r["seeds"] for r in rows)
        lines.append("")
        lines.append(f"Test accuracy after the last epoch: mean over {seeds} seed(s), and in brackets "
                     f"the spread (best minus worst seed). Epochs to target: mean over the seeds that "
                     f"reached it (— none did; k/n when only k of n did).")
        return "\n".join(lines)


def _format_accuracy(row: dict) -> str:
    if not math.isfinite(row["test_acc_mean"]):
        return f"diverged ({row['diverged']}/{row['seeds']})"
    text = f"{row['test_acc_mean']:.2%} ({row['spread'] * 100:.2f})"
    return text if not row["diverged"] else f"{text}, {row['diverged']}/{row['seeds']} diverged"


def _format_epochs(row: dict) -> str:
    if row["epochs_to_target"] is None:
        return "—"
    text = f"{row['epochs_to_target']:.1f}".rstrip("0").rstrip(".")
    return text if row["reached"] == row["seeds"] else f"{text} ({row['reached']}/{row['seeds']})"
