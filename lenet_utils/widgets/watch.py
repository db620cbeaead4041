"""Watch it learn: LeNet's first-layer kernels and the feature maps of one fixed test image redraw
while it trains, beside the loss and accuracy curves, with Pause / Resume / Step-one-batch buttons.

    from lenet_utils.widgets.watch import WatchItLearn
    watch = WatchItLearn("fashion-mnist")   # starts training in the background
    watch.show()                            # the widget; its saved picture is updated at the end

Training is ``lenet_utils.train.train_ch6`` in a background thread, so the buttons stay live. Its
``stop`` hook, called before every batch, is where a paused run waits (and where Step lets exactly
one batch through); its ``on_point`` checkpoints, every ``redraw_every`` batches, are where the
pictures are redrawn. Pausing ends nothing: the model, the optimizer and the history carry on.
"""

import html
import io
import threading
import time
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from ..checks import whole_number
from ..data import TensorLoader, load_data
from ..features import capture_feature_maps
from ..history import History, Point
from ..mode import pick
from ..train import train_ch6
from .private_torch import fresh_lenet, xavier_weights
from .saved_picture import SavedPicture, heat_image, picture_sheet, png_bytes

__all__ = ["WatchItLearn"]


def _strip(images: list[Image.Image], cols: int, gap: int = 3) -> Image.Image:
    """Equal-sized images in a grid of ``cols`` columns on white."""
    w, h = images[0].size
    rows = -(-len(images) // cols)
    sheet = Image.new("RGB", (cols * (w + gap) - gap, rows * (h + gap) - gap), "white")
    for i, img in enumerate(images):
        sheet.paste(img, ((i % cols) * (w + gap), (i // cols) * (h + gap)))
    return sheet


class WatchItLearn(SavedPicture):
    """Train a LeNet and watch its conv1 kernels and feature maps change, with pause/resume/step.

    ``data`` is a data set name (a class-balanced subset of ``train_size``/``test_size`` images is
    loaded) or a ``(train_iter, test_iter)`` pair. ``net`` defaults to ``make_lenet("relu")``, trained
    with ``optimizer`` (Adam) at ``lr``; it must have a ``kernels`` conv layer and the named
    feature-map ``layers``. The pictures are redrawn about every ``redraw_every`` batches;
    ``image_index`` picks the test image; ``slow_motion`` seconds pass before each batch (a slider:
    LeNet learns too fast to follow otherwise). Every run starts from d2l's Xavier initialisation
    drawn from a ``torch.Generator`` seeded with ``seed`` (the notebook's random numbers are left
    alone), and a loaded data set is shuffled with ``seed`` too.

    Python API: ``start()``, ``pause()``, ``resume()``, ``step()``, ``wait()``, ``stop()``,
    ``close()``; ``batches_done``, ``total_batches``, ``renders``, ``points`` (every checkpoint so
    far), ``kernel_distance`` (at each point: how far the kernels are from where they started,
    relative to their starting size), ``history`` (the run's History once an epoch or the run has
    ended, else None), ``paused``, ``finished``, ``error`` (what ended a failed run; ``wait()``
    raises it).
    """

    CURVES_EVERY_S = 1.0  # the curves are redrawn at most this often while training runs
    _current: "WatchItLearn | None" = None  # the latest started, whose start stops the one before

    def __init__(self, data: "str | tuple[TensorLoader, TensorLoader]" = "fashion-mnist", *,
                 net: nn.Module | None = None, train_size: int | None = None, test_size: int | None = None,
                 batch_size: int = 64, num_epochs: int | None = None, lr: float = 2e-3,
                 optimizer: str = "adam", redraw_every: int = 4, image_index: int = 0,
                 kernels: str = "conv1", layers: Sequence[str] = ("act1", "act2"),
                 slow_motion: float = 0.05, seed: int = 0,
                 device: "str | torch.device | None" = None, start: bool = True):
        if isinstance(data, str):
            data = load_data(data, batch_size, device=device,
                             train_size=pick(10_000, 2_000) if train_size is None else train_size,
                             test_size=1_000 if test_size is None else test_size, seed=seed, verbose=False)
        self.train_iter, self.test_iter = data
        if not 0 <= image_index < self.test_iter.num_examples:
            raise ValueError(f"image_index must lie in 0..{self.test_iter.num_examples - 1}, got {image_index}.")
        whole_number("redraw_every", redraw_every)
        if not 0 <= slow_motion <= 0.5:
            raise ValueError(f"slow_motion must lie on its slider, 0 to 0.5 s per batch; got {slow_motion!r}.")
        # the starting weights are drawn here, not in train_ch6, so that the first picture shows them
        generator = torch.Generator().manual_seed(seed)
        self.net = fresh_lenet(generator, activation="relu") if net is None else xavier_weights(net, generator)
        self.net.to(self.train_iter.device)
        modules = dict(self.net.named_modules())
        if not isinstance(modules.get(kernels), nn.Conv2d):
            raise ValueError(f"kernels={kernels!r} is not a Conv2d layer of this net; its convolutions "
                             f"are {[n for n, m in modules.items() if isinstance(m, nn.Conv2d)]}.")
        self.kernel_layer, self.layers = modules[kernels], list(layers)
        self.image = self.test_iter.X[image_index:image_index + 1]
        self.num_epochs = pick(3, 1) if num_epochs is None else whole_number("num_epochs", num_epochs)
        self.lr, self.optimizer = lr, optimizer
        self.points_per_epoch = max(1, len(self.train_iter) // redraw_every)
        self.total_batches = self.num_epochs * len(self.train_iter)
        self.batches_done, self.renders, self.points, self.kernel_distance = 0, 0, [], []
        self._kernels_at_start = self.kernel_layer.weight.detach().clone()
        self.history: History | None = None
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._paused = self._parked = self._cancel = self.finished = False
        self._released, self._allowance, self._drawn_at, self._curves_at = 0, 0, -1, 0.0
        self._thread: threading.Thread | None = None

        self.status = widgets.HTML()
        self.pause_button = widgets.Button(description="Pause", icon="pause")
        self.resume_button = widgets.Button(description="Resume", icon="play")
        self.step_button = widgets.Button(description="Step one batch", icon="step-forward")
        self.slow_motion = widgets.FloatSlider(value=slow_motion, min=0, max=0.5, step=0.01,
                                               description="s per batch", readout_format=".2f")
        self.kernels_view, self.maps_view, self.curves_view = (widgets.Image(format="png") for _ in range(3))
        for widget, css in ((self.status, "lenet-watch-status"), (self.pause_button, "lenet-watch-pause"),
                            (self.resume_button, "lenet-watch-resume"), (self.step_button, "lenet-watch-step"),
                            (self.kernels_view, "lenet-watch-kernels"), (self.maps_view, "lenet-watch-maps"),
                            (self.curves_view, "lenet-watch-curves")):
            widget.add_class(css)
        self.pause_button.on_click(lambda _: self.pause())
        self.resume_button.on_click(lambda _: self.resume())
        self.step_button.on_click(lambda _: self.step())
        pictures = widgets.VBox([widgets.HTML("<b>conv1 kernels</b> (red positive, blue negative, each on "
                                              "its own scale)"), self.kernels_view,
                                 widgets.HTML("<b>the test image and its feature maps</b>"), self.maps_view])
        self.ui = widgets.VBox([widgets.HBox([self.pause_button, self.resume_button, self.step_button,
                                              self.slow_motion]),
                                self.status, widgets.HBox([pictures, self.curves_view],
                                                          layout=widgets.Layout(align_items="flex-start"))])
        self.ui.add_class("lenet-watch")
        self._render()
        if start:
            self.start()

    # ---------------------------------------------------------------- public API

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self) -> "WatchItLearn":
        """Start training in a background thread (once). A run of another WatchItLearn still going
        is stopped (its model and history kept): running a notebook cell again starts afresh
        instead of sharing the CPU with the old run."""
        if self._thread is not None:
            raise RuntimeError("This widget has already trained its run; make a new WatchItLearn to train again.")
        previous, WatchItLearn._current = WatchItLearn._current, self
        if previous is not None:
            previous.stop()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lenet-watch-it-learn")
        self._thread.start()
        self._set_status()
        return self

    def pause(self, timeout: float = 60) -> int:
        """Hold training before its next batch and redraw; return ``batches_done``."""
        with self._cond:
            self._paused, self._allowance = True, 0
            self._cond.notify_all()
            if self._thread is not None:
                self._wait_for(lambda: self._parked or self.finished, timeout, "pause")
        self._set_status()
        return self.batches_done

    def step(self, timeout: float = 60) -> int:
        """Pause if running, then train exactly one batch and redraw; return ``batches_done``."""
        if self._thread is None:
            raise RuntimeError("Training has not started: call start() first.")
        self.pause(timeout)
        with self._cond:
            if self.finished:
                return self.batches_done
            target = self.batches_done + 1
            self._allowance += 1
            self._cond.notify_all()
            self._wait_for(lambda: (self._parked and self.batches_done >= target) or self.finished,
                           timeout, "step")
        self._set_status()
        return self.batches_done

    def resume(self) -> None:
        """Let training run on."""
        with self._cond:
            self._paused, self._allowance = False, 0
            self._cond.notify_all()
        self._set_status()

    def wait(self, timeout: float | None = None) -> "WatchItLearn":
        """Block until the run has ended, and raise the error that ended it if it failed (its
        History, status 'failed', stays in ``history``). A paused run would never end, so that
        raises instead."""
        if self._paused and not self.finished:
            raise RuntimeError("The run is paused: click Resume (or call resume()) before waiting for it.")
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"The run was still training after {timeout} s.")
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        """End the run before its next batch (status 'stopped'; the model and history are kept)."""
        with self._cond:
            self._cancel = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def close(self) -> None:
        """Stop the run and close the widget."""
        self.stop()
        self.ui.close()

    def snapshot(self) -> bytes:
        """A PNG of what the widget shows now (for saved notebooks and print)."""
        rows = [[(Image.open(io.BytesIO(view.value)), caption)] for view, caption in
                ((self.kernels_view, "conv1 kernels (red +, blue -)"),
                 (self.maps_view, "the test image and its feature maps"), (self.curves_view, ""))]
        return picture_sheet(rows, [self._status_text()])

    def summary(self) -> str:
        """The status line (the picture saved with the notebook is updated when the run ends)."""
        return f"WatchItLearn: {self._status_text()}"

    # ---------------------------------------------------------------- training

    def _wait_for(self, predicate, timeout: float, what: str) -> None:
        if not self._cond.wait_for(predicate, timeout):
            raise TimeoutError(f"{what} did not take effect within {timeout} s (is a batch stuck?).")

    def _run(self) -> None:
        history = None
        try:
            history = train_ch6(self.net, self.train_iter, self.test_iter, self.num_epochs, self.lr,
                                optimizer=self.optimizer, stop=self._gate, on_point=self._on_point,
                                points_per_epoch=self.points_per_epoch, callback=self._on_epoch,
                                animate=False, init=False, verbose=False, label="watch it learn")
        except Exception as err:  # shown in the widget and raised by wait()
            self.error, history = err, getattr(err, "history", None)  # train_ch6 attaches its History
        finally:
            with self._cond:
                self.batches_done, self.finished = self._released, True
                self._cond.notify_all()
            self.history = history or self.history
            self._render()
            self.refresh_picture()

    def _gate(self) -> bool:
        """train_ch6's stop hook, before every batch: count, and hold here while paused."""
        with self._cond:
            self.batches_done = self._released
            self._cond.notify_all()
            if self.slow_motion.value > 0:  # a pause or close cuts the wait short
                self._cond.wait_for(lambda: self._paused or self._cancel, self.slow_motion.value)
        while True:
            with self._cond:
                if self._cancel:
                    return True
                if not self._paused or self._allowance > 0:
                    if self._paused:
                        self._allowance -= 1
                    self._released += 1
                    self._parked = False
                    return False
                if self._drawn_at == self.batches_done:
                    self._parked = True
                    self._set_status()
                    self._cond.notify_all()
                    self._cond.wait()
                    continue
            self._render()  # outside the lock: the buttons stay answerable while it draws

    def _on_point(self, point: Point, net: nn.Module) -> None:
        self.points.append(point)
        moved = (self.kernel_layer.weight.detach() - self._kernels_at_start).norm()
        self.kernel_distance.append(float(moved / self._kernels_at_start.norm()))
        self._render(curves=False)

    def _on_epoch(self, history: History) -> None:
        self.history = history

    # ---------------------------------------------------------------- the pictures

    def _status_text(self) -> str:
        held = self._parked or self._thread is None
        state = ("error: " + str(self.error) if self.error else "finished" if self.finished
                 else ("paused" if held else "pausing") if self._paused
                 else "running" if self._thread else "not started")
        last = self.points[-1] if self.points else None
        loss = f", train loss {last.train_loss:.3f}, train acc {last.train_acc:.3f}" if last else ""
        return f"batch {self.batches_done} of {self.total_batches}{loss} ({state})"

    def _set_status(self) -> None:
        self.status.value = html.escape(self._status_text())
        finished = self.finished
        self.pause_button.disabled = finished or self._paused
        self.resume_button.disabled = finished or not self._paused
        self.step_button.disabled = finished or self._thread is None

    def _render(self, curves: bool = True) -> None:
        """Redraw kernels and feature maps from the net as it is now, and the curves when
        ``curves`` or when they are more than ``CURVES_EVERY_S`` old (matplotlib is the slow part)."""
        weight = self.kernel_layer.weight.detach().float().mean(dim=1).cpu()  # over input channels
        self.kernels_view.value = png_bytes(_strip([heat_image(k, float(k.abs().max()) or 1.0, scale=12)
                                                    for k in weight], 8, gap=8))  # each on its own scale
        maps = capture_feature_maps(self.net, self.image, self.layers)
        rows = [heat_image(self.image[0].mean(dim=0).cpu(), 1.0, "gray", vmin=0.0, scale=3)]
        for out in maps.values():
            out = out[0]
            vmax, vmin = float(out.max()), float(out.min())
            rows.append(_strip([heat_image(m, vmax, "gray", vmin=vmin, scale=max(2, 84 // m.shape[-1]))
                                for m in out], cols=8))
        width = max(r.width for r in rows)
        sheet = Image.new("RGB", (width, sum(r.height + 6 for r in rows)), "white")
        y = 0
        for r in rows:
            sheet.paste(r, (0, y))
            y += r.height + 6
        self.maps_view.value = png_bytes(sheet)
        if curves or time.monotonic() - self._curves_at > self.CURVES_EVERY_S:
            self.curves_view.value = self._curves()
            self._curves_at = time.monotonic()
            with self._cond:  # everything shown is now of this batch (a paused run need not redraw)
                self._drawn_at = self.batches_done
        self.renders += 1
        self._set_status()

    def _curves(self) -> bytes:
        fig = Figure(figsize=(4.2, 3.0))
        ax = fig.subplots()
        if self.points:
            x = [p.epoch for p in self.points]
            ax.plot(x, [p.train_loss for p in self.points], ".-", color="C0", label="train loss")
            ax.plot(x, [p.train_acc for p in self.points], ".--", color="C2", label="train acc")
            tested = [p for p in self.points if p.test_acc is not None]
            ax.plot([p.epoch for p in tested], [p.test_acc for p in tested], "o-", color="C1", label="test acc")
            ax.legend(fontsize="small", loc="center right")
        ax.set(xlabel="epoch", xlim=(0, self.num_epochs), ylim=(0, max([2.4] + [p.train_loss for p in self.points])))
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        return buf.getvalue()
