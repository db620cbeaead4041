"""What a sweep measured: a row per run (``sweep_row``: its settings, final and best metrics,
seconds and how it ended), gathered in a ``SweepResult`` that prints as a table, ranks its runs,
keeps each run's :class:`~lenet_utils.history.History`, and saves to CSV (``save_csv``,
``load_csv``).

>>> print(SweepResult.load(folder))  # doctest: +SKIP
"""

import csv
import json
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

from .history import FINISHED, History
from .sweep_grids import AXES, varied_axes
from .tables import format_table

__all__ = ["METRICS", "COLUMNS", "sweep_row", "SweepResult", "save_csv", "load_csv"]

#: What a run measured, as columns of the table. ``best_test_acc`` is the best epoch's.
METRICS = {"epochs_run": int, "train_loss": float, "train_acc": float, "test_acc": float,
           "best_test_acc": float, "seconds": float, "examples_per_sec": float, "status": str}

_TYPES = {"run": int, "lr": float, "batch_size": int, "num_epochs": int, "activation": str,
          "pool": str, "optimizer": str, "seed": int, **METRICS}

#: The table's columns, in order: run number, settings, metrics.
COLUMNS = tuple(_TYPES)

NO_HISTORIES = "This table has no histories (it was loaded from CSV): run the sweep again."
END_LINE = "# end of table: "  # save_csv's last line, then "N runs"


def _last(values: Sequence[float]) -> float:
    return float(values[-1]) if values else math.nan


def sweep_row(run: int, settings: dict, history: History) -> dict:
    """One row of the table: the run number, its settings and what its History measured. A run
    that diverged before completing an epoch gets NaN metrics, not an error."""
    return {"run": run, **settings, "epochs_run": history.num_epochs,
            "train_loss": _last(history.train_loss), "train_acc": _last(history.train_acc),
            "test_acc": history.final_test_acc,
            "best_test_acc": max(history.test_acc, default=math.nan),
            "seconds": float(sum(history.seconds)),
            "examples_per_sec": float(history.examples_per_sec), "status": history.status}


class SweepResult:
    """The outcome of :func:`run_sweep`: ``rows`` (one dict per run, keys :data:`COLUMNS`),
    ``histories`` (one per run, same order) and ``varied`` (the axes with more than one value).

    ``print(result)`` shows the table; ``result.to_csv(path)`` saves it.
    """

    def __init__(self, rows: Sequence[dict], histories: Sequence[History] | None = None) -> None:
        self.rows = list(rows)
        self.histories = list(histories) if histories is not None else []
        self.varied = varied_axes(self.rows) if self.rows else []

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def complete(self) -> bool:
        """True when every run ran its course (none interrupted, stopped or failed): only such a
        sweep is stored."""
        return all(row["status"] in FINISHED for row in self.rows)

    def __str__(self) -> str:
        """The table: run number, the varied settings, and the metrics."""
        if not self.rows:
            return "(no runs)"
        columns = ["run", *(self.varied or ["lr"]), "epochs_run", "train_loss", "train_acc",
                   "test_acc", "best_test_acc", "seconds", "status"]
        return format_table(columns, self.rows, align="r" * len(columns))

    def __repr__(self) -> str:
        return f"SweepResult({len(self.rows)} runs varying {', '.join(self.varied) or 'nothing'})"

    def to_csv(self, path: "str | Path") -> Path:
        """Save the table (not the per-epoch histories) as CSV; reload it with :func:`load_csv`."""
        return save_csv(self.rows, path)

    def save(self, folder: Path) -> None:
        """Write the table (``sweep.csv``) and the per-epoch histories (``histories.json``)."""
        self.to_csv(folder / "sweep.csv")
        (folder / "histories.json").write_text(json.dumps([h.to_dict() for h in self.histories]))

    @classmethod
    def load(cls, folder: Path) -> "SweepResult":
        """The sweep :meth:`save` wrote, histories included."""
        histories = json.loads((folder / "histories.json").read_text())
        return cls(load_csv(folder / "sweep.csv"), [History.from_dict(h) for h in histories])

    def _ranked(self, by: str) -> list[int]:
        if not self.rows:
            raise ValueError("This sweep has no runs.")
        if by not in _TYPES or _TYPES[by] is not float:
            raise ValueError(f"Rank by a numeric column such as 'test_acc', got {by!r}.")

        def key(i):  # a NaN (no completed epoch) ranks last
            v = self.rows[i][by]
            return v if math.isfinite(v) else -math.inf

        return sorted(range(len(self.rows)), key=key)

    def best(self, by: str = "test_acc") -> dict:
        """The row with the highest ``by``."""
        return self.rows[self._ranked(by)[-1]]

    def worst(self, by: str = "test_acc") -> dict:
        """The row with the lowest ``by`` (a run with no completed epoch counts as lowest)."""
        return self.rows[self._ranked(by)[0]]

    def history(self, row: "dict | int") -> History:
        """The History of a row (a dict from ``rows`` or its run number, counted from 1)."""
        run = row["run"] if isinstance(row, dict) else row
        if not self.histories:
            raise ValueError(NO_HISTORIES)
        if isinstance(run, bool) or not isinstance(run, numbers.Integral) or not 1 <= run <= len(self.histories):
            raise ValueError(f"There is no run {run!r}: runs are numbered 1 to {len(self.histories)}, as "
                             f"in the table's 'run' column; pass one of them or a row of result.rows.")
        return self.histories[run - 1]

    def epoch_rows(self) -> list[dict]:
        """One row per run and epoch: the settings, ``epoch`` and that epoch's metrics."""
        out = []
        for row, h in zip(self.rows, self.histories):
            for e in range(h.num_epochs):
                out.append({**{a: row[a] for a in ("run", *AXES)}, "epoch": e + 1,
                            "train_loss": h.train_loss[e], "train_acc": h.train_acc[e],
                            "test_acc": h.test_acc[e]})
        return out


def save_csv(rows: Sequence[dict], path: "str | Path") -> Path:
    """Write sweep rows to ``path`` as CSV (columns :data:`COLUMNS`), then a last line
    ``# end of table: N runs`` by which :func:`load_csv` tells a whole file from a cut one (pandas:
    ``read_csv(path, comment="#")``); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            missing = set(COLUMNS) - set(row)
            if missing:
                raise ValueError(f"A sweep row lacks the column(s) {', '.join(sorted(missing))}.")
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
        f.write(f"{END_LINE}{len(rows)} runs\r\n")
    return path


def load_csv(path: "str | Path") -> list[dict]:
    """Read rows written by :func:`save_csv`, with numbers as numbers again; a ValueError for a
    file cut short (no end line, or fewer rows than it counts) or a value that is no number."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} is not a sweep table: it lacks the column(s) "
                             f"{', '.join(sorted(missing))}.")
        lines = list(reader)
    end = lines.pop()[reader.fieldnames[0]] if lines else ""
    if not end.startswith(END_LINE) or not end.endswith(" runs") or not end[len(END_LINE):-5].isdigit():
        raise ValueError(f"{path} is cut short: it lacks the line '{END_LINE}N runs' that save_csv writes "
                         f"last (a copy or a save that did not finish). Run the sweep and save it again.")
    if len(lines) != int(end[len(END_LINE):-5]):
        raise ValueError(f"{path} holds {len(lines)} runs where its last line says {end[len(END_LINE):-5]}: "
                         f"rows were taken out. Save it again from the sweep.")
    rows = []
    for line in lines:
        row = {}
        for k in COLUMNS:
            try:
                row[k] = _TYPES[k](line[k])
            except (TypeError, ValueError):
                raise ValueError(f"{path}, run {line['run']}: {k}={line[k]!r} is not a "
                                 f"{_TYPES[k].__name__}; save the table again from the sweep.") from None
        rows.append(row)
    return rows


