"""Pictures that are not curves: image grids, the sweep heatmap, the confusion matrix and a gallery
of mistakes. Plain matplotlib. (Curves over training time are in :mod:`lenet_utils.plot`.)
"""

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["show_images", "plot_heatmap", "confusion_matrix", "plot_confusion_matrix",
           "show_misclassified"]


def _as_image(img: object) -> object:
    """A tensor/array image as something ``imshow`` takes: H×W (grey) or H×W×3."""
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu()
        if img.dim() == 3 and img.shape[0] in (1, 3):
            img = img.permute(1, 2, 0)
        if img.dim() == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        return img.float().numpy() if img.dtype != torch.uint8 else img.numpy()
    return img


def show_images(imgs: Sequence, num_rows: int, num_cols: int, titles: Sequence[str] | None = None,
                scale: float = 1.5) -> np.ndarray:
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


def _tick(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def plot_heatmap(rows: Sequence[dict], x: str = "lr", y: str = "activation", value: str = "test_acc",
                 ax: plt.Axes | None = None) -> plt.Axes:
    """A heatmap of ``value`` over two settings, e.g. test accuracy by learning rate × activation.

    ``rows`` are sweep rows (``result.rows``, :func:`load_csv`) or ``result.epoch_rows()`` (then
    ``y='epoch'`` works). Where several runs share a cell (other settings varied) the best value
    is shown. A run that diverged shows the value of its last completed epoch marked
    '(diverged)', or just 'diverged' when it completed none. Returns the axes.
    """
    if not rows:
        raise ValueError("plot_heatmap needs at least one row.")
    for name in (x, y, value):
        if name not in rows[0]:
            raise ValueError(f"{name!r} is not a column of these rows; columns: {', '.join(rows[0])}.")
    xs, ys = _levels(rows, x), _levels(rows, y)
    grid = [[math.nan] * len(xs) for _ in ys]
    diverged = [[False] * len(xs) for _ in ys]
    for r in rows:
        i, j = ys.index(r[y]), xs.index(r[x])
        v = r[value]
        if math.isfinite(v) and (math.isnan(grid[i][j]) or v > grid[i][j]):
            grid[i][j] = v
            diverged[i][j] = r.get("status") == "diverged"
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * len(xs) + 2.5, 0.6 * len(ys) + 1.6))
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    finite = [v for line in grid for v in line if math.isfinite(v)]
    middle = (min(finite) + max(finite)) / 2 if finite else 0
    for i in range(len(ys)):
        for j in range(len(xs)):
            v = grid[i][j]
            if math.isfinite(v):
                text = f"{v:.3f}" + ("\n(diverged)" if diverged[i][j] else "")
            else:
                text = "diverged"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="black" if math.isfinite(v) and v > middle else "white")
    ax.set_facecolor("0.35")
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{value.replace('_', ' ')} by {x} and {y}", fontsize="medium")
    ax.figure.colorbar(image, ax=ax, label=value.replace("_", " "))
    return ax


def _levels(rows: Sequence[dict], column: str) -> list:
    """The distinct values of a column: numbers in increasing order, names in order of appearance."""
    values = list(dict.fromkeys(r[column] for r in rows))
    return sorted(values) if all(isinstance(v, (int, float)) for v in values) else values


def confusion_matrix(y_true: Sequence, y_pred: Sequence, num_classes: int | None = None) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``."""
    y_true = torch.as_tensor(y_true).long().cpu().flatten()
    y_pred = torch.as_tensor(y_pred).long().cpu().flatten()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}: they must match.")
    if num_classes is None:
        num_classes = int(max(y_true.max(), y_pred.max())) + 1 if len(y_true) else 0
    return torch.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def plot_confusion_matrix(y_true: Sequence, y_pred: Sequence, class_names: Sequence[str] | None = None,
                          normalize: bool = True, ax: plt.Axes | None = None) -> plt.Axes:
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


def show_misclassified(X: torch.Tensor, y_true: Sequence, y_pred: Sequence,
                       class_names: Sequence[str] | None = None, num_rows: int = 2, num_cols: int = 8,
                       scale: float = 1.5) -> np.ndarray | None:
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
