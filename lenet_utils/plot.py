"""Curves over training time: live training curves (d2l's ``Animator``), runs side by side
(:func:`plot_history`), a sweep's runs (:func:`plot_runs`, :func:`plot_best_worst`) and the
ladder's rungs (:func:`plot_ladder`), a search comparison's best so far
(:func:`plot_best_so_far`), the watch widget's run against epochs
(:func:`epoch_curves_figure`). Plain matplotlib; IPython is imported only when a Jupyter
kernel is there to show a live figure. The slider panel's runs (:func:`draw_runs`, redrawn while one
trains by :class:`LivePicture`) and :func:`plot_runs` draw each run's line through :func:`draw_run`,
named by :func:`run_label`. Pictures that are not curves (image grids, heatmaps,
confusion matrices) are in :mod:`lenet_utils.pictures`.
"""

import io
import math
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import offset_copy
from PIL import Image

from .history import History

__all__ = ["Animator", "plot_history", "plot_runs", "plot_best_worst", "plot_ladder",
           "run_label", "draw_run", "RunCurves", "run_style", "draw_runs", "LivePicture", "PICTURE_PX", "PICTURE_MIN_PX", "MIN_TEXT_PX",
           "plot_best_so_far", "epoch_curves_figure", "interval_means", "moving_means"]


def _kernel_display():
    """IPython's ``display`` when this code runs inside a Jupyter kernel, else None.

    A plain script, a terminal IPython or a machine without IPython gets None: no live output.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return display


class Animator:
    """Curves that grow while a model trains (d2l's ``Animator``, same arguments).

    ``add(x, ys)`` appends one point to each curve (``None`` skips a curve); every point is drawn
    with a marker, so a curve of a single point (one epoch's test accuracy) shows. ``ylabel``
    defaults to what the legend's curves measure ('loss / acc' for d2l's legend); ``xlim`` and
    ``ylim`` are widened a little so that markers at the limits stay whole, and a limit with equal
    ends (d2l's ``xlim=[1, num_epochs]`` with one epoch) spans the points instead. In JupyterLab the
    figure is a single output that is redrawn in place through one display handle: no flicker, no
    pile of stacked images, and the same single output under nbval/nbclient. Redraws are throttled
    to one per ``min_interval`` seconds; :meth:`finish` draws the last state. Outside a Jupyter
    kernel (a plain script) nothing is shown while training: the points are kept and
    :meth:`finish` draws them into ``self.fig`` for you to save (``animator.fig.savefig(...)``).
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 figsize=(5, 3.2), title=None, min_interval=0.3):
        self.legend = list(legend) if legend else []
        if ylabel is None:  # what the curves measure: 'train loss', 'test acc' -> 'loss / acc'
            ylabel = " / ".join(dict.fromkeys(name.split()[-1] for name in self.legend if name.strip()))
        self.xlabel, self.ylabel = xlabel, ylabel
        self.xlim, self.ylim = xlim, ylim
        self.xscale, self.yscale = xscale, yscale
        self.fmts = fmts
        self.title = title
        self.status = ""
        self.min_interval = min_interval
        # A Figure outside pyplot: Jupyter's inline backend does not show it again at cell end.
        self.fig = Figure(figsize=figsize)
        self.axes = self.fig.add_subplot()
        self.X, self.Y = None, None
        self.renders = 0  # how many times the live output was redrawn
        self._display = _kernel_display()
        self._handle = None
        self._last_render = float("-inf")
        self._dirty = False

    @property
    def live(self) -> bool:
        """True when the figure is shown (and redrawn) in a Jupyter output while you train."""
        return self._display is not None

    def add(self, x: "float | Sequence[float | None]", y: "float | None | Sequence[float | None]",
            status: str | None = None) -> None:
        """Add the point ``(x, y[i])`` to curve ``i`` (``y`` may be a number for a single curve).

        ``status`` replaces the progress line shown above the axes (e.g. 'epoch 2/10, batch 40/235').
        """
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if self.X is None:
            self.X = [[] for _ in range(n)]
            self.Y = [[] for _ in range(n)]
        if n != len(self.Y):
            raise ValueError(f"This Animator draws {len(self.Y)} curves; add() got {n} values.")
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        if status is not None:
            self.status = status
        self._dirty = True
        if self.live and time.perf_counter() - self._last_render >= self.min_interval:
            self._render()

    def set_status(self, status: str) -> None:
        """Change the progress line without adding points (shown at the next redraw)."""
        self.status = status
        self._dirty = True

    def finish(self, status: str | None = None) -> None:
        """Draw the final state (in place in Jupyter; into ``self.fig`` in a script)."""
        if status is not None:
            self.status = status
            self._dirty = True
        if self._dirty:
            self._render() if self.live else self._draw()

    def _draw(self):
        ax = self.axes
        ax.cla()
        for i, (x, y) in enumerate(zip(self.X or [], self.Y or [])):
            label = self.legend[i] if i < len(self.legend) else None
            line, = ax.plot(x, y, self.fmts[i % len(self.fmts)], label=label)
            if line.get_marker() in (None, "None", ""):  # the format names no marker
                line.set(marker="o", markersize=4)
        if self.xlabel:
            ax.set_xlabel(self.xlabel)
        if self.ylabel:
            ax.set_ylabel(self.ylabel)
        ax.set_xscale(self.xscale)
        ax.set_yscale(self.yscale)
        if self.xlim is not None:
            ax.set_xlim(_padded(self.xlim, [v for xs in self.X or [] for v in xs], self.xscale))
        if self.ylim is not None:
            ax.set_ylim(_padded(self.ylim, [v for ys in self.Y or [] for v in ys], self.yscale))
        if self.legend and self.X:
            ax.legend(loc="best", fontsize="small")
        ax.grid(True, alpha=0.3)
        heading = " | ".join(t for t in (self.title, self.status) if t)
        ax.set_title(heading, fontsize="small", loc="left")
        self.fig.tight_layout()
        self._dirty = False

    def _render(self):
        """Redraw and send the picture to the one display output (created on first use)."""
        from IPython.display import Image

        self._draw()
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=100)
        image = Image(data=buf.getvalue(), format="png")
        if self._handle is None:
            self._handle = self._display(image, display_id=True)
        else:
            self._handle.update(image)
        self.renders += 1
        self._last_render = time.perf_counter()


def _padded(limits: Sequence[float], values: list[float], scale: str) -> tuple[float, float]:
    """Axis ``limits`` widened by 4% of their span at each end (on a log axis, of their span in
    decades), so that a marker at a limit is drawn whole. Equal ends first become the span of
    ``values`` and the limit (one unit, or one decade, around it if that is still a point).

        _padded([1, 1], [0.2, 0.6, 1.0], "linear")   # (0.168, 1.032)
    """
    log = scale == "log"
    to, back = (math.log10, lambda v: 10 ** v) if log else (float, float)
    low, high = to(limits[0]), to(limits[1])
    if low == high:
        ends = [low] + [to(v) for v in values if v > 0 or not log]
        low, high = min(ends), max(ends)
        if low == high:
            low, high = low - 0.5, high + 0.5
    pad = 0.04 * (high - low)
    return back(low - pad), back(high + pad)


def _named_histories(histories: "History | Sequence[History] | dict[str, History]") -> list:
    """[(label, History)] from one History, a list of them or a {label: History} dict."""
    if isinstance(histories, dict):
        return list(histories.items())
    if not isinstance(histories, (list, tuple)):
        histories = [histories]
    return [(h.label or f"run {i + 1}", h) for i, h in enumerate(histories)]


def plot_history(histories: "History | Sequence[History] | dict[str, History]",
                 figsize: tuple[float, float] = (9, 3.2)) -> tuple[plt.Axes, plt.Axes]:
    """Compare runs side by side: training loss (left) and accuracy per epoch (right; test solid,
    train dashed). Takes one History, a list, or a ``{label: History}`` dict. A run that diverged
    gets an x on the loss panel at the last checkpoint it passed. Returns the two axes.
    """
    named = _named_histories(histories)
    if not named:
        raise ValueError("plot_history needs at least one History to draw.")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=figsize)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, h) in enumerate(named):
        color = colors[i % len(colors)]
        epochs = list(range(1, len(h.train_loss) + 1))
        ax_loss.plot(epochs, h.train_loss, "o-", color=color, label=label, ms=3)
        ax_acc.plot(epochs, h.test_acc, "o-", color=color, label=f"{label} (test)", ms=3)
        ax_acc.plot(epochs, h.train_acc, "--", color=color, alpha=0.7, label=f"{label} (train)")
        if h.status == "diverged" and h.points:
            ax_loss.plot([h.points[-1].epoch], [h.points[-1].train_loss], "x", color=color, ms=9)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy: test solid, train dashed")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_loss.legend(fontsize="small")
    fig.tight_layout()
    return ax_loss, ax_acc


def plot_best_worst(result: object, by: str = "test_acc") -> tuple[plt.Axes, plt.Axes]:
    """The loss and accuracy curves of the best and the worst run of a sweep
    (a :class:`~lenet_utils.sweep_results.SweepResult`), side by side. Returns the two axes."""
    best, worst = result.best(by), result.worst(by)
    if best["run"] == worst["run"]:
        return plot_history({f"only run: {result.history(best).label}": result.history(best)})
    return plot_history({f"best: {result.history(best).label}": result.history(best),
                         f"worst: {result.history(worst).label}": result.history(worst)})


def plot_runs(result: object, metric: str = "test_acc", where: dict | None = None,
              ax: plt.Axes | None = None) -> plt.Axes:
    """``metric`` per epoch for every run of a sweep (a :class:`~lenet_utils.sweep_results.SweepResult`),
    one line each; ``where`` keeps only the runs with the given settings, e.g.
    ``{'activation': 'relu'}``. A diverged run ends with an x where it diverged. Returns the axes."""
    if metric not in ("train_loss", "train_acc", "test_acc"):
        raise ValueError(f"metric must be 'train_loss', 'train_acc' or 'test_acc', got {metric!r}.")
    if not result.histories:
        raise ValueError("This sweep has no histories (it was loaded from CSV): run it again.")
    where = dict(where or {})
    unknown = set(where) - set(result.rows[0])
    if unknown:
        raise ValueError(f"where= can only name columns of the table ({', '.join(result.rows[0])}), "
                         f"not {', '.join(sorted(unknown))}.")
    chosen = [(r, h) for r, h in zip(result.rows, result.histories)
              if all(r[k] == v for k, v in where.items())]
    if not chosen:
        raise ValueError(f"No run of this sweep has {where}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    shown = [a for a in result.varied if a not in where]
    for row, h in chosen:
        values = getattr(h, metric)
        end = (len(values) + 0.5, values[-1] if values else 0.1) if h.status == "diverged" else None
        draw_run(ax, range(1, len(values) + 1), values, run_label(row, [r for r, _ in chosen], shown),
                 {"marker": "o", "ls": "-", "ms": 3}, diverged=end)
    ax.set(xlabel="epoch", ylabel=metric.replace("_", " "))
    if where:
        ax.set_title(", ".join(f"{k}={v}" for k, v in where.items()), fontsize="medium")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


# ---------------------------------------------------------------- runs, one line each

def _setting(name: str, value: object) -> str:
    return f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"


def run_label(settings: Mapping, among: Sequence[Mapping], keys: Sequence[str] | None = None,
              default: Sequence[str] = ("lr",), word: Callable[[str, object], str] = _setting) -> str:
    """A run's name in a legend: those of its settings ``keys`` (all of them when None) that differ
    among the runs drawn (``among``, its own settings included), or the ``default`` ones where none
    do, each written ``word(name, value)`` ('lr=0.1' unless given), in the order of ``keys``.

        run_label({"lr": 0.1, "pool": "max"}, [{"lr": 0.1, "pool": "max"}, {"lr": 0.3, "pool": "max"}])  # 'lr=0.1'
    """
    shown = [k for k in (settings if keys is None else keys) if len({str(s[k]) for s in among}) > 1]
    return ", ".join(word(k, settings[k]) for k in shown or default)


def draw_run(ax: plt.Axes, xs: Sequence[float], ys: Sequence[float], label: str, look: dict,
             diverged: tuple[float, float] | None = None, mark: dict | None = None) -> Line2D:
    """One run's line on ``ax`` in ``look`` (``ax.plot`` keywords), named ``label`` in the legend,
    and for a run that diverged an x at ``diverged`` (x, y), in the line's colour unless ``mark``
    (``ax.plot`` keywords) says otherwise; returns the line.

        draw_run(ax, [1, 2], [0.5, 0.7], "lr=0.1", {"marker": "o"}, diverged=(2.5, 0.7))
    """
    line, = ax.plot(xs, ys, label=label, **look)
    if diverged is not None:
        ax.plot([diverged[0]], [diverged[1]], ls="", **{"marker": "x", "ms": 8, "color": line.get_color(),
                                                        **(mark or {})})
    return line


def interval_means(points: Sequence, name: str = "train_loss") -> list[tuple[int, float]]:
    """``(examples seen, mean of name over the batches since the previous point)`` for each point.

    A :class:`~lenet_utils.history.Point`'s ``train_loss`` and ``train_acc`` are means since the start
    of its epoch (so a curve of them drops at each new epoch); the difference between two points of
    one epoch gives the mean over the batches in between, which follows training closely. An
    epoch's first point starts afresh (the last batch of every epoch is a point).

        interval_means([Point(0.5, 100, 2.0, 0.1), Point(1.0, 200, 1.5, 0.3)])   # [(100, 2.0), (200, 1.0)]
    """
    out, epoch_start, seen_before, sum_before, epoch_before = [], 0, 0, 0.0, None
    for p in points:
        epoch = math.ceil(p.epoch) - 1  # the epoch it lies in (its end is its last point)
        if epoch != epoch_before:
            epoch_start, seen_before, sum_before, epoch_before = seen_before + epoch_start, 0, 0.0, epoch
        seen = p.examples - epoch_start
        total = getattr(p, name) * seen
        out.append((p.examples, (total - sum_before) / max(seen - seen_before, 1)))
        seen_before, sum_before = seen, total
    return out


def moving_means(intervals: Sequence[tuple[int, float]], window: int) -> list[float]:
    """For each of :func:`interval_means`' intervals, the mean over it and the ``window - 1`` before,
    weighted by their examples: a moving average over recent batches that does not restart at an
    epoch.

        moving_means([(100, 2.0), (200, 1.0), (400, 0.5)], window=2)   # [2.0, 1.5, 0.667]
    """
    sizes = [x - (intervals[i - 1][0] if i else 0) for i, (x, _) in enumerate(intervals)]
    means = []
    for i in range(len(intervals)):
        first = max(0, i - window + 1)
        weighted = sum(n * v for n, (_, v) in zip(sizes[first:i + 1], intervals[first:i + 1]))
        means.append(weighted / max(sum(sizes[first:i + 1]), 1))
    return means


def epoch_curves_figure(points: Sequence, num_epochs: int, window: int = 1, batches: int | None = None) -> Figure:
    """One run's training loss, training and test accuracy against epochs, as the watch widget shows
    them (``points``: :class:`~lenet_utils.history.Point` s, with ``epoch``, ``examples``,
    ``train_loss``, ``train_acc`` and ``test_acc`` or None). The training curves are
    :func:`moving_means` over the last ``window`` points (``batches`` batches, named under the axis),
    so they do not restart at each epoch; every marker lies inside the axes and each test accuracy is
    written clear of its marker.

        epoch_curves_figure(history.points, num_epochs=10, window=8, batches=32)
    """
    fig = Figure(figsize=(4.4, 3.4), dpi=100, layout="constrained")
    ax = fig.subplots()
    x = [p.epoch for p in points]
    loss, acc = (moving_means(interval_means(points, name), window) for name in ("train_loss", "train_acc"))
    top = max([2.4] + loss)
    ax.plot(x, loss, "-", color="C0", lw=1.8, label="train loss")
    ax.plot(x, acc, "--", color="C2", lw=1.8, label="train acc")
    tested = [p for p in points if p.test_acc is not None]
    ax.plot([p.epoch for p in tested], [p.test_acc for p in tested], "o-", color="C1", label="test acc")
    for p in tested:  # above and left of its marker (6 points across), on a light box
        ax.annotate(f"{p.test_acc:.2f}", (p.epoch, p.test_acc), xytext=(-6, 7), textcoords="offset points",
                    ha="right", va="bottom", color="C1", fontsize=9,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    pad = 0.04 * num_epochs  # room for a marker at either end
    xlabel = "epoch" + (f"\n(train curves: mean of the last {batches} batches)" if batches else "")
    ax.set(ylabel="loss / accuracy", xlim=(-pad, num_epochs + pad), ylim=(-0.04 * top, 1.04 * top))
    ax.set_xlabel(xlabel, fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize=9, frameon=False,
              handlelength=1.6, columnspacing=1.0)
    ax.grid(True, alpha=0.3)
    return fig


#: The slider panel's picture of its runs (:func:`draw_runs`): 920 x 400 pixels, its text 10 points
#: (14 px at 100 dpi), so that shown as narrow as :data:`PICTURE_MIN_PX` no text is under
#: :data:`MIN_TEXT_PX`.
DPI = 100
FIGSIZE = (9.2, 4.0)  # inches
PICTURE_PX = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))
FONT = 10
MIN_TEXT_PX = 11
PICTURE_MIN_PX = math.ceil(PICTURE_PX[0] * MIN_TEXT_PX / (FONT * DPI / 72))  # the narrowest it may be shown
LOSS_TOP = 3.0  # the loss axis stops here; larger losses are drawn on the edge
CHANCE_LOSS = math.log(10)
#: One hue, marker and line style per run (by run number), so runs on top of each other (all on
#: the guessing line, say) stay apart; the newest run in its full colour, older ones lighter.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
MARKERS = ("o", "s", "^", "D", "v")
LINESTYLES = ("-", "--", "-.", (0, (6, 2, 1, 2, 1, 2)), (0, (10, 3)))
LIGHTER = 0.45  # how far an older run's colour moves towards white
LABEL_PX = (60, 17)  # the room a "run N" label takes: runs ending closer than this get apart labels


@dataclass
class RunCurves:
    """A run as :func:`draw_runs` draws it: its number (its hue, marker and dashes), its name in the
    legend, its training-loss and test-accuracy curves against the examples seen (``(xs, ys)``
    each), and for a run that diverged the examples it had seen when it did (else None).

        RunCurves(3, "run 3: lr 0.1", loss=([500, 1000], [2.1, 1.7]), acc=([500, 1000], [0.3, 0.5]))
    """

    number: int
    label: str
    loss: tuple[Sequence[float], Sequence[float]]
    acc: tuple[Sequence[float], Sequence[float]]
    diverged_at: float | None = None


def run_style(number: int, newest: bool) -> dict:
    """The look of run ``number`` (``ax.plot`` keywords): its own hue, marker and dashes; the newest
    run in its full colour and bold, filled markers on top, an older run lighter and thinner with
    hollow markers that show around the newest's where they meet."""
    i = number % len(PALETTE)
    color = PALETTE[i] if newest else tuple(c + (1 - c) * LIGHTER for c in to_rgb(PALETTE[i]))
    return {"color": color, "marker": MARKERS[i], "ls": LINESTYLES[i], "lw": 2.6 if newest else 1.6,
            "ms": 6 if newest else 8, "mfc": color if newest else "none", "mew": 1.5,
            "zorder": 4 if newest else 3}


def _on_axes(loss: tuple[Sequence[float], Sequence[float]], acc: tuple[Sequence[float], Sequence[float]]):
    """The two curves as drawn: losses past the axis (or not finite) on its edge."""
    xs, ys = loss
    return (list(xs), [min(v, LOSS_TOP) if math.isfinite(v) else LOSS_TOP for v in ys]), (list(acc[0]), list(acc[1]))


def _free_y(ax, x: float, y: float, taken: list[tuple[float, float]]) -> float:
    """The height (data units) nearest ``y`` for a label at ``x`` that keeps clear of the labels
    already at ``taken`` (data points) and inside the axes."""
    to_px = ax.transData.transform
    px, py = to_px((x, y))
    near = [ty for tx, ty in map(to_px, taken) if abs(tx - px) < LABEL_PX[0]]
    h = LABEL_PX[1]
    (_, low), (_, high) = ax.transAxes.transform([(0, 0), (0, 1)]) + [(0, h / 2), (0, -h / 2)]
    spots = [min(max(py, low), high)] + [ty + side * h for ty in near for side in (-1, 1)]
    free = [c for c in spots if low <= c <= high and all(abs(c - ty) >= h - 1e-6 for ty in near)]
    best = min(free, key=lambda c: abs(c - py)) if free else spots[0]
    return ax.transData.inverted().transform((px, best))[1]


def _end_label(ax, text: str, color, bold: bool, dx: float = 5) -> Text:
    """A label to write ``dx`` points right of the end of a curve, on a light box (:func:`_place` puts it)."""
    return ax.text(0, 0, text, color=color, fontsize=FONT, va="center", ha="left", zorder=7,
                   fontweight="bold" if bold else "normal",
                   bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
                   transform=offset_copy(ax.transData, ax.figure, x=dx, units="points"))


def _diverged_labels(ends: list) -> None:
    """One label per group of diverged runs whose X marks lie within a label's width of each other
    ("run 4 diverged", "runs 2, 3 and 4 diverged"), written by the newest of the group, right of
    the group's last mark; the others' labels hidden. ``ends``: the diverged ends of one axis, oldest
    run first, each (label, xs, ys, number)."""
    to_px = lambda x: ends[0][0].axes.transData.transform((x, 0))[0]  # noqa: E731
    by_x = sorted(ends, key=lambda e: e[1][-1])
    groups, group = [], [by_x[0]]
    for end in by_x[1:]:
        if to_px(end[1][-1]) - to_px(group[-1][1][-1]) < LABEL_PX[0]:
            group.append(end)
        else:
            groups.append(group)
            group = [end]
    groups.append(group)
    for group in groups:
        order = sorted(group, key=ends.index)
        numbers = [str(number) for *_, number in order]
        words = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]
        writer, last_x = order[-1], max(e[1][-1] for e in group)
        writer[0].set_text(f"run{'s' if len(numbers) > 1 else ''} {words} diverged")
        writer[1][-1] = last_x  # the label's place: right of the group's last mark
        for label, *_ in order[:-1]:
            label.set_text("")


def _place(label: Text, xs: list, ys: list, taken: list[tuple[float, float]]) -> None:
    """Put ``label`` at the end of the curve ``xs, ys`` (hidden while it is empty), clear of the
    labels at ``taken``."""
    label.set_visible(bool(xs))
    if xs:
        label.set_position((xs[-1], _free_y(label.axes, xs[-1], ys[-1], taken)))


def _runs_figure(runs: Sequence[RunCurves],
                 right: int | None = None) -> tuple[Figure, list[tuple[Line2D, Text, list]]]:
    """The figure of :func:`draw_runs` and, per axis (loss, accuracy), the newest run's line, its
    end label and the end points of the earlier runs' labels (for :class:`LivePicture` to place
    the label clear of them); ``right`` fixes the x-axis (training examples) instead of fitting
    it to the runs."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    ax_loss, ax_acc = axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.065, right=0.63, bottom=0.135, top=0.9, wspace=0.3)
    thousands = FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0")
    for ax in axes:
        ax.set_xlabel("training examples seen", fontsize=FONT)
        ax.xaxis.set_major_formatter(thousands)
        ax.tick_params(labelsize=FONT)
        ax.grid(True, alpha=0.3)
        ax.axhline(CHANCE_LOSS if ax is ax_loss else 0.1, color="grey", ls=":", lw=1.5, zorder=2)
    ax_loss.set_ylim(0, LOSS_TOP)
    ax_acc.set_ylim(0, 1)
    ax_loss.set_ylabel("loss", fontsize=FONT)
    ax_acc.set_ylabel("accuracy", fontsize=FONT)
    ax_loss.set_title("training loss, recent batches", fontsize=FONT + 0.5, pad=10)
    ax_acc.set_title("test accuracy, held-out images", fontsize=FONT + 0.5, pad=10)
    ends, legend_lines, fitted = [], [], 0
    for run in runs:
        newest, label_color = run is runs[-1], PALETTE[run.number % len(PALETTE)]
        for ax, (xs, ys) in zip(axes, _on_axes(run.loss, run.acc)):
            diverged = ax is ax_loss and run.diverged_at is not None
            look, mark = run_style(run.number, newest), None
            if diverged:  # the line shoots up to an X on the top edge, drawn over every other run
                xs, ys = [*xs, run.diverged_at], [*ys, LOSS_TOP]
                look = {**look, "markevery": list(range(len(xs) - 1))}
                mark = {"marker": "X", "ms": 15, "mfc": label_color, "mec": "white", "mew": 1.5,
                        "zorder": 6, "clip_on": False}
            end = _end_label(ax, f"run {run.number}", label_color, newest, dx=11 if diverged else 5)
            line = draw_run(ax, xs, ys, textwrap.fill(run.label, 36, subsequent_indent="  "), look,
                            diverged=(xs[-1], ys[-1]) if diverged else None, mark=mark)
            if ax is ax_loss:
                legend_lines.append(line)
            fitted = max([fitted, *xs[-1:]])
            ends.append((ax, line, end, xs, ys, newest and right is not None, run.number if diverged else None))
    # the x-axis runs past the last example far enough for the widest "run N" at the ends
    renderer = FigureCanvasAgg(fig).get_renderer()
    widest = max((end.get_window_extent(renderer).width for _, _, end, *_, number in ends
                  if number is None), default=0)
    room = 1 - (widest + 12) / ax_loss.bbox.width
    for ax in axes:
        ax.set_xlim(0, max(right or fitted, 1000) / room)
    diverged = [(end, xs, ys, number) for _, _, end, xs, ys, _, number in ends if number is not None]
    if diverged:
        _diverged_labels(diverged)
    taken = {ax: [] for ax in axes}  # per axis: where the end labels are, oldest run first
    newest_parts = []
    for ax, line, end, xs, ys, live, _ in ends:
        if not end.get_text():  # a diverged run whose group's label another run writes
            end.set_visible(False)
            continue
        if live:  # LivePicture draws and places these as the run trains
            newest_parts.append((line, end, list(taken[ax])))
            continue
        _place(end, xs, ys, taken[ax])
        if xs:
            taken[ax].append(end.get_position())
    guessing = Line2D([], [], color="grey", ls=":", lw=1.5,
                      label=f"guessing (loss ln 10 = {CHANCE_LOSS:.2f}, acc 0.1)")
    ax_acc.legend(handles=[*legend_lines, guessing], loc="upper left", bbox_to_anchor=(1.04, 1.04),
                  borderaxespad=0, fontsize=FONT, frameon=False, handlelength=2.8, labelspacing=0.4,
                  title="runs, newest last" if len(runs) > 1 else None, title_fontsize=FONT,
                  alignment="left")
    if not runs:
        ax_loss.text(0.5, 0.5, "no run yet: move a control", transform=ax_loss.transAxes, ha="center",
                     fontsize=FONT)
    return fig, newest_parts


def draw_runs(runs: Sequence[RunCurves]) -> bytes:
    """PNG (:data:`PICTURE_PX` pixels) of the loss (left) and the test accuracy (right) of ``runs``,
    the newest last (bold; it may still be training), the earlier ones lighter, each line labelled
    ``run N`` at its end, the legend and the guessing lines.

        draw_runs([RunCurves(1, "run 1: lr 0.1", ([500], [2.0]), ([500], [0.4]))])
    """
    fig, _ = _runs_figure(runs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


class LivePicture:
    """:func:`draw_runs` for a run in progress (the last of ``runs``), cheap enough to redraw
    several times a second.

    The first :meth:`png` draws everything but the newest run's two lines and their end labels
    (axes, legend, the earlier runs) once, with the x-axis fixed to ``budget`` examples; every call
    then puts back that background and draws only those lines and labels on it, as they are now.

        live = LivePicture(runs, budget=10_000)
        live.png(loss=([500], [2.1]), acc=([500], [0.3]))
    """

    def __init__(self, runs: Sequence[RunCurves], budget: int):
        self.runs, self.budget = list(runs), budget
        self._canvas = self._background = None
        self._parts: list[tuple[Line2D, Text, list]] = []

    def png(self, loss: tuple[Sequence[float], Sequence[float]],
            acc: tuple[Sequence[float], Sequence[float]]) -> bytes:
        """The picture with the newest run's curves ``loss`` and ``acc`` as they are now, as PNG bytes."""
        if self._canvas is None:
            fig, self._parts = _runs_figure(self.runs, right=self.budget)
            for line, label, _ in self._parts:
                line.set_data([], [])
                label.set_visible(False)
            self._canvas = FigureCanvasAgg(fig)
            self._canvas.draw()
            self._background = self._canvas.copy_from_bbox(fig.bbox)
        self._canvas.restore_region(self._background)
        for (line, label, taken), (xs, ys) in zip(self._parts, _on_axes(loss, acc)):
            line.set_data(xs, ys)
            line.axes.draw_artist(line)
            _place(label, xs, ys, taken)
            if xs:
                line.axes.draw_artist(label)
        image = Image.frombuffer("RGBA", self._canvas.get_width_height(), self._canvas.buffer_rgba(),
                                 "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def plot_ladder(result: object, titles: dict[str, str] | None = None,
                figsize: tuple[float, float] | None = None) -> plt.Figure:
    """Test accuracy per epoch for every rung of a ladder (a
    :class:`~lenet_utils.ladder.LadderResult`), one panel per data set (titled from ``titles``):
    the mean over seeds as a line, the band between the worst and best seed shaded. A run that
    diverged stops early (its missing epochs do not count)."""
    titles = titles or {}
    datasets = list(dict.fromkeys(r.dataset for r in result.runs))
    names = list(dict.fromkeys(r.rung.name for r in result.runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=figsize or (6 * len(datasets), 4), squeeze=False)
    colors = plt.get_cmap("viridis")(torch.linspace(0, 0.9, len(names)).tolist())
    for ax, dataset in zip(axes[0], datasets):
        for color, name in zip(colors, names):
            runs = [r for r in result.runs if r.dataset == dataset and r.rung.name == name]
            length = max(len(r.history.test_acc) for r in runs)
            if length == 0:
                continue  # every seed diverged in its first epoch: nothing to draw
            curves = torch.tensor([r.history.test_acc + [math.nan] * (length - len(r.history.test_acc))
                                   for r in runs])
            epochs = range(1, length + 1)
            ax.plot(epochs, curves.nanmean(0), marker="o", color=color, label=name)
            if len(curves) > 1:
                low = torch.where(curves.isnan(), math.inf, curves).min(0).values
                high = torch.where(curves.isnan(), -math.inf, curves).max(0).values
                ax.fill_between(epochs, low, high, color=color, alpha=0.2)
        ax.set(title=titles.get(dataset, dataset), xlabel="epoch", ylabel="test accuracy")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def plot_best_so_far(comparison: object, ax: "plt.Axes | None" = None) -> plt.Axes:
    """Best validation accuracy so far against training examples trained, for a
    :class:`~lenet_utils.search_comparison.SearchComparison`: one colour per method, one faint line
    per seed and a bold line for the mean over seeds; a dotted line at a third of the grid's
    examples.

    >>> plot_best_so_far(comparison); plt.show()
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    methods = list(dict.fromkeys(r["method"] for r in comparison.rows))
    for i, method in enumerate(methods):
        color = f"C{i}"
        curves = comparison.curves(method)
        for xs, ys in curves:
            ax.step(xs, ys, where="post", color=color, alpha=0.25, lw=1)
        end = max(xs[-1] for xs, _ in curves)
        grid = [end * k / 200 for k in range(1, 201)]

        def so_far(xs, ys, g):  # the best so far after g examples; NaN before the first run
            return next((y for x, y in zip(reversed(xs), reversed(ys)) if x <= g), math.nan)
        mean = [sum(so_far(xs, ys, g) for xs, ys in curves) / len(curves) for g in grid]
        ax.plot(grid, mean, color=color, lw=2, label=method)
    grid_examples = comparison.examples("grid")
    ax.axvline(sum(grid_examples) / len(grid_examples) / 3, color="gray", ls=":",
               label="a third of the grid's examples")
    ax.set(xlabel="training examples trained", ylabel="best validation accuracy so far")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return ax
