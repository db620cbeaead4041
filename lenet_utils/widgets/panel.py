"""A slider panel that retrains LeNet whenever a control moves (ipywidgets).

    panel = TrainingPanel("fashion-mnist", train_size=2000, test_size=1000)
    panel                       # in Jupyter: the controls, the result line and the curves

Move the learning rate (log scale), the activation, the pooling, the epochs or the batch size and
the panel trains a fresh LeNet on a small class-balanced subset and redraws the loss and accuracy
curves next to those of the previous setting (dashed, faded). Training runs in a worker thread, so
the controls stay live: moving a control again cancels the run in progress within one batch and
starts the new one (a burst of moves trains only the last setting).

From Python (tests, scripts): ``panel.lr.value = 0.3`` starts a retrain, ``panel.wait()`` waits for
it, ``panel.runs`` lists the finished runs and ``panel.history`` is the latest run's History.
``TrainingPanel(..., background=False)`` trains synchronously inside the change instead.

CSS classes for browser tests: the panel ``lenet-panel``, the controls ``lenet-lr``,
``lenet-activation``, ``lenet-pool``, ``lenet-epochs``, ``lenet-batch-size``, the subset line
``lenet-subset``, the result line ``lenet-result`` (it says "Training ..." while a run is in
progress and "... test acc ..." when it has finished) and the curves image ``lenet-curves``.
ipywidgets (and with it IPython) is imported only when a panel is built.
"""

import html
import io
import threading
import time
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from ..data import TensorLoader, dataset_info, load_data
from ..device import describe
from ..mode import pick
from ..models import make_lenet
from ..train import History, train_ch6

__all__ = ["TrainingPanel", "PanelRun", "ACTIVATION_CHOICES", "POOL_CHOICES", "BATCH_SIZES"]

#: Dropdown label -> ``make_lenet`` name.
ACTIVATION_CHOICES = {"sigmoid": "sigmoid", "tanh": "tanh", "ReLU": "relu"}
POOL_CHOICES = {"average": "avg", "max": "max"}
BATCH_SIZES = (32, 64, 128, 256, 512)


class RunCancelled(KeyboardInterrupt):
    """Raised inside ``train_ch6`` (which keeps the history so far) when a control moved again."""


class _CancellableLoader:
    """A TensorLoader that stops its run at the next batch once ``cancel`` is set."""

    def __init__(self, loader, cancel):
        self.loader, self.cancel = loader, cancel
        self.device = loader.device

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            if self.cancel.is_set():
                raise RunCancelled
            yield batch


@dataclass
class PanelRun:
    """One finished retrain of the panel: its number, settings and History."""

    number: int
    settings: dict
    history: History

    def describe(self) -> str:
        s = self.settings
        activation = next(k for k, v in ACTIVATION_CHOICES.items() if v == s["activation"])
        pool = next(k for k, v in POOL_CHOICES.items() if v == s["pool"])
        return (f"lr {s['lr']:.3g}, {activation}, {pool} pooling, {s['num_epochs']} epoch"
                f"{'s' if s['num_epochs'] != 1 else ''}, batch {s['batch_size']}")

    def result(self) -> str:
        """The finished run in one line (the panel's printed result)."""
        h = self.history
        head = f"Run {self.number} ({self.describe()}): "
        if not h.num_epochs:  # (train_ch6's own message says "training loss": kept off this line)
            why = "the loss became NaN/inf, the run diverged" if h.status == "diverged" else h.status
            return head + f"test acc n/a: {why} before the first epoch ended"
        text = (f"loss {h.train_loss[-1]:.3f}, train acc {h.train_acc[-1]:.3f}, "
                f"test acc {h.test_acc[-1]:.3f} in {sum(h.seconds):.1f} s")
        if h.status == "diverged":
            text += f". Diverged after {h.num_epochs} epoch(s): the loss became NaN/inf"
        return head + text


class TrainingPanel:
    """Controls for lr, activation, pooling, epochs and batch size that retrain and redraw LeNet.

    ``data`` is a data set name (loaded once, as a class-balanced subset of ``train_size`` /
    ``test_size`` images) or a ``(train_iter, test_iter)`` pair of TensorLoaders. The starting
    values of the controls are ``lr``, ``activation``, ``pool``, ``num_epochs``, ``batch_size``;
    every run starts from ``torch.manual_seed(seed)``, so the same setting gives the same curves.
    ``start`` trains the starting setting right away. ``debounce`` seconds pass before a background
    run starts, so that several quick key presses train once.
    """

    def __init__(self, data="fashion-mnist", *, train_size=None, test_size=None, lr=0.9,
                 activation="sigmoid", pool="avg", num_epochs=None, batch_size=64, seed=0,
                 device=None, background=True, start=True, debounce=0.3):
        import ipywidgets as widgets

        if activation not in ACTIVATION_CHOICES.values():
            raise ValueError(f"activation must be one of {', '.join(ACTIVATION_CHOICES.values())}, "
                             f"got {activation!r}.")
        if pool not in POOL_CHOICES.values():
            raise ValueError(f"pool must be one of {', '.join(POOL_CHOICES.values())}, got {pool!r}.")
        if batch_size not in BATCH_SIZES:
            raise ValueError(f"batch_size must be one of {BATCH_SIZES}, got {batch_size!r}.")
        if not 1e-3 <= lr <= 10:
            raise ValueError(f"lr must lie on the slider, between 0.001 and 10; got {lr!r}.")
        num_epochs = num_epochs if num_epochs is not None else pick(3, 1)
        if not 1 <= num_epochs <= 10:
            raise ValueError(f"num_epochs must lie on the slider, between 1 and 10; got {num_epochs!r}.")
        if isinstance(data, str):
            title = f"{dataset_info(data).title}, a class-balanced subset"
            train_iter, test_iter = load_data(data, batch_size, device=device,
                                              train_size=pick(train_size or 2000, train_size or 1000),
                                              test_size=test_size or 1000)
        else:
            title = "Your data"
            train_iter, test_iter = data
        self.train_iter, self.test_iter = train_iter, test_iter
        self.device = train_iter.device
        self.seed, self.background, self.debounce = seed, background, debounce
        self.runs = []  # finished runs (PanelRun), oldest first
        self.cancelled = 0  # runs stopped because a control moved again
        self._lock = threading.Lock()
        self._train_lock = threading.Lock()
        self._ticket = 0
        self._cancel = None
        self._threads = []
        self._hold = False

        style = {"description_width": "110px"}
        self.lr = widgets.FloatLogSlider(value=lr, base=10, min=-3, max=1, step=0.1,
                                         description="learning rate", readout_format=".3g",
                                         continuous_update=False, style=style)
        self.activation = widgets.Dropdown(options=list(ACTIVATION_CHOICES.items()), value=activation,
                                           description="activation", style=style)
        self.pool = widgets.Dropdown(options=list(POOL_CHOICES.items()), value=pool,
                                     description="pooling", style=style)
        self.epochs = widgets.IntSlider(value=num_epochs, min=1, max=10, description="epochs",
                                        continuous_update=False, style=style)
        self.batch_size = widgets.Dropdown(options=list(BATCH_SIZES), value=batch_size,
                                           description="batch size", style=style)
        n_train, n_test = train_iter.num_examples, test_iter.num_examples
        self.subset_info = widgets.HTML(
            f"<b>{html.escape(title)}</b>: {n_train:,} training and {n_test:,} test images; "
            f"one fresh LeNet per setting, trained on {describe(self.device)}.")
        self.result = widgets.HTML("Move a control to train.")
        self.curves = widgets.Image(format="png", value=self._draw())
        for widget, css in ((self.lr, "lenet-lr"), (self.activation, "lenet-activation"),
                            (self.pool, "lenet-pool"), (self.epochs, "lenet-epochs"),
                            (self.batch_size, "lenet-batch-size"), (self.subset_info, "lenet-subset"),
                            (self.result, "lenet-result"), (self.curves, "lenet-curves")):
            widget.add_class(css)
        controls = widgets.HBox([widgets.VBox([self.lr, self.epochs]),
                                 widgets.VBox([self.activation, self.pool, self.batch_size])])
        self.ui = widgets.VBox([self.subset_info, controls, self.result, self.curves])
        self.ui.add_class("lenet-panel")
        for control in self.controls:
            control.observe(self._on_change, names="value")
        if start:
            self.retrain()

    # ---------------------------------------------------------------- public API

    @property
    def controls(self) -> list:
        return [self.lr, self.activation, self.pool, self.epochs, self.batch_size]

    @property
    def settings(self) -> dict:
        """The controls' current values, as ``make_lenet``/``train_ch6`` arguments."""
        return {"lr": float(self.lr.value), "activation": self.activation.value,
                "pool": self.pool.value, "num_epochs": int(self.epochs.value),
                "batch_size": int(self.batch_size.value)}

    @property
    def history(self) -> History | None:
        """The History of the latest finished run (None before the first)."""
        return self.runs[-1].history if self.runs else None

    @property
    def busy(self) -> bool:
        """True while a run is queued or training."""
        with self._lock:
            return any(t.is_alive() for t in self._threads)

    def set(self, **settings):
        """Move several controls at once (names as in :attr:`settings`) and retrain once."""
        names = {"lr": self.lr, "activation": self.activation, "pool": self.pool,
                 "num_epochs": self.epochs, "batch_size": self.batch_size}
        unknown = set(settings) - set(names)
        if unknown:
            raise ValueError(f"Unknown control {', '.join(sorted(unknown))}; the panel has "
                             f"{', '.join(names)}.")
        self._hold = True
        try:
            for name, value in settings.items():
                names[name].value = value
        finally:
            self._hold = False
        self.retrain()

    def retrain(self):
        """Train the current setting (cancelling a run in progress); in the background unless
        the panel was made with ``background=False``."""
        settings = self.settings
        with self._lock:
            self._ticket += 1
            ticket = self._ticket
            if self._cancel is not None:
                self._cancel.set()
            if self.background:
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._work, args=(ticket, settings), daemon=True,
                                          name=f"lenet-panel-run-{ticket}")
                self._threads.append(thread)
        if self.background:
            self._set_result(f"Training with {self._describe(settings)} ...")
            thread.start()
        else:
            self._work(ticket, settings)

    def wait(self, timeout=None):
        """Block until no run is queued or training (``timeout`` in seconds, else TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return self
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"The panel was still training after {timeout} s.")
            alive[0].join(left)

    def close(self):
        """Cancel any run and close the widgets."""
        with self._lock:
            self._ticket += 1
            if self._cancel is not None:
                self._cancel.set()
        self.wait()
        self.ui.close()

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)

    # ---------------------------------------------------------------- training

    def _on_change(self, change):
        if not self._hold:
            self.retrain()

    def _work(self, ticket, settings):
        if self.background and self.debounce:
            time.sleep(self.debounce)
        with self._train_lock:
            with self._lock:
                if ticket != self._ticket:  # a newer setting came in: skip this one
                    return
                cancel = self._cancel = threading.Event()
            try:
                self._train(settings, cancel)
            except Exception as err:  # shown in the panel; the controls keep working
                self._set_result(f"Error: {type(err).__name__}: {err}. Move a control to try again.")
            finally:
                with self._lock:
                    if self._cancel is cancel:
                        self._cancel = None

    def _train(self, settings, cancel):
        number = len(self.runs) + 1
        previous = self.runs[-1] if self.runs else None
        described = self._describe(settings)
        self._set_result(f"Training run {number} ({described}) ...")
        torch.manual_seed(self.seed)
        X = self.train_iter.X
        net = make_lenet(settings["activation"], settings["pool"], in_channels=X.shape[1],
                         image_size=X.shape[-1])
        train = _CancellableLoader(TensorLoader(X, self.train_iter.y, settings["batch_size"],
                                                device=self.device, seed=self.seed), cancel)
        epochs = settings["num_epochs"]

        def progress(history):
            if cancel.is_set():
                return True
            if history.num_epochs < epochs:  # the last epoch is drawn once the run is recorded
                self._set_result(f"Training run {number} ({described}): epoch {history.num_epochs} "
                                 f"of {epochs} done ...")
                self.curves.value = self._draw(history, previous, f"run {number} ({described})")
            return False

        torch.manual_seed(self.seed)
        history = train_ch6(net, train, self.test_iter, epochs, settings["lr"], self.device,
                            callback=progress, animate=False, verbose=False, label=described)
        if cancel.is_set():
            self.cancelled += 1
            return
        run = PanelRun(number, settings, history)
        self.runs.append(run)
        self.curves.value = self._draw(history, previous, f"run {number} ({described})")
        lines = [run.result()]
        if previous is not None and previous.history.num_epochs:
            lines.append(f"Previous, run {previous.number} ({previous.describe()}): test acc "
                         f"{previous.history.test_acc[-1]:.3f} (dashed).")
        self._set_result("<br>".join(html.escape(line) for line in lines), escape=False)

    @staticmethod
    def _describe(settings) -> str:
        return PanelRun(0, settings, History()).describe()

    def _set_result(self, text, escape=True):
        self.result.value = html.escape(text) if escape else text

    # ---------------------------------------------------------------- the picture

    def _draw(self, history=None, previous=None, title=None) -> bytes:
        """PNG of loss (left) and accuracy (right): this run solid, the previous one dashed."""
        fig = Figure(figsize=(9, 3.1))
        ax_loss, ax_acc = fig.subplots(1, 2)
        runs = [(previous.history, "o--", 0.45, f"previous: run {previous.number}")] if previous else []
        if history is not None:
            runs.append((history, "o-", 1.0, "this run"))
        top = 1
        for h, style, alpha, name in runs:
            epochs = list(range(1, h.num_epochs + 1))
            top = max(top, h.num_epochs)
            ax_loss.plot(epochs, h.train_loss, style, color="C0", alpha=alpha, ms=4, label=name)
            for values, color, what in ((h.train_acc, "C2", "train acc"), (h.test_acc, "C1", "test acc")):
                ax_acc.plot(epochs, values, style, color=color, alpha=alpha, ms=4, label=f"{what}, {name}")
        if history is not None and history.status == "diverged":
            ax_loss.text(0.5, 0.5, f"this run diverged in epoch {history.num_epochs + 1}\n(loss NaN/inf)",
                         transform=ax_loss.transAxes, ha="center", va="center", color="C3")
        ax_loss.set(xlabel="epoch", ylabel="training loss", xlim=(0.8, top + 0.2))
        ax_acc.set(xlabel="epoch", ylabel="accuracy", xlim=(0.8, top + 0.2), ylim=(0, 1))
        for ax in (ax_loss, ax_acc):
            ax.grid(True, alpha=0.3)
            ax.set_xticks(range(1, top + 1))
            if runs and any(h.num_epochs for h, *_ in runs):
                ax.legend(fontsize="x-small", loc="best")
        ax_loss.set_title(title or "no run yet", fontsize="small", loc="left")
        if previous is not None:
            ax_acc.set_title(f"dashed: run {previous.number} ({previous.describe()})",
                             fontsize="x-small", loc="left")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        return buf.getvalue()
