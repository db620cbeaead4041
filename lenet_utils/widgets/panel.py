"""A slider panel that retrains LeNet whenever a control moves, with curves that move (ipywidgets).

    panel = TrainingPanel("fashion-mnist")
    panel                       # in Jupyter: the controls, the result line, the curves, the runs

Each run trains a fresh LeNet through :func:`lenet_utils.train.train_ch6` on a budget of training
examples drawn from the full training set, and redraws the curves about four times a second while
it trains: training loss and test accuracy (on a fixed held-out slice of the test set) against the
examples seen. Earlier runs stay on the plot, faded, each labelled with its settings (the last
:data:`RUNS_SHOWN`), with a table of them below and a button that clears them. Training runs in a
worker thread, so the controls stay live: a move cancels the run in progress before its next batch
(``train_ch6``'s ``stop`` hook) and trains the new setting (a burst of moves trains only the last).

From Python: ``panel.lr.value = 0.1`` starts a run, ``panel.wait()`` waits for it (and raises the
error of a run that failed), ``panel.runs`` lists the finished runs (:class:`PanelRun`),
``panel.set(lr=1.0, activation="sigmoid")`` moves several controls with one run.
``background=False`` trains synchronously inside the change. Runs never touch torch's global state:
their random numbers come from generators of their own, their thread count stays their own.

Below the widget the saved output holds a PNG of the runs shown (:class:`SavedPicture`), refreshed
by ``panel.wait()`` (from the waiting cell, so that a notebook run saves it), so the chapter reads
on GitHub too. The run pictures (:func:`draw_runs`: loss and held-out accuracy against the examples
seen, the newest run bold, the earlier ones faded and labelled with the settings that tell them
apart) are plain matplotlib; while a run trains, :class:`LivePicture` redraws only its two lines
over the rest, and :class:`LiveDrawing` does so in a thread of its own.

CSS classes for browser tests: ``lenet-panel``, ``lenet-lr``, ``lenet-activation``, ``lenet-optimizer``,
``lenet-init``, ``lenet-note`` (a value clamped to the slider), ``lenet-result`` ("Training ..." while
a run is in progress, "... test acc ..." when finished), ``lenet-curves`` (the image), ``lenet-runs``
(the table), ``lenet-clear`` (the button).
"""

import html
import io
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import ipywidgets as widgets
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from PIL import Image
from traitlets import validate

from ..data import TensorLoader, balanced_subset, dataset_info, load_data
from ..device import describe
from ..history import History
from ..mode import pick
from ..tables import format_table
from ..train import evaluate, train_ch6
from .private_torch import fresh_lenet, use_threads_here
from .saved_picture import SavedPicture

__all__ = ["TrainingPanel", "PanelRun", "LivePicture", "LiveDrawing", "CHOICES", "DEFAULTS", "HELD_OUT",
           "RUNS_SHOWN", "draw_runs", "interval_losses", "run_label", "runs_table_html", "runs_text"]


# ---------------------------------------------------------------- the settings, the runs, their pictures

#: The starting setting; benchmarks/bench_panel.py times it (target: 3 s, test accuracy >= 0.60).
DEFAULTS = {"lr": 0.1, "activation": "relu", "optimizer": "sgd", "init": "xavier", "pool": "avg",
            "batch_size": 32, "examples": 10_000}
LR_RANGE = (1e-3, 10.0)  # the learning-rate slider's ends
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
RUNS_SHOWN = 5  # runs kept on the plot and in the table
POINTS_PER_RUN = 12  # checkpoints (test accuracy measured, curves redrawn if due) per run
FUSED = {"sgd": partial(torch.optim.SGD, fused=True), "adam": partial(torch.optim.Adam, fused=True)}
SETTING_KEYS = ("activation", "optimizer", "lr", "init", "pool", "batch_size", "examples")
LOSS_TOP = 3.0  # the loss axis stops here; larger losses are drawn on the edge
CHANCE_LOSS = math.log(10)
DPI = 90  # the picture is 990 x 324 pixels


@dataclass
class PanelRun:
    """One finished run: its number, settings, History, wall-clock seconds, for a run that
    diverged how many examples it had seen when it did, and for one that failed its error in words."""

    number: int
    settings: dict
    history: History
    seconds: float = math.nan
    diverged_at: int | None = None
    held_out: int = HELD_OUT
    error: str | None = None

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
            how = "became NaN/inf" if "loss became" in self.history.message else "exploded"
            return head + (f"diverged: train_ch6 stopped it at the checkpoint after {self.diverged_at or 0:,} "
                           f"examples (the loss {how}), test acc n/a: the learning rate is too large")
        if self.history.status == "failed":
            return head + (f"failed after {self.examples:,} examples with {self.error}. Move a control "
                           f"to try again; panel.wait() raises the error")
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
    """``run N: <settings that differ between the runs drawn>`` (+ "diverged" or "failed")."""
    text = f"run {run.number}: {run.describe(keys)}"
    return text + (f" ({run.history.status})" if run.history.status in ("diverged", "failed") else "")


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


# ---------------------------------------------------------------- the panel

@dataclass
class _Job:
    """A run in progress: its settings, its cancel flag and the batches it has started."""

    settings: dict
    cancel: threading.Event = field(default_factory=threading.Event)
    batches: int = 0

    def stop(self) -> bool:
        """``train_ch6``'s stop hook, called before every batch: True once a control moved."""
        self.batches += 1
        return self.cancel.is_set()


class _NotingLogSlider(widgets.FloatLogSlider):
    """A FloatLogSlider that hands every value set on it to ``on_value(asked, given)``, ``given``
    being the value clamped onto the slider's range (the slider keeps it)."""

    on_value: "Callable[[float, float], None] | None" = None

    @validate("value")
    def _validate_value(self, proposal):
        given = super()._validate_value(proposal)
        if self.on_value is not None:
            self.on_value(proposal["value"], given)
        return given


class TrainingPanel(SavedPicture):
    """Controls for learning rate, activation, optimizer, weight init, pooling, batch size and
    examples per run; every move trains a fresh LeNet and redraws the curves of the last runs.

    ``data`` is a data set name (the full training set is loaded once; in quick mode a subset) or
    a ``(train_iter, test_iter)`` pair of TensorLoaders. Keyword arguments named as in
    :data:`DEFAULTS` set the starting values. Every run draws its examples, its starting weights
    and its batches from ``torch.Generator`` objects seeded with ``seed``, never from torch's global
    generator: the same setting gives the same curves, and the notebook's own random numbers are
    left alone. ``start`` trains the starting setting right away;
    ``debounce`` seconds pass before a background run starts, so that a burst of moves trains once;
    the curves are redrawn (in a thread of their own) at most every ``redraw_every`` seconds.
    ``threads`` is the number of CPU threads a background run uses (None: PyTorch's setting); the
    notebook's thread and threads started later keep their own. One is the default: LeNet's small
    batches gain little from a second core, a run sharing the CPU (browser, kernels) slows down
    many times over with two.

    A run that fails (an error in training) stays in view with status 'failed', the result line
    says why, and ``wait()`` raises the error. A learning rate set off the slider
    (``panel.lr.value = 100``) is clamped to its end, and ``note`` says so.
    """

    def __init__(self, data: "str | tuple[TensorLoader, TensorLoader]" = "fashion-mnist", *,
                 seed: int = 0, device: "str | torch.device | None" = None, background: bool = True,
                 start: bool = True, debounce: float = 0.1, redraw_every: float = 0.25,
                 threads: int | None = 1, **settings):
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"Unknown setting {', '.join(sorted(unknown))}; the panel has "
                             f"{', '.join(DEFAULTS)}.")
        start_at = {**DEFAULTS, "examples": pick(DEFAULTS["examples"], 2_500), **settings}
        self._check(start_at)
        if isinstance(data, str):
            title = f"{dataset_info(data).title} training set"
            train_iter, test_iter = load_data(data, start_at["batch_size"], device=device,
                                              verbose=False)
        else:
            title = "Your data"
            train_iter, test_iter = data
        self.train_iter, self.device = train_iter, train_iter.device
        keep = balanced_subset(test_iter.y.cpu(), HELD_OUT, seed=seed).to(test_iter.y.device)
        self.held_out = TensorLoader(test_iter.X[keep], test_iter.y[keep], 500, shuffle=False,
                                     device=self.device, seed=seed)
        self.seed, self.background, self.debounce, self.redraw_every = seed, background, debounce, redraw_every
        self.threads = threads
        self.runs: list[PanelRun] = []  # finished runs, oldest first (clear() empties it)
        self.cancelled = 0  # runs stopped because a control moved again
        self.error: Exception | None = None  # the error of the latest run, if it failed
        self._count = 0
        self._lock, self._train_lock = threading.Lock(), threading.Lock()
        self._ticket, self._job, self._threads, self._hold = 0, None, [], False

        style = {"description_width": "95px"}
        self.lr = _NotingLogSlider(value=start_at["lr"], base=10, min=math.log10(LR_RANGE[0]),
                                   max=math.log10(LR_RANGE[1]), step=0.1, readout_format=".2g",
                                   description="learning rate", continuous_update=False,
                                   style=style, layout={"width": "380px"})
        self.lr.on_value = self._note_lr
        dropdowns = {}
        for key, name in (("activation", "activation"), ("optimizer", "optimizer"),
                          ("init", "weight init"), ("pool", "pooling"), ("batch_size", "batch size"),
                          ("examples", "examples/run")):
            dropdowns[key] = widgets.Dropdown(options=list(CHOICES[key].items()), value=start_at[key],
                                              description=name, style=style, layout={"width": "250px"})
        self.activation, self.optimizer, self.init = (dropdowns[k] for k in ("activation", "optimizer", "init"))
        self.pool, self.batch_size, self.examples = (dropdowns[k] for k in ("pool", "batch_size", "examples"))
        n_train = train_iter.num_examples
        self.data_info = widgets.HTML(
            f"<b>{html.escape(title)}</b>: each run draws its examples from {n_train:,} training "
            f"images; test accuracy on {self.held_out.num_examples:,} fixed held-out images; "
            f"a fresh LeNet per run on {describe(self.device)}.")
        self.note = widgets.HTML()  # says when a value set from Python was clamped to the slider
        self.result = widgets.HTML("Move a control to train.")
        self.curves = widgets.Image(format="png", value=draw_runs([], None))
        self.table = widgets.HTML()
        self.clear_button = widgets.Button(description="clear runs", icon="trash",
                                           tooltip="Forget the runs shown (the plot and the table)")
        self.clear_button.on_click(lambda _: self.clear())
        for widget, css in ((self.lr, "lenet-lr"), (self.activation, "lenet-activation"),
                            (self.optimizer, "lenet-optimizer"), (self.init, "lenet-init"),
                            (self.note, "lenet-note"), (self.result, "lenet-result"),
                            (self.curves, "lenet-curves"), (self.table, "lenet-runs"),
                            (self.clear_button, "lenet-clear")):
            widget.add_class(css)
        controls = widgets.HBox([
            widgets.VBox([self.lr, widgets.HBox([self.examples, self.clear_button])]),
            widgets.VBox([self.activation, self.optimizer, self.init]),
            widgets.VBox([self.pool, self.batch_size])])
        self.ui = widgets.VBox([self.data_info, controls, self.note, self.result, self.curves, self.table])
        self.ui.add_class("lenet-panel")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        if start:
            self.retrain()

    # ---------------------------------------------------------------- public API

    @property
    def controls(self) -> dict:
        """Setting name -> its widget."""
        return {"lr": self.lr, "activation": self.activation, "optimizer": self.optimizer,
                "init": self.init, "pool": self.pool, "batch_size": self.batch_size,
                "examples": self.examples}

    @property
    def settings(self) -> dict:
        """The controls' current values (names and values as in :data:`DEFAULTS`)."""
        return {key: float(w.value) if key == "lr" else w.value for key, w in self.controls.items()}

    @property
    def history(self) -> History | None:
        """The History of the latest finished run (None before the first)."""
        return self.runs[-1].history if self.runs else None

    @property
    def busy(self) -> bool:
        """True while a run is queued or training."""
        with self._lock:
            return any(t.is_alive() for t in self._threads)

    def set(self, **settings) -> None:
        """Move several controls at once (names as in :attr:`settings`) and train once."""
        unknown = set(settings) - set(self.controls)
        if unknown:
            raise ValueError(f"Unknown control {', '.join(sorted(unknown))}; the panel has "
                             f"{', '.join(self.controls)}.")
        self._check({**self.settings, **settings})
        self._hold = True
        try:
            for name, value in settings.items():
                self.controls[name].value = value
        finally:
            self._hold = False
        self.retrain()

    def retrain(self) -> None:
        """Train the current setting (cancelling a run in progress); in the background unless
        the panel was made with ``background=False``."""
        job = _Job(self.settings)
        with self._lock:
            self._ticket += 1
            ticket = self._ticket
            if self._job is not None:
                self._job.cancel.set()
            if self.background:
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._work, args=(ticket, job), daemon=True,
                                          name=f"lenet-panel-run-{ticket}")
                self._threads.append(thread)
        if self.background:
            self._set_result(f"Training with {PanelRun(0, job.settings, History()).describe()} ...")
            thread.start()
        else:
            self._work(ticket, job)

    def wait(self, timeout: float | None = None) -> "TrainingPanel":
        """Block until no run is queued or training (``timeout`` in seconds, else TimeoutError);
        then refresh the picture kept in the notebook output, and raise the error of the latest
        run if it failed (its History is ``panel.runs[-1].history``, status 'failed')."""
        self._join(timeout)
        self.refresh_picture()  # from the caller's cell, so a notebook run saves it
        if self.error is not None:
            raise self.error
        return self

    def clear(self) -> None:
        """Forget the finished runs: the plot and the table start empty (numbering goes on)."""
        self.runs = []
        self.curves.value = draw_runs([], None)
        self.table.value = ""

    def close(self) -> None:
        """Cancel any run and close the widgets."""
        with self._lock:
            self._ticket += 1
            if self._job is not None:
                self._job.cancel.set()
        self._join(None)
        self.ui.close()

    def snapshot(self) -> bytes:
        """A PNG of the curves of the runs shown (the newest bold), as the panel showed them."""
        shown = self.runs[-RUNS_SHOWN:]
        return draw_runs(shown[:-1], shown[-1] if shown else None)

    def summary(self) -> str:
        """The runs shown, as a text table."""
        return runs_text(self.runs[-RUNS_SHOWN:])

    # ---------------------------------------------------------------- training

    @staticmethod
    def _check(settings: dict) -> None:
        for key, choices in CHOICES.items():
            if settings[key] not in choices.values():
                raise ValueError(f"{key} must be one of {', '.join(map(str, choices.values()))}; "
                                 f"got {settings[key]!r}.")
        lr = settings["lr"]
        if not LR_RANGE[0] <= lr <= LR_RANGE[1]:
            raise ValueError(f"lr must lie on the slider, between {LR_RANGE[0]:g} and "
                             f"{LR_RANGE[1]:g}; got {lr!r}.")

    def _note_lr(self, asked: float, given: float) -> None:
        self.note.value = "" if asked == given else html.escape(
            f"Note: learning rate {asked:g} is off the slider ({LR_RANGE[0]:g} to {LR_RANGE[1]:g}), so "
            f"it was set to {given:g}. To try {asked:g}, train outside the panel: train_ch6(make_lenet("
            f"'relu'), train_iter, test_iter, num_epochs=1, lr={asked:g}).")

    def _on_change(self, change) -> None:
        if not self._hold:
            self.retrain()

    def _join(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"The panel was still training after {timeout} s.")
            alive[0].join(left)

    def _work(self, ticket: int, job: _Job) -> None:
        if self.background and self.threads:
            use_threads_here(self.threads)  # this worker thread's own count
        if self.background and self.debounce:
            time.sleep(self.debounce)
        with self._train_lock:
            with self._lock:
                if ticket != self._ticket:  # a newer setting came in: skip this one
                    return
                self._job = job
            try:
                self._train(job)
            finally:
                with self._lock:
                    if self._job is job:
                        self._job = None

    def _train(self, job: _Job) -> None:
        s, started = job.settings, time.perf_counter()
        run = PanelRun(self._count + 1, s, History(), held_out=self.held_out.num_examples)
        shown = self.runs[-(RUNS_SHOWN - 1):]
        self.error = None
        try:
            picture = self._train_run(job, run, shown)
        except Exception as err:  # kept in view and raised by wait(); the controls keep working
            if getattr(err, "history", None) is not None:  # train_ch6's, status 'failed'
                run.history = err.history
            else:  # it failed before training
                run.history.status, run.history.message = "failed", f"{type(err).__name__}: {err}"
            run.error = f"{type(err).__name__}: {err}"
            err.add_note(f"In the panel's run {run.number} ({run.describe()}); its History is "
                         f"panel.runs[-1].history.")
            self.error = err
            png = draw_runs(shown, run)
        else:
            if job.cancel.is_set():
                self.cancelled += 1
                return
            if run.history.status == "diverged":
                run.diverged_at = job.batches * s["batch_size"]
            png = picture.png() if run.history.status == "completed" else draw_runs(shown, run)
        run.seconds = time.perf_counter() - started
        self._count += 1
        self.runs.append(run)
        self.curves.value = png
        self.table.value = runs_table_html(self.runs[-RUNS_SHOWN:])
        self._set_result(run.result())

    def _train_run(self, job: _Job, run: PanelRun, shown: list[PanelRun]) -> LivePicture:
        """Train ``run``'s setting from generators of its own, drawing the curves as it goes;
        return the live picture."""
        s, n_train = job.settings, self.train_iter.num_examples
        budget = min(s["examples"], n_train)
        idx = torch.randperm(n_train, generator=torch.Generator().manual_seed(self.seed))[:budget]
        X, y = self.train_iter.X[idx.to(self.train_iter.X.device)], self.train_iter.y[idx.to(self.train_iter.y.device)]
        train = TensorLoader(X, y, s["batch_size"], device=self.device, seed=self.seed)
        net = fresh_lenet(torch.Generator().manual_seed(self.seed), xavier=s["init"] == "xavier",
                          activation=s["activation"], pool=s["pool"], in_channels=X.shape[1],
                          image_size=X.shape[-1])
        picture = LivePicture(shown, run, budget)
        drawing = LiveDrawing(picture.png, self._show_curves, self.redraw_every)
        drawing.request()  # the new run's label appears at once
        optimizer = FUSED[s["optimizer"]] if self.device.type == "cpu" else s["optimizer"]  # fused: quicker steps

        def on_point(point, net):
            if job.cancel.is_set():
                return True
            run.history.points.append(point)  # the same Point train_ch6 keeps: drawn while it trains
            if point.examples < budget:  # train_ch6 scores the last point itself
                point.test_acc = evaluate(net, self.held_out, self.device)
            self._set_result(f"Training run {run.number} ({run.describe()}): "
                             f"{point.examples:,} of {budget:,} examples ...")
            drawing.request()
            return False

        self._set_result(f"Training run {run.number} ({run.describe()}) ...")
        try:
            run.history = train_ch6(net, train, self.held_out, 1, s["lr"], self.device,
                                    optimizer=optimizer, init=False, stop=job.stop, on_point=on_point,
                                    points_per_epoch=min(POINTS_PER_RUN, len(train)), animate=False,
                                    verbose=False, label=run.describe())
        finally:
            drawing.finish()
        return picture

    # ---------------------------------------------------------------- what is shown

    def _show_curves(self, png: bytes) -> None:
        self.curves.value = png

    def _set_result(self, text: str) -> None:
        self.result.value = html.escape(text)
