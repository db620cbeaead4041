"""A slider panel that retrains LeNet whenever a control moves, with curves that move (ipywidgets).

    panel = TrainingPanel("fashion-mnist")
    panel                       # in Jupyter: the controls, the result line, the curves, the runs

Each run trains a fresh LeNet through :func:`lenet_utils.train.train_ch6` on a budget of training
examples drawn from the training set loaded ("examples/run" never offers more than it holds: in
quick mode its 2,000 images), and redraws the curves about four times a second while it trains:
training loss and test accuracy (on a fixed held-out slice of the test set) against the examples
seen. Earlier runs stay on the plot in lighter colours (the last :data:`RUNS_SHOWN`), each with its
own marker and dashes, ``run N`` written at its end and its settings in the legend, with a table of
them below; "run again" trains the current setting once more with the next seed (its starting
weights, its examples and their order drawn anew, the seed in its label), so the spread from run
to run shows, and "clear runs" empties the plot.
Training runs in a worker thread, so the controls stay live: a move cancels the run in progress
before its next batch (``train_ch6``'s ``hook``) and trains the new setting (a burst of moves
trains only the last).

From Python: ``panel.lr.value = 0.1`` starts a run, ``panel.wait()`` waits for it (and raises the
error of a run that failed), ``panel.runs`` lists the finished runs (:class:`PanelRun`),
``panel.set(lr=1.0, activation="sigmoid")`` moves several controls with one run,
``panel.run_again()`` is the "run again" button.
``background=False`` trains synchronously inside the change. Runs never touch torch's global state:
their random numbers come from generators of their own, their thread count stays their own.

Below the widget the saved output holds a PNG of the runs shown (:class:`SavedPicture`), refreshed
by ``panel.wait()`` (from the waiting cell, so that a notebook run saves it), so the chapter reads
on GitHub too. The run pictures are :func:`lenet_utils.plot.draw_runs` of :func:`run_curves` (loss
and held-out accuracy against the examples seen, the newest run bold in its full colour, the
earlier ones lighter, the legend naming the settings that tell them apart); while a run trains,
:class:`~lenet_utils.plot.LivePicture` redraws only its two lines over the rest, in a
:class:`~lenet_utils.widgets.background.RedrawThread` of its own.

CSS classes for browser tests: ``lenet-panel``, ``lenet-lr``, ``lenet-activation``, ``lenet-optimizer``,
``lenet-init``, ``lenet-examples``, ``lenet-note`` (a value clamped to the slider), ``lenet-result``
("Training ..." while a run is in progress, "... test acc ..." when finished), ``lenet-curves`` (the
image), ``lenet-runs`` (the table), ``lenet-rerun`` and ``lenet-clear`` (the buttons).
"""

import html
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import ipywidgets as widgets
import torch
from traitlets import validate

from ..checks import learning_rate, seconds
from ..data import TensorLoader, balanced_subset, dataset_info, load_data
from ..device import describe
from ..history import History
from ..plot import PICTURE_MIN_PX, PICTURE_PX, LivePicture, RunCurves, draw_runs, interval_means, run_label
from ..quick_mode import ENV_VAR, is_quick
from ..tables import format_table
from ..train import evaluate, train_ch6
from .background import Job, RedrawThread
from .torch_state import fresh_lenet, use_threads_here
from .saved_picture import SavedPicture

__all__ = ["TrainingPanel", "PanelRun", "CHOICES", "DEFAULTS", "HELD_OUT", "RUNS_SHOWN", "example_sizes",
           "legend_label", "run_curves", "runs_table_html", "runs_text"]


# ---------------------------------------------------------------- the settings, the runs, their pictures

#: The starting setting; benchmarks/bench_panel.py times it (target: 3 s on a machine that trains
#: d2l's LeNet at 5,000 examples/s on one thread, test accuracy >= 0.60: 7,500 examples fit it).
#: Where the training set holds fewer than 7,500 images, "examples" starts at all of them.
DEFAULTS = {"lr": 0.1, "activation": "relu", "optimizer": "sgd", "init": "xavier", "pool": "avg",
            "batch_size": 32, "examples": 7_500}
LR_RANGE = (1e-3, 10.0)  # the learning-rate slider's ends
#: The dropdowns' choices: setting name -> {label shown: value passed on}. The "examples/run"
#: dropdown offers :func:`example_sizes` of the training set loaded instead.
CHOICES = {
    "activation": {"sigmoid": "sigmoid", "tanh": "tanh", "ReLU": "relu"},
    "optimizer": {"SGD": "sgd", "Adam": "adam"},
    "init": {"Xavier (d2l)": "xavier", "PyTorch default": "pytorch"},
    "pool": {"average": "avg", "max": "max"},
    "batch_size": {str(b): b for b in (16, 32, 64, 128, 256)},
}
SHORT_WORDS = {"Xavier (d2l)": "Xavier", "PyTorch default": "PyTorch", "average": "avg"}  # legend words
EXAMPLE_SIZES = (500, 1_000, 2_500, 5_000, 7_500, 10_000, 20_000, 60_000)  # offered where the data hold more
HELD_OUT = 500  # fixed, class-balanced test images scored at every checkpoint
RUNS_SHOWN = 5  # runs kept on the plot and in the table
POINTS_PER_RUN = 12  # checkpoints (test accuracy measured, curves redrawn if due) per run
FUSED = {"sgd": partial(torch.optim.SGD, fused=True), "adam": partial(torch.optim.Adam, fused=True)}
SETTING_KEYS = ("activation", "optimizer", "lr", "init", "pool", "batch_size", "examples")


def example_sizes(n_train: int) -> dict[str, int]:
    """The "examples/run" choices for ``n_train`` training images: label -> examples a run uses.

    The sizes of :data:`EXAMPLE_SIZES` below ``n_train``, then ``n_train`` itself ("(all)"): no
    choice promises more than a run can see, e.g. ``example_sizes(2000)`` ->
    ``{"500": 500, "1,000": 1000, "2,000 (all)": 2000}``.
    """
    sizes = [n for n in EXAMPLE_SIZES if n < n_train] + [n_train]
    return {f"{n:,}" + (" (all)" if n == n_train else ""): n for n in sizes}


@dataclass
class PanelRun:
    """One finished run: its number, settings (those of :data:`DEFAULTS` and its ``seed``), History,
    wall-clock seconds, for a run that diverged how many examples it had seen when it did, and for
    one that failed its error in words."""

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

    def describe(self, keys: "list[str] | None" = None, short: bool = False) -> str:
        """The settings in words (only ``keys`` when given; ``short``: the legend's words, e.g.
        "avg pool" for "average pool")."""
        return ", ".join(_word(key, self.settings[key], short) for key in keys or SETTING_KEYS)

    @property
    def seed(self) -> int:
        """The seed of its starting weights, its examples and their order."""
        return self.settings.get("seed", 0)

    def result(self) -> str:
        """The finished run in one line (the panel's result line)."""
        head = f"Run {self.number} ({self.describe()}), seed {self.seed}: "
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
        return {"run": self.number, "settings": self.describe(), "seed": self.seed,
                "test acc": "n/a" if math.isnan(self.test_acc) else f"{self.test_acc:.3f}",
                "status": self.history.status, "seconds": f"{self.seconds:.1f}"}


def _word(key: str, value: object, short: bool = False) -> str:
    """A setting in the panel's words: "lr 0.1", "batch 32", "Xavier (d2l) init" ("Xavier init" when ``short``)."""
    if key == "lr":
        return f"lr {value:.2g}"
    if key in ("batch_size", "examples"):
        return f"{'batch' if key == 'batch_size' else 'examples'} {value:,}"
    label = next(k for k, v in CHOICES[key].items() if v == value)
    label = SHORT_WORDS.get(label, label) if short else label
    return label + {"init": " init", "pool": " pool"}.get(key, "")


def legend_label(run: PanelRun, runs: list[PanelRun]) -> str:
    """``run N: <settings that differ between the runs drawn>, seed S`` (+ "diverged" or "failed"),
    in the legend's short words (activation, optimizer and learning rate where none differ)."""
    text = f"run {run.number}: " + run_label(run.settings, [r.settings for r in runs], SETTING_KEYS,
                                             default=("activation", "optimizer", "lr"),
                                             word=partial(_word, short=True)) + f", seed {run.seed}"
    return text + (f" ({run.history.status})" if run.history.status in ("diverged", "failed") else "")


def _curves(run: PanelRun) -> tuple[tuple[list, list], tuple[list, list]]:
    """The run's loss curve (:func:`~lenet_utils.plot.interval_means`: the loss between two checkpoints)
    and its test-accuracy curve, as (xs, ys) pairs."""
    losses = interval_means(run.history.points)
    scored = [(p.examples, p.test_acc) for p in run.history.points if p.test_acc is not None]
    return ([x for x, _ in losses], [v for _, v in losses]), ([x for x, _ in scored], [a for _, a in scored])


def run_curves(runs: list[PanelRun]) -> list[RunCurves]:
    """``runs`` (the newest last) as :func:`lenet_utils.plot.draw_runs` draws them: each named by
    :func:`legend_label`, a diverged run marked where it diverged (at its last point if unknown)."""
    drawn = []
    for run in runs:
        loss, acc = _curves(run)
        diverged_at = (run.diverged_at or (loss[0][-1] if loss[0] else 0)
                       if run.history.status == "diverged" else None)
        drawn.append(RunCurves(run.number, legend_label(run, runs), loss, acc, diverged_at))
    return drawn


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
    """``runs`` as a text table, oldest first (the panel's plain-text output); for no runs, what the
    panel is (no claim about runs, which the picture beside this text may show)."""
    rows = [run.row() for run in runs]
    if not rows:
        return "TrainingPanel: sliders that train LeNet again at every move"
    return "TrainingPanel, last runs:\n" + format_table(list(rows[0]), rows)


# ---------------------------------------------------------------- the panel

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
    :data:`DEFAULTS` set the starting values; "examples" is one of :func:`example_sizes` of the
    training set (by default 7,500, or the whole set where it holds fewer). Every run draws its
    examples, its starting weights and its batches from ``torch.Generator`` objects seeded with
    ``seed`` (a move of a control) or the next seed after the last one used ("run again":
    ``seed + 1``, ``seed + 2``, ...), never from torch's global generator: a move trains the same
    start as the run before, so two settings compare like with like, "run again" shows the spread
    from run to run, and the notebook's own random numbers are left alone. ``start`` trains the starting setting right away;
    ``debounce`` seconds pass before a background run starts, so that a burst of moves trains once;
    the curves are redrawn (in a thread of their own) at most every ``redraw_every`` seconds.
    ``threads`` is the number of CPU threads a background run uses (None: PyTorch's setting); the
    notebook's thread and threads started later keep their own. One is the default: LeNet's small
    batches gain little from a second core, a run sharing the CPU (browser, kernels) slows down
    many times over with two.

    A run that fails (an error in training) stays in view with status 'failed', the result line
    says why, and ``wait()`` raises the error. A learning rate off the slider (``lr=50``,
    ``panel.lr.value = 100``) is clamped to its end, and ``note`` says so; one that is no learning
    rate at all (``"0.1"``, 0) is refused by ``checks.learning_rate``, as ``train_ch6`` would.
    """

    def __init__(self, data: "str | tuple[TensorLoader, TensorLoader]" = "fashion-mnist", *,
                 seed: int = 0, device: "str | torch.device | None" = None, background: bool = True,
                 start: bool = True, debounce: float = 0.1, redraw_every: float = 0.25,
                 threads: int | None = 1, **settings):
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"Unknown setting {', '.join(sorted(unknown))}; the panel has "
                             f"{', '.join(DEFAULTS)}.")
        start_at = {**DEFAULTS, **settings}
        self._check_choices(start_at)
        debounce, redraw_every = seconds("debounce", debounce), seconds("redraw_every", redraw_every)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads={threads!r} is not valid: give a whole number of CPU threads >= 1, "
                             f"or None for PyTorch's own setting.")
        if isinstance(data, str):
            title = f"{dataset_info(data).title} training set"
            train_iter, test_iter = load_data(data, start_at["batch_size"], device=device,
                                              verbose=False)
        else:
            title = "Your data"
            train_iter, test_iter = data
        self.train_iter, self.device = train_iter, train_iter.device
        n_train = train_iter.num_examples
        self._subset = (f" (quick mode's subset: unset {ENV_VAR} for the whole set)"
                        if isinstance(data, str) and is_quick() else "")
        self.example_sizes = example_sizes(n_train)  # what "examples/run" offers: never above n_train
        if "examples" not in settings:
            start_at["examples"] = min(DEFAULTS["examples"], n_train)
        self._check_examples(start_at["examples"])
        keep = balanced_subset(test_iter.y.cpu(), HELD_OUT, seed=seed).to(test_iter.y.device)
        self.held_out = TensorLoader(test_iter.X[keep], test_iter.y[keep], 500, shuffle=False,
                                     device=self.device, seed=seed)
        self.seed, self.background, self.debounce, self.redraw_every = seed, background, debounce, redraw_every
        self.threads = threads
        self.runs: list[PanelRun] = []  # finished runs, oldest first (clear() empties it)
        self.cancelled = 0  # runs stopped because a control moved again
        self.error: Exception | None = None  # the error of the latest run, if it failed
        self._count, self._last_seed = 0, seed
        self._lock, self._train_lock = threading.Lock(), threading.Lock()
        self._ticket, self._job, self._threads, self._hold = 0, None, [], False

        style = {"description_width": "95px"}
        self.lr = _NotingLogSlider(value=start_at["lr"], base=10, min=math.log10(LR_RANGE[0]),
                                   max=math.log10(LR_RANGE[1]), step=0.1, readout_format=".2g",
                                   description="learning rate", continuous_update=False,
                                   style=style, layout={"width": "370px"})
        self.lr.on_value = self._note_lr
        dropdowns = {}
        for key, name in (("activation", "activation"), ("optimizer", "optimizer"),
                          ("init", "weight init"), ("pool", "pooling"), ("batch_size", "batch size"),
                          ("examples", "examples/run")):
            choices = self.example_sizes if key == "examples" else CHOICES[key]
            dropdowns[key] = widgets.Dropdown(options=list(choices.items()), value=start_at[key],
                                              description=name, style=style, layout={"width": "250px"})
        self.activation, self.optimizer, self.init = (dropdowns[k] for k in ("activation", "optimizer", "init"))
        self.pool, self.batch_size, self.examples = (dropdowns[k] for k in ("pool", "batch_size", "examples"))
        self.data_info = widgets.HTML(
            f"<b>{html.escape(title)}</b>: each run draws its examples from {n_train:,} training "
            f"images{self._subset}; test accuracy on {self.held_out.num_examples:,} fixed held-out images; "
            f"a fresh LeNet per run on {describe(self.device)}.")
        self.note = widgets.HTML()  # says when a value set from Python was clamped to the slider
        self._note_lr(start_at["lr"], self.lr.value)  # a starting value included
        self.result = widgets.HTML("Move a control to train.")
        # at most its own size (PICTURE_PX), never stretched; a narrower output area scales it down,
        # no further than PICTURE_MIN_PX, where its smallest text is still MIN_TEXT_PX
        self.curves = widgets.Image(format="png", value=draw_runs([]),
                                    layout={"width": "100%", "max_width": f"{PICTURE_PX[0]}px",
                                            "min_width": f"{PICTURE_MIN_PX}px", "height": "auto", "margin": "0"})
        self.table = widgets.HTML()
        self.rerun_button = widgets.Button(description="run again", icon="refresh",
                                           tooltip="Train the current setting once more, with the next "
                                                   "seed (new starting weights and examples)",
                                           layout={"width": "120px"})
        self.rerun_button.on_click(lambda _: self.run_again())
        self.clear_button = widgets.Button(description="clear runs", icon="trash",
                                           tooltip="Forget the runs shown (the plot and the table)",
                                           layout={"width": "120px"})
        self.clear_button.on_click(lambda _: self.clear())
        for widget, css in ((self.lr, "lenet-lr"), (self.activation, "lenet-activation"),
                            (self.optimizer, "lenet-optimizer"), (self.init, "lenet-init"),
                            (self.examples, "lenet-examples"),
                            (self.note, "lenet-note"), (self.result, "lenet-result"),
                            (self.curves, "lenet-curves"), (self.table, "lenet-runs"),
                            (self.rerun_button, "lenet-rerun"), (self.clear_button, "lenet-clear")):
            widget.add_class(css)
        column = {"flex": "0 0 auto", "overflow": "visible"}  # columns keep their width: they wrap, never scroll
        controls = widgets.Box([
            widgets.VBox([self.lr, widgets.HBox([self.rerun_button, self.clear_button],
                                                layout={"margin": "0 0 0 99px", "overflow": "visible"})],
                         layout=column),
            widgets.VBox([self.activation, self.optimizer, self.init], layout=column),
            widgets.VBox([self.pool, self.batch_size, self.examples], layout=column)],
            layout={"flex_flow": "row wrap", "overflow": "visible"})
        # ipywidgets sets HTML text at a control's 28 px line height (the panel's lines read closer),
        # and lets a slider's readout shrink to 32 px ("0.3" of 0.32)
        compact = widgets.HTML("<style>.lenet-panel .widget-html-content { line-height: 1.35; }"
                               ".lenet-panel .lenet-lr .widget-readout { min-width: 48px; }</style>")
        self.ui = widgets.VBox([self.data_info, controls, self.note, self.result, self.curves, self.table,
                                compact], layout={"max_width": f"{PICTURE_PX[0] + 20}px", "overflow": "visible"})
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
        self._check_choices({**self.settings, **settings})
        if "examples" in settings:
            self._check_examples(settings["examples"])
        self._hold = True
        try:
            for name, value in settings.items():
                self.controls[name].value = value
        finally:
            self._hold = False
        self.retrain()

    def run_again(self) -> None:
        """Train the current setting with the next seed (the "run again" button), as :meth:`retrain`."""
        self._last_seed += 1
        self.retrain(self._last_seed)

    def retrain(self, seed: int | None = None) -> None:
        """Train the current setting with ``seed`` (by default the panel's), cancelling a run in
        progress; in the background unless the panel was made with ``background=False``."""
        job = Job({**self.settings, "seed": self.seed if seed is None else seed})
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
            planned = PanelRun(0, job.settings, History())
            self._set_result(f"Training with {planned.describe()}, seed {planned.seed} ...")
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
        self.curves.value = draw_runs([])
        self.table.value = ""
        self._set_result("Runs cleared. Move a control, or press \"run again\", to train.")

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
        return draw_runs(run_curves(self.runs[-RUNS_SHOWN:]))

    def summary(self) -> str:
        """The runs shown, as a text table."""
        return runs_text(self.runs[-RUNS_SHOWN:])

    # ---------------------------------------------------------------- training

    @staticmethod
    def _check_choices(settings: dict) -> None:
        for key, choices in CHOICES.items():
            if settings[key] not in choices.values():
                raise ValueError(f"{key} must be one of {', '.join(map(str, choices.values()))}; "
                                 f"got {settings[key]!r}.")
        learning_rate(settings["lr"])  # the one check; the slider clamps to its ends with a note

    def _check_examples(self, examples) -> None:
        if examples not in self.example_sizes.values():
            offered = ", ".join(f"{n:,}" for n in self.example_sizes.values())
            raise ValueError(f"examples must be one of {offered} (sizes up to the "
                             f"{self.train_iter.num_examples:,} training images loaded{self._subset}); "
                             f"got {examples!r}.")

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

    def _work(self, ticket: int, job: Job) -> None:
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

    def _train(self, job: Job) -> None:
        s, started = job.settings, time.perf_counter()
        run = PanelRun(self._count + 1, s, History(), held_out=self.held_out.num_examples)
        self.error, runs, picture = None, self.runs, None  # clear() puts a new list in self.runs
        shown = runs[-(RUNS_SHOWN - 1):]
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
        else:
            if job.cancel.is_set():
                self.cancelled += 1
                return
            if run.history.status == "diverged":
                run.diverged_at = job.batches * s["batch_size"]
        run.seconds = time.perf_counter() - started
        self._count += 1
        self.runs.append(run)
        if picture is not None and run.history.status == "completed" and self.runs is runs:
            self.curves.value = picture.png(*_curves(run))  # its last frame is the whole picture, at a tenth of the cost
        else:  # a diverged or failed run's marks, or the runs left after a clear() meanwhile
            self.curves.value = self.snapshot()
        self.table.value = runs_table_html(self.runs[-RUNS_SHOWN:])
        self._set_result(run.result())

    def _train_run(self, job: Job, run: PanelRun, shown: list[PanelRun]) -> LivePicture:
        """Train ``run``'s setting from generators of its own, drawing the curves (over the
        ``shown`` runs) as it goes; return the live picture."""
        s, n_train = job.settings, self.train_iter.num_examples
        budget = s["examples"]  # checked: at most n_train
        idx = torch.randperm(n_train, generator=torch.Generator().manual_seed(s["seed"]))[:budget]
        X, y = self.train_iter.X[idx.to(self.train_iter.X.device)], self.train_iter.y[idx.to(self.train_iter.y.device)]
        train = TensorLoader(X, y, s["batch_size"], device=self.device, seed=s["seed"])
        net = fresh_lenet(torch.Generator().manual_seed(s["seed"]), xavier=s["init"] == "xavier",
                          activation=s["activation"], pool=s["pool"], in_channels=X.shape[1],
                          image_size=X.shape[-1])
        picture = LivePicture(run_curves([*shown, run]), budget)
        drawing = RedrawThread(lambda: picture.png(*_curves(run)), self._show_curves, self.redraw_every)
        drawing.request()  # the new run's label appears at once
        optimizer = FUSED[s["optimizer"]] if self.device.type == "cpu" else s["optimizer"]  # fused: quicker steps

        def hook(history, net):  # train_ch6's, before every batch: stop once a control moved, else draw
            if job.stop():
                return True
            for point in history.points[len(run.history.points):]:  # new since the last batch
                run.history.points.append(point)  # the same Point train_ch6 keeps: drawn while it trains
                point.test_acc = evaluate(net, self.held_out, self.device)  # (the last: train_ch6's)
                self._set_result(f"Training run {run.number} ({run.describe()}), seed {run.seed}: "
                                 f"{point.examples:,} of {budget:,} examples ...")
                drawing.request()
            return False

        self._set_result(f"Training run {run.number} ({run.describe()}), seed {run.seed} ...")
        try:
            run.history = train_ch6(net, train, self.held_out, 1, s["lr"], self.device,
                                    optimizer=optimizer, init=False, hook=hook,
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
