"""Pictures: live training curves (d2l's ``Animator``), image grids, run comparisons, confusion
matrices and a gallery of mistakes. Plain matplotlib; IPython is imported only when a Jupyter
kernel is there to show a live figure.
"""

import io
import time

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure


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

    ``add(x, ys)`` appends one point to each curve (``None`` skips a curve). In JupyterLab the
    figure is a single output that is redrawn in place through one display handle: no flicker, no
    pile of stacked images, and the same single output under nbval/nbclient. Redraws are throttled
    to one per ``min_interval`` seconds; :meth:`finish` draws the last state. Outside a Jupyter
    kernel (a plain script) nothing is shown while training: the points are kept and
    :meth:`finish` draws them into ``self.fig`` for you to save (``animator.fig.savefig(...)``).
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 figsize=(5, 3.2), title=None, min_interval=0.3):
        self.xlabel, self.ylabel = xlabel, ylabel
        self.legend = list(legend) if legend else []
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

    def add(self, x, y, status=None):
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

    def set_status(self, status):
        """Change the progress line without adding points (shown at the next redraw)."""
        self.status = status
        self._dirty = True

    def finish(self, status=None):
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
            ax.plot(x, y, self.fmts[i % len(self.fmts)], label=label)
        if self.xlabel:
            ax.set_xlabel(self.xlabel)
        if self.ylabel:
            ax.set_ylabel(self.ylabel)
        ax.set_xscale(self.xscale)
        ax.set_yscale(self.yscale)
        if self.xlim is not None:
            ax.set_xlim(self.xlim)
        if self.ylim is not None:
            ax.set_ylim(self.ylim)
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


def _as_image(img):
    """A tensor/array image as something ``imshow`` takes: H×W (grey) or H×W×3."""
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu()
        if img.dim() == 3 and img.shape[0] in (1, 3):
            img = img.permute(1, 2, 0)
        if img.dim() == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        return img.float().numpy() if img.dtype != torch.uint8 else img.numpy()
    return img


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    """A grid of images (d2l): tensors N×H×W, N×C×H×W or a list of images. Returns the axes."""
    if len(imgs) > num_rows * num_cols:
        imgs = imgs[:num_rows * num_cols]
    figsize = (num_cols * scale, num_rows * scale * (1.25 if titles else 1))
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    axes = axes.flatten()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < len(imgs):
            image = _as_image(imgs[i])
            ax.imshow(image, cmap="gray" if getattr(image, "ndim", 2) == 2 else None)
            if titles and i < len(titles):
                ax.set_title(titles[i], fontsize="small")
    return axes


def _named_histories(histories):
    """[(label, History)] from one History, a list of them or a {label: History} dict."""
    if isinstance(histories, dict):
        return list(histories.items())
    if not isinstance(histories, (list, tuple)):
        histories = [histories]
    return [(h.label or f"run {i + 1}", h) for i, h in enumerate(histories)]


def plot_history(histories, figsize=(9, 3.2)):
    """Compare runs side by side: training loss (left) and accuracy per epoch (right; test solid,
    train dashed). Takes one History, a list, or a ``{label: History}`` dict. Returns the two axes.
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
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy: test solid, train dashed")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_loss.legend(fontsize="small")
    fig.tight_layout()
    return ax_loss, ax_acc


def confusion_matrix(y_true, y_pred, num_classes=None) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``."""
    y_true = torch.as_tensor(y_true).long().cpu().flatten()
    y_pred = torch.as_tensor(y_pred).long().cpu().flatten()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}: they must match.")
    if num_classes is None:
        num_classes = int(max(y_true.max(), y_pred.max())) + 1 if len(y_true) else 0
    return torch.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize=True, ax=None):
    """Draw the confusion matrix (rows: true class, columns: predicted). ``normalize`` shows each
    row as fractions of that class, so the diagonal is per-class accuracy. Returns the axes.
    """
    num_classes = len(class_names) if class_names is not None else None
    cm = confusion_matrix(y_true, y_pred, num_classes).double()
    if normalize:
        cm = cm / cm.sum(dim=1, keepdim=True).clamp(min=1)
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if ax is None:
        _, ax = plt.subplots(figsize=(0.42 * n + 1.8, 0.42 * n + 1.4))
    ax.imshow(cm.numpy(), cmap="Blues", vmin=0)
    for i in range(n):
        for j in range(n):
            value = cm[i, j].item()
            text = f"{value:.2f}".lstrip("0") if normalize else f"{int(value)}"
            if value > 0:
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 * cm.max().item() else "black")
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return ax


def show_misclassified(X, y_true, y_pred, class_names=None, num_rows=2, num_cols=8, scale=1.5):
    """A gallery of the first misclassified images, titled 'predicted / true'. Returns the axes,
    or None (with a message) when there is no mistake to show.
    """
    y_true, y_pred = torch.as_tensor(y_true).cpu(), torch.as_tensor(y_pred).cpu()
    wrong = (y_true != y_pred).nonzero().flatten()[:num_rows * num_cols]
    if len(wrong) == 0:
        print("No misclassified images: every prediction is right.")
        return None

    def name(c):
        return class_names[int(c)] if class_names is not None else str(int(c))

    titles = [f"{name(y_pred[i])}\n(true: {name(y_true[i])})" for i in wrong]
    rows = min(num_rows, -(-len(wrong) // num_cols))
    return show_images(X[wrong], rows, num_cols, titles=titles, scale=scale)
