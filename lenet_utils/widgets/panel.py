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

From Python: ``panel.lr.value = 0.1`` starts a run, ``panel.wait()`` waits for it, ``panel.runs``
lists the finished runs (:class:`PanelRun`), ``panel.set(lr=1.0, activation="sigmoid")`` moves
several controls with one run. ``background=False`` trains synchronously inside the change.

The saved output also holds a PNG of the runs shown, refreshed by ``panel.wait()`` only (a refresh
re-renders the widget, taking the focus from a control), so the chapter reads on GitHub too.

CSS classes for browser tests: ``lenet-panel``, ``lenet-lr``, ``lenet-activation``, ``lenet-optimizer``,
``lenet-init``, ``lenet-result`` ("Training ..." while a run is in progress, "... test acc ..." when
finished), ``lenet-curves`` (the image), ``lenet-runs`` (the table), ``lenet-clear`` (the button).
"""

import base64
import html
import math
import threading
import time
from dataclasses import dataclass, field
from functools import partial

import torch

from ..data import TensorLoader, balanced_subset, dataset_info, load_data
from ..device import describe
from ..history import History
from ..mode import pick
from ..models import make_lenet
from ..train import evaluate, train_ch6
from .panel_runs import (CHOICES, HELD_OUT, LiveDrawing, LivePicture, PanelRun, draw_runs, runs_table_html,
                         runs_text)

__all__ = ["TrainingPanel", "PanelRun", "CHOICES", "DEFAULTS", "RUNS_SHOWN"]

#: The starting setting; benchmarks/bench_panel.py times it (target: 3 s, test accuracy >= 0.60).
DEFAULTS = {"lr": 0.1, "activation": "relu", "optimizer": "sgd", "init": "xavier", "pool": "avg",
            "batch_size": 32, "examples": 10_000}
RUNS_SHOWN = 5  # runs kept on the plot and in the table
POINTS_PER_RUN = 12  # checkpoints (test accuracy measured, curves redrawn if due) per run
LR_RANGE = (1e-3, 10.0)
FUSED = {"sgd": partial(torch.optim.SGD, fused=True), "adam": partial(torch.optim.Adam, fused=True)}


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


class TrainingPanel:
    """Controls for learning rate, activation, optimizer, weight init, pooling, batch size and
    examples per run; every move trains a fresh LeNet and redraws the curves of the last runs.

    ``data`` is a data set name (the full training set is loaded once; in quick mode a subset) or
    a ``(train_iter, test_iter)`` pair of TensorLoaders. Keyword arguments named as in
    :data:`DEFAULTS` set the starting values. Every run starts from ``torch.manual_seed(seed)``, so
    the same setting gives the same curves. ``start`` trains the starting setting right away;
    ``debounce`` seconds pass before a background run starts, so that a burst of moves trains once;
    the curves are redrawn (in a thread of their own) at most every ``redraw_every`` seconds.
    ``threads`` is the number of CPU threads a background run uses (None: PyTorch's setting; the
    notebook's thread keeps its own). One is the default: LeNet's small batches gain little from a
    second core, a run sharing the CPU (browser, kernels) slows down many times over with two.
    """

    def __init__(self, data: "str | tuple[TensorLoader, TensorLoader]" = "fashion-mnist", *,
                 seed: int = 0, device: "str | torch.device | None" = None, background: bool = True,
                 start: bool = True, debounce: float = 0.1, redraw_every: float = 0.25,
                 threads: int | None = 1, **settings):
        import ipywidgets as widgets

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
                                     device=self.device)
        self.seed, self.background, self.debounce, self.redraw_every = seed, background, debounce, redraw_every
        self.threads = threads
        self.runs: list[PanelRun] = []  # finished runs, oldest first (clear() empties it)
        self.cancelled = 0  # runs stopped because a control moved again
        self._count = 0
        self._lock, self._train_lock = threading.Lock(), threading.Lock()
        self._ticket, self._job, self._threads, self._hold = 0, None, [], False
        self._display_id = None

        style = {"description_width": "95px"}
        self.lr = widgets.FloatLogSlider(value=start_at["lr"], base=10, min=math.log10(LR_RANGE[0]),
                                         max=math.log10(LR_RANGE[1]), step=0.1, readout_format=".2g",
                                         description="learning rate", continuous_update=False,
                                         style=style, layout={"width": "380px"})
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
        self.result = widgets.HTML("Move a control to train.")
        self.curves = widgets.Image(format="png", value=draw_runs([], None))
        self.table = widgets.HTML()
        self.clear_button = widgets.Button(description="clear runs", icon="trash",
                                           tooltip="Forget the runs shown (the plot and the table)")
        self.clear_button.on_click(lambda _: self.clear())
        for widget, css in ((self.lr, "lenet-lr"), (self.activation, "lenet-activation"),
                            (self.optimizer, "lenet-optimizer"), (self.init, "lenet-init"),
                            (self.result, "lenet-result"), (self.curves, "lenet-curves"),
                            (self.table, "lenet-runs"), (self.clear_button, "lenet-clear")):
            widget.add_class(css)
        controls = widgets.HBox([
            widgets.VBox([self.lr, widgets.HBox([self.examples, self.clear_button])]),
            widgets.VBox([self.activation, self.optimizer, self.init]),
            widgets.VBox([self.pool, self.batch_size])])
        self.ui = widgets.VBox([self.data_info, controls, self.result, self.curves, self.table])
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
        then refresh the picture kept in the notebook output."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                self._update_static()  # from the caller's cell, so a notebook run saves it
                return self
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"The panel was still training after {timeout} s.")
            alive[0].join(left)

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
        self.wait()
        self.ui.close()

    def snapshot(self) -> bytes:
        """A PNG of the curves of the runs shown (the newest bold), as the panel showed them."""
        shown = self.runs[-RUNS_SHOWN:]
        return draw_runs(shown[:-1], shown[-1] if shown else None)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = self.ui._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.snapshot()).decode()
        bundle["text/plain"] = runs_text(self.runs[-RUNS_SHOWN:])
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display

        handle = display(self._repr_mimebundle_(), raw=True, display_id=True)
        self._display_id = handle.display_id if handle is not None else None

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

    def _on_change(self, change) -> None:
        if not self._hold:
            self.retrain()

    def _work(self, ticket: int, job: _Job) -> None:
        if self.background and self.threads:
            torch.set_num_threads(self.threads)  # this worker thread's own setting
        if self.background and self.debounce:
            time.sleep(self.debounce)
        with self._train_lock:
            with self._lock:
                if ticket != self._ticket:  # a newer setting came in: skip this one
                    return
                self._job = job
            try:
                self._train(job)
            except Exception as err:  # shown in the panel; the controls keep working
                self._set_result(f"Error: {type(err).__name__}: {err}. Move a control to try again.")
            finally:
                with self._lock:
                    if self._job is job:
                        self._job = None

    def _train(self, job: _Job) -> None:
        s, started = job.settings, time.perf_counter()
        run = PanelRun(self._count + 1, s, History(), held_out=self.held_out.num_examples)
        shown = self.runs[-(RUNS_SHOWN - 1):]
        n_train = self.train_iter.num_examples
        budget = min(s["examples"], n_train)
        idx = torch.randperm(n_train, generator=torch.Generator().manual_seed(self.seed))[:budget]
        X, y = self.train_iter.X[idx.to(self.train_iter.X.device)], self.train_iter.y[idx.to(self.train_iter.y.device)]
        train = TensorLoader(X, y, s["batch_size"], device=self.device, seed=self.seed)
        torch.manual_seed(self.seed)
        net = make_lenet(s["activation"], s["pool"], in_channels=X.shape[1], image_size=X.shape[-1])
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
                                    optimizer=optimizer, init=s["init"] == "xavier", stop=job.stop,
                                    on_point=on_point, points_per_epoch=min(POINTS_PER_RUN, len(train)),
                                    animate=False, verbose=False, label=run.describe())
        finally:
            drawing.finish()
        if job.cancel.is_set():
            self.cancelled += 1
            return
        run.seconds = time.perf_counter() - started
        if run.history.status == "diverged":
            run.diverged_at = job.batches * s["batch_size"]
        self._count += 1
        self.runs.append(run)
        self.curves.value = picture.png() if run.history.status == "completed" else draw_runs(shown, run)
        self.table.value = runs_table_html(self.runs[-RUNS_SHOWN:])
        self._set_result(run.result())

    # ---------------------------------------------------------------- what is shown

    def _show_curves(self, png: bytes) -> None:
        self.curves.value = png

    def _set_result(self, text: str) -> None:
        self.result.value = html.escape(text)

    def _update_static(self) -> None:
        """Refresh the PNG kept in the notebook output (for readers where widgets do not run)."""
        if self._display_id is not None:
            from IPython.display import update_display

            update_display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)
