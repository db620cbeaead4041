"""Watch it learn: LeNet's first-layer kernels and the feature maps of one fixed test image redraw
while it trains, beside the loss and accuracy curves, with Pause / Resume / Step / Restart buttons.

    from lenet_utils.widgets.watch import WatchItLearn
    watch = WatchItLearn("fashion-mnist")   # starts training in the background
    watch.show()                            # the widget; its saved picture is updated at the end

Training is ``lenet_utils.train.train_ch6`` in a background thread, so the buttons stay live. Its
``hook``, called before every batch, is where a paused run waits (and where Step lets a few
batches through), and where the pictures are redrawn after each new checkpoint (every
``redraw_every`` batches). Pausing ends nothing: the model, the optimizer and the history carry on.
Restart trains the same net again from its starting weights. Each row of pictures keeps one colour
scale for the whole run (set at the start with room to grow, widened only if a value leaves it), so
a kernel or map that changes looks changed; the training curves are moving means over recent
batches, so they do not restart at each epoch. ``watch.table()`` is the latest run in figures.
"""

import functools
import html
import io
import threading
import time
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from PIL import Image, ImageDraw
from torch import nn

from ..checks import learning_rate, whole_number
from ..data import TensorLoader, load_data
from ..features import capture_feature_maps
from ..history import History
from ..plot import epoch_curves_figure, interval_means, moving_means
from ..quick_mode import pick
from ..sources import dataset_info
from ..tables import format_table
from ..plain_loop import init_weights
from ..train import train_ch6
from .torch_state import fresh_lenet
from .saved_picture import SavedPicture, colour_bar, font, heat_image, png_bytes

__all__ = ["WatchItLearn"]

WATCHABLE_RUN_S = 20  #: the default pace (slow motion) makes a whole run last at least about this long
FONT_PX = 14  #: the text drawn into the pictures (the notebook's own text is 13 px)
INDEX_PX = 12  #: the numbers under the tiles, as the colour bars' labels
INDEX_H = INDEX_PX + 4  #: the band under a row of tiles that holds their numbers
PICTURES_W = 540  #: the widest a row of feature maps may be, in pixels, not counting its colour bar
GAP = 10  #: pixels between the pictures
LABEL_RGB = (60, 60, 60)  #: the colour of the labels and numbers
HEADROOM = 1.5  #: a row's colour scale at the start spans this many times its values then (they grow)
MEAN_OF_BATCHES = 32  #: the training curves are moving means over about this many batches
#: The pictures sit on one white card (they are drawn on white), whatever JupyterLab's theme.
CARD_CSS = ("<style>.lenet-watch-card { background: white; padding: 8px; border-radius: 4px; "
            "flex-flow: row wrap; }</style>")


def _grid(images: list[Image.Image], cols: int, gap: int = 3) -> Image.Image:
    """Equal-sized images in a grid of ``cols`` columns on white, each numbered (0, 1, ...) in
    ``INDEX_PX`` text centred under it.

        _grid([heat_image(m, 1.0, "gray", vmin=0.0) for m in maps], cols=8)   # maps 0..15 in 2 rows
    """
    w, h = images[0].size
    rows = -(-len(images) // cols)
    sheet = Image.new("RGB", (cols * (w + gap) - gap, rows * (h + INDEX_H + gap) - gap), "white")
    draw, index_font = ImageDraw.Draw(sheet), font(INDEX_PX)
    for i, img in enumerate(images):
        x, y = (i % cols) * (w + gap), (i // cols) * (h + INDEX_H + gap)
        sheet.paste(img, (x, y))
        draw.text((x + (w - round(index_font.getlength(str(i)))) // 2, y + h + 1), str(i),
                  fill=LABEL_RGB, font=index_font)
    return sheet


def _beside(tiles: Image.Image, bar: Image.Image) -> Image.Image:
    """A colour bar to the right of ``tiles``, top-aligned.

        _beside(image, colour_bar(0.0, 1.0, "gray", image.height))
    """
    both = Image.new("RGB", (tiles.width + 8 + bar.width, max(tiles.height, bar.height)), "white")
    both.paste(tiles, (0, 0))
    both.paste(bar, (tiles.width + 8, 0))
    return both


def _grey_range(maps: torch.Tensor) -> tuple[float, float]:
    """The (lowest, highest) finite value of ``maps``, highest > lowest (0 to 1 when none is finite,
    as after a diverged step): the grey scale of a row of maps and of its colour bar.

        _grey_range(torch.tensor([0.0, 2.5, float("nan")]))   # (0.0, 2.5)
    """
    finite = maps[torch.isfinite(maps)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 1.0)
    return lo, hi if hi > lo else lo + 1.0


def _widened(scale: "tuple[float, float] | None", lo: float, hi: float, symmetric: bool) -> tuple[float, float]:
    """A row's colour scale after values from ``lo`` to ``hi``: at the start (``scale`` None) their
    range with :data:`HEADROOM` to grow into (from 0 up when ``lo`` >= 0; around 0 when
    ``symmetric``), later ``scale`` widened only as far as the values leave it.

        _widened(None, 0.0, 2.0, False)          # (0.0, 3.0)
        _widened((0.0, 3.0), 0.0, 4.0, False)    # (0.0, 4.0)
    """
    if scale is None:
        if symmetric:
            top = HEADROOM * max(abs(lo), abs(hi))
            return -top, top
        grow = (HEADROOM - 1) * (hi - lo)
        return (lo, hi + grow) if lo >= 0 else (lo - grow / 2, hi + grow / 2)
    if symmetric:
        top = max(scale[1], abs(lo), abs(hi))
        return -top, top
    return min(scale[0], lo), max(scale[1], hi)


def _labelled(heading: str, parts: list[tuple[str, Image.Image]]) -> Image.Image:
    """``heading``, then pictures stacked on white, each under its label."""
    text_font, line = font(FONT_PX), FONT_PX + 6
    texts = [heading] + [label for label, _ in parts]
    width = max([int(text_font.getlength(t)) for t in texts] + [img.width for _, img in parts])
    sheet = Image.new("RGB", (width, line + 4 + sum(line + img.height + 8 for _, img in parts) - 8), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((0, 0), heading, fill="black", font=text_font)
    y = line + 4
    for label, img in parts:
        draw.text((0, y), label, fill=LABEL_RGB, font=text_font)
        sheet.paste(img, (0, y + line))
        y += line + img.height + 8
    return sheet


class WatchItLearn(SavedPicture):
    """Train a LeNet and watch its conv1 kernels and feature maps change, with pause/resume/step/restart.

    ``data`` is a data set name (a class-balanced subset of ``train_size``/``test_size`` images is
    loaded) or a ``(train_iter, test_iter)`` pair. ``net`` defaults to ``make_lenet("relu")``, trained
    with ``optimizer`` (Adam) at ``lr``; it must have a ``kernels`` conv layer and the named
    feature-map ``layers``. The pictures are redrawn about every ``redraw_every`` batches;
    ``image_index`` picks the test image; the Step button trains ``step_batches`` batches;
    ``slow_motion`` seconds pass before each batch (a slider, 0 to 0.5 s; by default the pace at
    which the run lasts about ``WATCHABLE_RUN_S`` seconds, at least 0.05 s a batch: LeNet learns
    too fast to follow otherwise). Every run starts from d2l's Xavier initialisation drawn from a
    ``torch.Generator`` seeded with ``seed`` (the notebook's random numbers are left alone), and a
    loaded data set is shuffled with ``seed`` too.

    Python API: ``start()``, ``pause()``, ``resume()``, ``step()``, ``restart()``, ``wait()``,
    ``stop()``, ``close()``; ``batches_done``, ``total_batches``, ``renders``, ``points`` (every
    checkpoint so far), ``kernel_distance`` (at each point: how far the kernels are from where they
    started, relative to their starting size), ``history`` (the run's History once an epoch or the
    run has ended, else None), ``table()`` (the latest run in figures), ``state`` ('not started',
    'running', 'pausing', 'stepping', 'paused', 'stopped', 'finished' or 'failed'), ``paused``,
    ``finished``, ``error`` (what ended a failed run; ``wait()`` raises it).

        watch = WatchItLearn("mnist", start=False, step_batches=4)
        watch.pause(); watch.start(); watch.step()   # 4 batches trained, then held
    """

    CURVES_EVERY_S = 1.0  # the curves are redrawn at most this often while training runs
    _current: "WatchItLearn | None" = None  # the latest started, whose start stops the one before

    def __init__(self, data: "str | tuple[TensorLoader, TensorLoader]" = "fashion-mnist", *,
                 net: nn.Module | None = None, train_size: int | None = None, test_size: int | None = None,
                 batch_size: int = 64, num_epochs: int | None = None, lr: float = 2e-3,
                 optimizer: str = "adam", redraw_every: int = 4, step_batches: int = 8, image_index: int = 0,
                 kernels: str = "conv1", layers: Sequence[str] = ("act1", "act2"),
                 slow_motion: float | None = None, seed: int = 0,
                 device: "str | torch.device | None" = None, start: bool = True):
        self.class_names = None
        if isinstance(data, str):
            self.class_names = dataset_info(data).classes
            data = load_data(data, batch_size, device=device,
                             train_size=pick(10_000, 2_000) if train_size is None else train_size,
                             test_size=1_000 if test_size is None else test_size, seed=seed, verbose=False)
        self.train_iter, self.test_iter = data
        whole_number("image_index", image_index, low=0, high=self.test_iter.num_examples - 1)
        learning_rate(lr)
        whole_number("redraw_every", redraw_every)
        self.step_batches = whole_number("step_batches", step_batches)
        self.num_epochs = pick(3, 2) if num_epochs is None else whole_number("num_epochs", num_epochs)
        self.total_batches = self.num_epochs * len(self.train_iter)
        if slow_motion is None:
            slow_motion = min(0.5, max(0.05, round(WATCHABLE_RUN_S / self.total_batches, 2)))
        if not 0 <= slow_motion <= 0.5:
            raise ValueError(f"slow_motion must lie on its slider, 0 to 0.5 s per batch; got {slow_motion!r}.")
        # the starting weights are drawn here, not in train_ch6, so that the first picture shows them
        generator = torch.Generator().manual_seed(seed)
        if net is None:
            net = fresh_lenet(generator, activation="relu")
        else:  # d2l's initialisation, drawn on the CPU from this widget's own generator
            net.cpu().apply(functools.partial(init_weights, generator=generator))
        self.net = net
        self.net.to(self.train_iter.device)
        self._start_weights = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        modules = dict(self.net.named_modules())
        if not isinstance(modules.get(kernels), nn.Conv2d):
            raise ValueError(f"kernels={kernels!r} is not a Conv2d layer of this net; its convolutions "
                             f"are {[n for n, m in modules.items() if isinstance(m, nn.Conv2d)]}.")
        if isinstance(layers, str):  # list("act1") would be four one-letter names
            raise ValueError(f"layers={layers!r} is one name: give a list of layer names, e.g. "
                             f"layers=[{layers!r}].")
        self.kernels_name, self.kernel_layer, self.layers = kernels, modules[kernels], list(layers)
        unknown = [name for name in self.layers if name not in modules]
        if unknown:
            raise ValueError(f"layers={self.layers!r}: this net has no layer named {unknown}; its layers "
                             f"are {[n for n in modules if n]}.")
        self.image_index = image_index
        self.image = self.test_iter.X[image_index:image_index + 1]
        self.lr, self.optimizer = lr, optimizer
        self.points_per_epoch = max(1, len(self.train_iter) // redraw_every)
        self.renders = 0
        self._cond = threading.Condition()
        self._new_run()

        self.status = widgets.HTML()
        self.pause_button = widgets.Button(description="Pause", icon="pause",
                                           tooltip="Hold training before its next batch")
        self.resume_button = widgets.Button(description="Resume", icon="play", tooltip="Let training run on")
        self.step_button = widgets.Button(
            description=f"Step {self.step_batches} batch{'es' if self.step_batches > 1 else ''}",
            icon="step-forward",
            tooltip=f"Pause, train {self.step_batches} more batch(es) "
                    f"({self.step_batches * self.train_iter.batch_size} images) at full speed, redraw and "
                    f"stay paused (Resume runs on)")
        self.restart_button = widgets.Button(description="Restart", icon="refresh",
                                             tooltip="Stop this run and train the net again from its starting weights")
        self.slow_motion = widgets.FloatSlider(value=slow_motion, min=0, max=0.5, step=0.01,
                                               description="s per batch", readout_format=".2f")
        self.kernels_view, self.maps_view, self.curves_view = (
            widgets.Image(format="png", layout={"flex": "0 0 auto"}) for _ in range(3))
        for widget, css in ((self.status, "lenet-watch-status"), (self.pause_button, "lenet-watch-pause"),
                            (self.resume_button, "lenet-watch-resume"), (self.step_button, "lenet-watch-step"),
                            (self.restart_button, "lenet-watch-restart"),
                            (self.kernels_view, "lenet-watch-kernels"), (self.maps_view, "lenet-watch-maps"),
                            (self.curves_view, "lenet-watch-curves")):
            widget.add_class(css)
        self.pause_button.on_click(lambda _: self.pause())
        self.resume_button.on_click(lambda _: self.resume())
        self.step_button.on_click(lambda _: self.step())
        self.restart_button.on_click(lambda _: self.restart())
        # rows that wrap instead of clipping or scrolling; the pictures on one white card
        wrap = {"flex_flow": "row wrap", "grid_gap": f"{GAP}px", "align_items": "flex-start",
                "overflow": "visible"}
        card = widgets.Box([widgets.VBox([self.kernels_view, self.maps_view],
                                         layout={"grid_gap": f"{GAP}px", "flex": "0 0 auto",
                                                 "overflow": "visible"}),
                            self.curves_view], layout=wrap)
        card.add_class("lenet-watch-card")
        self.ui = widgets.VBox([widgets.Box([self.pause_button, self.resume_button, self.step_button,
                                             self.restart_button, self.slow_motion], layout=wrap),
                                self.status, card, widgets.HTML(CARD_CSS)], layout={"overflow": "visible"})
        self.ui.add_class("lenet-watch")
        self._render()
        if start:
            self.start()

    # ---------------------------------------------------------------- public API

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def state(self) -> str:
        """'not started', 'running', 'pausing' (held at the next batch), 'stepping', 'paused',
        'stopped', 'finished' or 'failed'."""
        if self.finished:
            return "failed" if self.error else "stopped" if self._cancel else "finished"
        if self._thread is None:
            return "not started"
        if self._paused:
            if self._allowance > 0 or self._stepping:
                return "stepping"
            return "paused" if self._parked else "pausing"
        return "running"

    def start(self) -> "WatchItLearn":
        """Start training in a background thread (once; ``restart()`` trains again). A run of
        another WatchItLearn still going is stopped (its model and history kept): running a
        notebook cell again starts afresh instead of sharing the CPU with the old run."""
        if self._thread is not None:
            raise RuntimeError("This widget has already started its run: call restart() (or click "
                               "Restart) to train again from the starting weights.")
        previous, WatchItLearn._current = WatchItLearn._current, self
        if previous is not None and previous is not self:
            previous.stop()
        with self._cond:
            self._thread = threading.Thread(target=self._run, daemon=True, name="lenet-watch-it-learn")
            self._thread.start()
        self._set_status()
        return self

    def restart(self) -> "WatchItLearn":
        """Stop this run (if any) and train again, running, from the starting weights: the points,
        kernel distances, history and colour scales start afresh. The status and buttons go from
        the old run's straight to the new one's."""
        self._restarting = True  # the stopped run's last frame shows no status of its own
        self.stop()
        with self._cond:
            self._new_run()
        self._render(status=False)
        return self.start()

    def pause(self, timeout: float = 60) -> int:
        """Hold training before its next batch and redraw; return ``batches_done``."""
        with self._cond:
            self._paused, self._allowance, self._stepped = True, 0, 0
            self._cond.notify_all()
            if self._thread is not None:
                self._set_status()  # 'pausing', Resume live, until the run holds
                self._wait_for(lambda: self._parked or self.finished, timeout, "pause")
        self._set_status()
        return self.batches_done

    def step(self, batches: int | None = None, timeout: float = 60) -> int:
        """Pause if running, then train ``batches`` more batches (default ``step_batches``, what
        the Step button trains) at full speed, redraw, and stay paused (the status says so; Resume
        runs on); return ``batches_done``.

            watch.step(1)   # exactly one batch
        """
        count = self.step_batches if batches is None else whole_number("batches", batches)
        if self._thread is None:
            raise RuntimeError("Training has not started: call start() first.")
        self.pause(timeout)
        with self._cond:
            if self.finished:
                return self.batches_done
            target = self.batches_done + count
            self._allowance, self._stepping = self._allowance + count, True
            self._cond.notify_all()
            try:
                self._wait_for(lambda: (self._parked and self.batches_done >= target) or self.finished,
                               timeout, "step")
            finally:
                self._stepping = False
            self._stepped = count if not self.finished else 0
        self._set_status()
        return self.batches_done

    def resume(self) -> None:
        """Let training run on."""
        with self._cond:
            self._paused, self._allowance, self._stepped = False, 0, 0
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

    def table(self) -> str:
        """The latest run in figures (after a restart, the new run's): how it ended, then at a
        quarter, half and three quarters of the first epoch and at the end of each epoch, the
        training loss (the curve's moving mean) and how far the kernels had moved from their start.

            watch.resume(); watch.wait(); print(watch.table())
        """
        if not self.points:
            return f"no batch trained yet ({self.state})"
        losses = self._moving(self.points, "train_loss")
        rows = []
        for mark in sorted({0.25, 0.5, 0.75} | set(range(1, self.num_epochs + 1))):
            i = min(range(len(self.points)), key=lambda i: abs(self.points[i].epoch - mark))
            if (f"{self.points[i].epoch:.2f}",) not in [row[:1] for row in rows]:
                rows.append((f"{self.points[i].epoch:.2f}", f"{losses[i]:.3f}", f"{self.kernel_distance[i]:.3f}"))
        history = self.history
        head = (f"run {history.status}: test accuracy {history.final_test_acc:.3f} after "
                f"{history.num_epochs} epoch(s)" if history is not None and history.num_epochs
                else f"run {self.state}: batch {self.batches_done} of {self.total_batches}")
        return head + "\n" + format_table(
            ["epoch", f"train loss (last {self._mean_batches} batches)", "kernels moved (relative to their start)"],
            rows)

    def snapshot(self) -> bytes:
        """A PNG of what the widget shows now, laid out as the widget: the status line, then the
        kernels above the feature maps, the curves to their right (for saved notebooks and print)."""
        kernels, maps, curves = (Image.open(io.BytesIO(view.value)).convert("RGB")
                                 for view in (self.kernels_view, self.maps_view, self.curves_view))
        text_font, line = font(FONT_PX), FONT_PX + 8
        status = self._status_text()
        left_w, left_h = max(kernels.width, maps.width), kernels.height + GAP + maps.height
        width = max(GAP + left_w + GAP + curves.width, int(text_font.getlength(status))) + GAP
        sheet = Image.new("RGB", (width, GAP + line + max(left_h, curves.height) + GAP), "white")
        ImageDraw.Draw(sheet).text((GAP, GAP), status, fill="black", font=text_font)
        top = GAP + line
        sheet.paste(kernels, (GAP, top))
        sheet.paste(maps, (GAP, top + kernels.height + GAP))
        sheet.paste(curves, (GAP + left_w + GAP, top))
        return png_bytes(sheet)

    def summary(self) -> str:
        """The status line once the run has ended, else what the widget is: the picture saved with
        the notebook is updated when the run ends, and an earlier text would contradict it."""
        if self.finished:
            return f"WatchItLearn: {self._status_text()}"
        return "WatchItLearn: LeNet's conv1 kernels and feature maps while it trains"

    # ---------------------------------------------------------------- training

    def _new_run(self) -> None:
        """The net back at its starting weights and nothing trained or recorded (no thread runs)."""
        self.net.load_state_dict(self._start_weights)
        self.batches_done, self.points, self.kernel_distance = 0, [], []
        self.history: History | None = None
        self._epochs_shown = 0
        self.error: BaseException | None = None
        self._paused = self._parked = self._cancel = self.finished = self._stepping = self._restarting = False
        self._released, self._allowance, self._stepped, self._drawn_at, self._curves_at = 0, 0, 0, -1, 0.0
        self._scales: dict[str, tuple[float, float]] = {}  # per row of pictures, fixed over the run
        self._thread: threading.Thread | None = None

    def _wait_for(self, predicate, timeout: float, what: str) -> None:
        if not self._cond.wait_for(predicate, timeout):
            raise TimeoutError(f"{what} did not take effect within {timeout} s (is a batch stuck?).")

    def _run(self) -> None:
        history = None
        try:
            history = train_ch6(self.net, self.train_iter, self.test_iter, self.num_epochs, self.lr,
                                optimizer=self.optimizer, hook=self._hook,
                                points_per_epoch=self.points_per_epoch, animate=False, init=False,
                                verbose=False, label="watch it learn")
        except Exception as err:  # shown in the widget and raised by wait()
            self.error, history = err, getattr(err, "history", None)  # train_ch6 attaches its History
        finally:
            if history is not None:
                self._record_points(history)  # the last ones, taken after the last batch
            with self._cond:
                self.batches_done, self.finished = self._released, True
                self._cond.notify_all()
            self.history = history or self.history
            restarting = self._restarting  # restart() shows the new run's state next
            self._render(status=not restarting)
            if not restarting:
                self.refresh_picture()

    def _hook(self, history: History, net: nn.Module) -> bool:
        """train_ch6's hook, before every batch: the points taken since the last batch, then the gate."""
        self._record_points(history)
        if history.num_epochs > self._epochs_shown:  # an epoch ended: its test accuracy, at once
            self.history, self._epochs_shown = history, history.num_epochs
            self._render()
        return self._gate()

    def _gate(self) -> bool:
        """Before every batch: count, and hold here while paused; True once the run is cancelled."""
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
                    if not self._stepping:
                        self._set_status()  # held: 'paused' (a step's end is shown by step())
                    self._cond.notify_all()
                    self._cond.wait()
                    continue
            self._render()  # outside the lock: the buttons stay answerable while it draws

    def _record_points(self, history: History) -> None:
        """Each point of ``history`` not seen yet, with how far the kernels had moved then (no batch
        has run since it was taken); the pictures redrawn."""
        new = history.points[len(self.points):]
        for point in new:
            self.points.append(point)
            moved = (self.kernel_layer.weight.detach() - self._start_weights[f"{self.kernels_name}.weight"]).norm()
            self.kernel_distance.append(float(moved / self._start_weights[f"{self.kernels_name}.weight"].norm()))
        if new:
            self._render(curves=False)

    # ---------------------------------------------------------------- the pictures

    @property
    def _mean_batches(self) -> int:
        """How many batches the training curves' moving means cover."""
        return self._window * max(1, len(self.train_iter) // self.points_per_epoch)

    @property
    def _window(self) -> int:
        """How many points the training curves' moving means cover (about MEAN_OF_BATCHES batches)."""
        per_point = max(1, len(self.train_iter) // self.points_per_epoch)
        return max(1, round(MEAN_OF_BATCHES / per_point))

    def _moving(self, points: list, name: str) -> list[float]:
        return moving_means(interval_means(points, name), self._window)

    def _status_text(self) -> str:
        state = self.state
        if self.error:
            state = f"failed: {self.error}"
        elif state == "paused" and self._stepped:
            state = f"paused after a step of {self._stepped} batch{'es' if self._stepped > 1 else ''}: Resume runs on"
        elif state == "pausing":
            state = "pausing: it holds before the next batch"
        parts = [f"batch {self.batches_done} of {self.total_batches}"]
        if self.points:
            loss, acc = (self._moving(self.points, name)[-1] for name in ("train_loss", "train_acc"))
            parts.append(f"train loss {loss:.3f}, train acc {acc:.3f}")
        tested = [p for p in self.points if p.test_acc is not None]
        if tested:
            parts.append(f"test acc {tested[-1].test_acc:.3f} after epoch {round(tested[-1].epoch)}")
        return f"{', '.join(parts)} ({state})"

    def _set_status(self) -> None:
        """The status line and the buttons, from one reading of the state (under the lock, so two
        threads never mix one state's text with another's buttons)."""
        with self._cond:
            state, text = self.state, html.escape(self._status_text())
            self.status.value = text
            self.pause_button.disabled = state not in ("running", "not started")
            self.resume_button.disabled = state not in ("pausing", "paused", "stepping")
            self.step_button.disabled = state not in ("running", "pausing", "paused")
            self.restart_button.disabled = state == "not started"

    def _layer_label(self, name: str, maps: torch.Tensor) -> str:
        """'act1 = ReLU(conv1): 6 maps of 28×28' (naming the convolution before a layer that is not one)."""
        names = [n for n, m in self.net.named_modules() if n and not list(m.children())]  # leaves, in order
        module = dict(self.net.named_modules())[name]
        before = names[:next(i for i, n in enumerate(names) if n == name or n.startswith(name + "."))]
        conv = next((n for n in reversed(before) if isinstance(self.net.get_submodule(n), nn.Conv2d)), None)
        what = name if isinstance(module, nn.Conv2d) or conv is None else f"{name} = {type(module).__name__}({conv})"
        count, h, w = maps.shape
        return f"{what}: {count} maps of {h}×{w}"

    def _scale(self, row: str, values: torch.Tensor, symmetric: bool = False) -> tuple[float, float]:
        """Row ``row``'s colour scale for ``values``: fixed over the run (see :func:`_widened`)."""
        lo, hi = _grey_range(values)
        self._scales[row] = _widened(self._scales.get(row), lo, hi, symmetric)
        return self._scales[row]

    def _maps_picture(self) -> Image.Image:
        """The test image and, row by row, its feature maps at each of ``layers``: each row labelled,
        its maps numbered and on one grey scale kept over the run, shown by a colour bar."""
        label = int(self.test_iter.y[self.image_index])
        named = f"{self.class_names[label]} (class {label})" if self.class_names else f"class {label}"
        image = heat_image(self.image[0].mean(dim=0).cpu(), 1.0, "gray", vmin=0.0, scale=3)
        parts = [(f"input: test image {self.image_index}, {named}",
                  _beside(image, colour_bar(0.0, 1.0, "gray", image.height)))]
        for name, out in capture_feature_maps(self.net, self.image, self.layers).items():
            out = out[0]
            if out.dim() != 3:
                raise ValueError(f"layers: {name!r} puts out {tuple(out.shape)}, not maps (channels x "
                                 f"height x width); name convolution or activation layers.")
            count, _, w = out.shape
            cols = min(8, count)
            scale = max(2, min(84 // w, (PICTURES_W // cols - 3) // w))
            vmin, vmax = self._scale(name, out)
            tiles = _grid([heat_image(m, vmax, "gray", vmin=vmin, scale=scale) for m in out], cols)
            bar = colour_bar(vmin, vmax, "gray", tiles.height - INDEX_H)  # top row's top to last row's foot
            parts.append((self._layer_label(name, out), _beside(tiles, bar)))
        return _labelled("feature maps (each row on one grey scale, kept for the whole run)", parts)

    def _kernels_picture(self) -> Image.Image:
        weight = self.kernel_layer.weight.detach().float().mean(dim=1).cpu()  # over input channels
        _, vmax = self._scale(self.kernels_name, weight, symmetric=True)
        kernels = _grid([heat_image(k, vmax, scale=12) for k in weight], min(8, len(weight)), gap=8)
        label = (f"{len(weight)} kernels of {weight.shape[-2]}×{weight.shape[-1]}: red positive, "
                 f"blue negative, one scale for the run")
        return _labelled(f"{self.kernels_name} kernels",
                         [(label, _beside(kernels, colour_bar(-vmax, vmax, "RdBu_r", kernels.height - INDEX_H)))])

    def _render(self, curves: bool = True, status: bool = True) -> None:
        """Redraw kernels and feature maps from the net as it is now, and the curves when
        ``curves`` or when they are more than ``CURVES_EVERY_S`` old (matplotlib is the slow part);
        then the status and buttons unless ``status`` is False."""
        for view, img in ((self.kernels_view, self._kernels_picture()), (self.maps_view, self._maps_picture())):
            view.value = png_bytes(img, compress_level=1)  # fast: redrawn while training; snapshot() re-encodes
            view.layout.width = f"{img.width}px"  # shown at its natural size, never stretched
        if curves or time.monotonic() - self._curves_at > self.CURVES_EVERY_S:
            fig = epoch_curves_figure(self.points, self.num_epochs, self._window, self._mean_batches)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=fig.dpi)
            self.curves_view.value = buf.getvalue()
            self.curves_view.layout.width = f"{round(fig.get_figwidth() * fig.dpi)}px"
            self._curves_at = time.monotonic()
            with self._cond:  # everything shown is now of this batch (a paused run need not redraw)
                self._drawn_at = self.batches_done
        self.renders += 1
        if status:
            self._set_status()
