"""What a training run measured: a :class:`Point` at each checkpoint and a :class:`History` per run."""

import math
from dataclasses import asdict, dataclass, field

__all__ = ["Point", "History", "STATUSES", "FINISHED"]

#: How a run can end ('running' while it trains).
STATUSES = ("running", "completed", "diverged", "interrupted", "stopped", "failed")

#: The endings of a run that ran its course: a result to keep (one that diverged is a finding too);
#: 'interrupted', 'stopped' and 'failed' runs were cut short and are never stored.
FINISHED = ("completed", "diverged")


@dataclass
class Point:
    """One checkpoint of a run: the training metrics since the start of the epoch.

    ``epoch`` is fractional (1.5 = half-way through the second epoch); ``examples`` counts the
    training examples seen since the start of the run; ``test_acc`` is filled in by whoever
    evaluates at that point (None otherwise).
    """

    epoch: float
    examples: int
    train_loss: float
    train_acc: float
    test_acc: float | None = None


@dataclass
class History:
    """What one ``train_ch6`` run measured, one entry per completed epoch, plus its checkpoints.

    ``status`` says how it ended: 'completed', 'diverged' (the loss became NaN/inf or exploded),
    'interrupted' (Ctrl-C / interrupt kernel), 'stopped' (its hook asked) or
    'failed' (an error ended it: ``train_ch6`` raises it again with this History as
    ``err.history``); ``message`` explains. A run that ended inside its first epoch has no epochs but may have points.
    """

    label: str = ""
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # per epoch: training + evaluation
    lr: list[float] = field(default_factory=list)  # learning rate at the end of each epoch
    points: list[Point] = field(default_factory=list)
    status: str = "running"
    message: str = ""
    examples_per_sec: float = math.nan  # training examples per second of training time
    device: str = ""

    @property
    def complete(self) -> bool:
        """True when the run ran its course (its status is in :data:`FINISHED`)."""
        return self.status in FINISHED

    @property
    def num_epochs(self) -> int:
        """Completed epochs."""
        return len(self.train_loss)

    @property
    def final_test_acc(self) -> float:
        """The last epoch's test accuracy, NaN when no epoch completed."""
        return self.test_acc[-1] if self.test_acc else math.nan

    def add_epoch(self, train_loss: float, train_acc: float, test_acc: float, seconds: float,
                  lr: float) -> None:
        """Record one completed epoch."""
        self.train_loss.append(train_loss)
        self.train_acc.append(train_acc)
        self.test_acc.append(test_acc)
        self.seconds.append(seconds)
        self.lr.append(lr)

    def to_dict(self) -> dict:
        """Plain data (lists, numbers, strings) for JSON; :meth:`from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        """The History that :meth:`to_dict` wrote."""
        return cls(**{**data, "points": [Point(**p) for p in data.get("points", [])]})

    def to_rows(self) -> list[dict]:
        """One dict per epoch, ready for a table (e.g. ``pandas.DataFrame(h.to_rows())``)."""
        return [{"run": self.label, "epoch": i + 1, "train loss": self.train_loss[i],
                 "train acc": self.train_acc[i], "test acc": self.test_acc[i],
                 "seconds": self.seconds[i], "lr": self.lr[i]} for i in range(self.num_epochs)]

    def summary(self) -> str:
        """One line: the last epoch's figures, speed and how the run ended."""
        if not self.num_epochs:
            return f"{self.label or 'run'}: no completed epoch ({self.status})"
        return (f"{self.label or 'run'}: {self.num_epochs} epochs, loss {self.train_loss[-1]:.3f}, "
                f"train acc {self.train_acc[-1]:.3f}, test acc {self.test_acc[-1]:.3f}, "
                f"{self.examples_per_sec:,.0f} examples/sec on {self.device} ({self.status})")
