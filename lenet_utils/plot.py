"""Curves over training time: live training curves (d2l's ``Animator``), runs side by side
(:func:`plot_history`), a sweep's runs (:func:`plot_runs`, :func:`plot_best_worst`) and the
ladder's rungs (:func:`plot_ladder`), a search comparison's best so far
(:func:`plot_best_so_far`). Plain matplotlib; IPython is imported only when a Jupyter
kernel is there to show a live figure. Pictures that are not curves (image grids, heatmaps,
confusion matrices) are in :mod:`lenet_utils.pictures`.
"""

import io
import math
import time
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from .history import History

__all__ = ["Animator", "plot_history", "plot_runs", "plot_best_worst", "plot_ladder",
           "plot_best_so_far"]


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


def _label(row: dict, shown: Sequence[str]) -> str:
    return ", ".join(f"{a}={row[a]:g}" if isinstance(row[a], float) else f"{a}={row[a]}"
                     for a in shown or ["lr"])


def plot_best_worst(result: object, by: str = "test_acc") -> tuple[plt.Axes, plt.Axes]:
    """The loss and accuracy curves of the best and the worst run of a sweep
    (a :class:`~lenet_utils.sweep.SweepResult`), side by side. Returns the two axes."""
    best, worst = result.best(by), result.worst(by)
    if best["run"] == worst["run"]:
        return plot_history({f"only run: {result.history(best).label}": result.history(best)})
    return plot_history({f"best: {result.history(best).label}": result.history(best),
                         f"worst: {result.history(worst).label}": result.history(worst)})


def plot_runs(result: object, metric: str = "test_acc", where: dict | None = None,
              ax: plt.Axes | None = None) -> plt.Axes:
    """``metric`` per epoch for every run of a sweep (a :class:`~lenet_utils.sweep.SweepResult`),
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
        line, = ax.plot(range(1, len(values) + 1), values, "o-", ms=3, label=_label(row, shown))
        if h.status == "diverged":
            ax.plot([len(values) + 0.5], [values[-1] if values else 0.1], "x", color=line.get_color(),
                    ms=8)
    ax.set(xlabel="epoch", ylabel=metric.replace("_", " "))
    if where:
        ax.set_title(", ".join(f"{k}={v}" for k, v in where.items()), fontsize="medium")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


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
