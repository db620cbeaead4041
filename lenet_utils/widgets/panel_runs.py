"""The runs of the slider panel (:mod:`lenet_utils.widgets.panel`): what each run was
(:class:`PanelRun`) and the picture of the last few (:func:`draw_runs`): training loss and
held-out test accuracy against the training examples seen, the newest run bold and the earlier ones
faded, each labelled with the settings that tell the runs apart. While a run trains,
:class:`LivePicture` redraws only its two lines over the rest (blitting), and :class:`LiveDrawing`
does so in a thread of its own. Plain matplotlib (no pyplot)."""

import html
import io
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from PIL import Image

from ..history import History
from ..tables import format_table

__all__ = ["CHOICES", "HELD_OUT", "PanelRun", "LivePicture", "LiveDrawing", "draw_runs", "runs_table_html",
           "runs_text"]

#: Every dropdown of the panel: setting name -> {label shown: value passed on}.
CHOICES = {
    "activation": {"sigmoid": "sigmoid", "tanh": "tanh", "ReLU": "relu"},
    "optimizer": {"SGD": "sgd", "Adam": "adam"},
    "init": {"Xavier (d2l)": "xavier", "PyTorch default": "pytorch"},
    "pool": {"average": "avg", "max": "max"},
    "batch_size": {str(b): b for b in (16, 32, 64, 128, 256)},
    "examples": {f"{n:,}": n for n in (2_500, 5_000, 10_000, 20_000, 60_000)},
}
HELD_OUT = 500  # fixed, class-balanced test images scored at every checkpoint
SETTING_KEYS = ("activation", "optimizer", "lr", "init", "pool", "batch_size", "examples")
LOSS_TOP = 3.0  # the loss axis stops here; larger losses are drawn on the edge
CHANCE_LOSS = math.log(10)
DPI = 90  # the picture is 990 x 324 pixels


@dataclass
class PanelRun:
    """One finished run: its number, settings, History, wall-clock seconds and, for a run that
    diverged, how many examples it had seen when it did."""

    number: int
    settings: dict
    history: History
    seconds: float = math.nan
    diverged_at: int | None = None
    held_out: int = HELD_OUT

    @property
    def test_acc(self) -> float:
        """Test accuracy at the last checkpoint; NaN if the run ended before its first one or
        diverged (its weights are then useless, whatever an earlier checkpoint scored)."""
        if self.history.status == "diverged":
            return math.nan
        scored = [p.test_acc for p in self.history.points if p.test_acc is not None]
        return scored[-1] if scored else math.nan

    @property
    def examples(self) -> int:
        """Training examples seen by the last checkpoint."""
        return self.history.points[-1].examples if self.history.points else 0

    def describe(self, keys: "list[str] | None" = None) -> str:
        """The settings in words (only ``keys`` when given)."""
        s, words = self.settings, []
        for key in keys or ("activation", "optimizer", "lr", "init", "pool", "batch_size", "examples"):
            if key == "lr":
                words.append(f"lr {s['lr']:.2g}")
            elif key in ("batch_size", "examples"):
                words.append(f"{'batch' if key == 'batch_size' else 'examples'} {s[key]:,}")
            else:
                label = next(k for k, v in CHOICES[key].items() if v == s[key])
                words.append(label + {"init": " init", "pool": " pool"}.get(key, ""))
        return ", ".join(words)

    def result(self) -> str:
        """The finished run in one line (the panel's result line)."""
        head = f"Run {self.number} ({self.describe()}): "
        if self.history.status == "diverged":
            return head + (f"diverged after about {self.diverged_at or 0:,} examples (the loss blew up "
                           f"to NaN/inf), test acc n/a: the learning rate is too large")
        return head + (f"test acc {self.test_acc:.3f} on {self.held_out:,} held-out images after "
                       f"{self.examples:,} examples, train loss {self.history.points[-1].train_loss:.3f}, "
                       f"{self.seconds:.1f} s")

    def row(self) -> dict:
        """The run as a row of the runs table."""
        return {"run": self.number, "settings": self.describe(),
                "test acc": "n/a" if math.isnan(self.test_acc) else f"{self.test_acc:.3f}",
                "status": self.history.status, "seconds": f"{self.seconds:.1f}"}


def interval_losses(run: PanelRun) -> list[tuple[int, float]]:
    """``(examples seen, mean training loss since the previous checkpoint)`` for each checkpoint.

    A panel run is one pass over its examples, and a checkpoint's ``train_loss`` is the mean since
    the start of that pass; the difference between two checkpoints gives the loss over the batches
    in between, which follows training closely instead of lagging behind it.
    """
    out, seen_before, sum_before = [], 0, 0.0
    for p in run.history.points:
        total = p.train_loss * p.examples
        out.append((p.examples, (total - sum_before) / (p.examples - seen_before)))
        seen_before, sum_before = p.examples, total
    return out


def run_label(run: PanelRun, keys: list[str]) -> str:
    """``run N: <settings that differ between the runs drawn>`` (+ "diverged")."""
    text = f"run {run.number}: {run.describe(keys)}"
    return text + (" (diverged)" if run.history.status == "diverged" else "")


def _curves(run: PanelRun) -> tuple[tuple[list, list], tuple[list, list]]:
    """The run's loss curve (clipped to the axis) and its test-accuracy curve, as (xs, ys) pairs."""
    losses = interval_losses(run)
    loss = ([x for x, _ in losses], [min(v, LOSS_TOP) if math.isfinite(v) else LOSS_TOP for _, v in losses])
    scored = [(p.examples, p.test_acc) for p in run.history.points if p.test_acc is not None]
    return loss, ([x for x, _ in scored], [a for _, a in scored])


def _runs_figure(earlier: list[PanelRun], current: PanelRun | None,
                 right: int | None = None) -> tuple[Figure, list[Line2D]]:
    """The figure of :func:`draw_runs` and the current run's two lines (loss, accuracy); ``right``
    fixes the x-axis (training examples) instead of fitting it to the runs."""
    runs = [*earlier, *([current] if current is not None else [])]
    varying = [k for k in SETTING_KEYS if len({str(r.settings[k]) for r in runs}) > 1]
    keys = varying or ["activation", "optimizer", "lr"]
    fig = Figure(figsize=(11, 3.6), dpi=DPI)
    ax_loss, ax_acc = fig.subplots(1, 2)
    fitted, current_lines = 0, []
    for run in runs:
        bold = run is current
        style = {"color": f"C{run.number % 10}", "alpha": 1.0 if bold else 0.4,
                 "lw": 2.4 if bold else 1.4}
        label = run_label(run, keys)
        loss, acc = _curves(run)
        fitted = max([fitted, *loss[0], run.diverged_at or 0])
        lines = [ax_loss.plot(*loss, marker="o", ms=3, label=label, **style)[0],
                 ax_acc.plot(*acc, marker="o", ms=3, label=label, **style)[0]]
        if bold:
            current_lines = lines
        if run.history.status == "diverged":
            x = run.diverged_at or (loss[0][-1] if loss[0] else 0)
            ax_loss.plot([x], [LOSS_TOP * 0.97], marker="X", ms=11, ls="", color=style["color"])
            ax_loss.annotate("diverged", (x, LOSS_TOP * 0.97), textcoords="offset points", xytext=(6, -4),
                             color=style["color"], fontsize=9, va="top")
    ax_loss.axhline(CHANCE_LOSS, color="grey", ls=":", lw=1)
    ax_loss.text(0, CHANCE_LOSS, " guessing (ln 10)", color="grey", fontsize=8, va="bottom")
    ax_acc.axhline(0.1, color="grey", ls=":", lw=1)
    ax_acc.text(0, 0.1, " guessing (0.1)", color="grey", fontsize=8, va="bottom")
    ax_loss.set(ylabel="training loss", ylim=(0, LOSS_TOP),
                title="training loss over the last few batches")
    ax_acc.set(ylabel="test accuracy", ylim=(0, 1), title="test accuracy on the held-out images")
    thousands = FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("training examples seen")
        ax.set_xlim(0, max(right or fitted, 1000) * 1.02)
        ax.xaxis.set_major_formatter(thousands)
        ax.grid(True, alpha=0.3)
        ax.title.set_fontsize(10)
    if runs:
        ax_acc.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False,
                      title="newest last" if len(runs) > 1 else None, title_fontsize=8)
    else:
        ax_loss.text(0.5, 0.5, "no run yet: move a control", transform=ax_loss.transAxes, ha="center")
    fig.subplots_adjust(left=0.06, right=0.74, bottom=0.15, top=0.9, wspace=0.22)
    return fig, current_lines


def draw_runs(earlier: list[PanelRun], current: PanelRun | None) -> bytes:
    """PNG of the loss (left) and the test accuracy (right) of ``earlier`` runs (faded) and the
    ``current`` one (bold; it may still be training)."""
    fig, _ = _runs_figure(earlier, current)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


class LivePicture:
    """:func:`draw_runs` for a run in progress, cheap enough to redraw several times a second.

    The first :meth:`png` draws everything but the current run's two lines (axes, labels, legend,
    the earlier runs) once, with the x-axis fixed to ``budget`` examples; every call then puts back
    that background and draws only the two lines on it, as they are now.
    """

    def __init__(self, earlier: list[PanelRun], current: PanelRun, budget: int):
        self.earlier, self.current, self.budget = earlier, current, budget
        self._canvas = self._background = None
        self._lines: list[Line2D] = []

    def png(self) -> bytes:
        """The picture as it is now, as PNG bytes."""
        if self._canvas is None:
            fig, self._lines = _runs_figure(self.earlier, self.current, right=self.budget)
            for line in self._lines:
                line.set_data([], [])
            self._canvas = FigureCanvasAgg(fig)
            self._canvas.draw()
            self._background = self._canvas.copy_from_bbox(fig.bbox)
        self._canvas.restore_region(self._background)
        for line, (xs, ys) in zip(self._lines, _curves(self.current)):
            line.set_data(xs, ys)
            line.axes.draw_artist(line)
        image = Image.frombuffer("RGBA", self._canvas.get_width_height(), self._canvas.buffer_rgba(),
                                 "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def runs_table_html(runs: list[PanelRun]) -> str:
    """An HTML table of ``runs``, newest first ("" for none)."""
    rows = [run.row() for run in reversed(runs)]
    if not rows:
        return ""
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{h}</th>" for h in rows[0])
    body = "".join("<tr>" + "".join(f"<td style='padding:0 8px'>{html.escape(str(v))}</td>"
                                    for v in row.values()) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def runs_text(runs: list[PanelRun]) -> str:
    """``runs`` as a text table, oldest first (the panel's plain-text output)."""
    rows = [run.row() for run in runs]
    if not rows:
        return "TrainingPanel: no run yet."
    return "TrainingPanel, last runs:\n" + format_table(list(rows[0]), rows)


class LiveDrawing:
    """Redraws a picture in a thread of its own while a run trains, at most every ``every`` seconds.

    ``request()`` (cheap, from the training thread) asks for a fresh picture; the drawing thread
    calls ``draw()`` and hands the PNG to ``show(png)``, coalescing requests that arrive while it
    draws. Training runs on one CPU thread and matplotlib on another, so the curves move without
    slowing the run down much. ``finish()`` stops the thread (without a last picture).
    """

    def __init__(self, draw: Callable[[], bytes], show: Callable[[bytes], None], every: float):
        self.draw, self.show, self.every = draw, show, every
        self._wanted, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="lenet-panel-drawing")
        self._thread.start()

    def request(self) -> None:
        """Ask for a fresh picture (the thread draws it as soon as the last one is old enough)."""
        self._wanted.set()

    def finish(self) -> None:
        """Stop drawing; returns once a picture being drawn has been shown."""
        self._stop.set()
        self._wanted.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            started = time.perf_counter()
            self.show(self.draw())
            self._stop.wait(max(0.0, self.every - (time.perf_counter() - started)))
