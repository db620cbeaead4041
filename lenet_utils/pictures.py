"""Pictures that are not curves: image grids, the sweep heatmap, the confusion matrix, a gallery
of mistakes, and a look inside a network (feature maps, kernels, C3's connection table, the
architecture drawn from a trace). Plain matplotlib. (Curves over training time are in
:mod:`lenet_utils.plot`.)

Every ``show_*`` function of a network's insides draws into a new pyplot figure and returns it (end
the notebook line with ``;`` so Jupyter shows the figure once).
"""

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from .shapes import trace

__all__ = ["show_images", "plot_heatmap", "confusion_matrix", "plot_confusion_matrix",
           "show_misclassified", "show_feature_maps", "show_kernels", "show_connection_table",
           "architecture_figure"]


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


def show_feature_maps(maps: Mapping[str, torch.Tensor], index: int = 0, max_channels: int = 16,
                      cmap: str = "gray") -> Figure:
    """One row per layer: the channels of example ``index`` as small images (at most
    ``max_channels``), or a 1-D layer output as a strip of values."""
    names = list(maps)
    cols = max(min(max_channels, m.shape[1]) if m.dim() == 4 and m.shape[-2:].numel() > 1 else 1
               for m in maps.values())
    fig = plt.figure(figsize=(0.75 * cols + 1.2, 0.85 * len(names)))
    grid = fig.add_gridspec(len(names), cols, wspace=0.08, hspace=0.45)
    for r, name in enumerate(names):
        out = maps[name][index]
        if out.dim() == 3 and out.shape[-2:].numel() > 1:
            channels = min(max_channels, out.shape[0])
            for c in range(channels):
                ax = fig.add_subplot(grid[r, c])
                ax.imshow(out[c].float().numpy(), cmap=cmap)
                ax.set_xticks([]), ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
            if channels < out.shape[0]:
                ax.set_title(f"(+{out.shape[0] - channels})", fontsize=7, loc="right")
        else:
            ax = fig.add_subplot(grid[r, :])
            values = out.reshape(1, -1).float().numpy()
            ax.imshow(values, cmap=cmap, aspect="auto")
            ax.set_yticks([])
            ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
            ax.set_xticks(range(values.shape[1]) if values.shape[1] <= 12 else [])
            ax.tick_params(labelsize=7)
    return fig


def show_kernels(weight: torch.Tensor, mask: torch.Tensor | None = None, title: str | None = None,
                 cmap: str = "RdBu_r") -> Figure:
    """Draw convolution kernels ``out x in x F x F`` as a grid: one row per input channel, one column
    per output channel, all on one symmetric colour scale (red positive, blue negative). Where
    ``mask[out, in]`` is False the cell is left blank (no connection)."""
    weight = weight.detach().cpu().float()
    if weight.dim() != 4:
        raise ValueError(f"expected a conv weight out x in x F x F, got shape {tuple(weight.shape)}.")
    n_out, n_in = weight.shape[:2]
    limit = float(weight.abs().max()) or 1.0
    fig, axes = plt.subplots(n_in, n_out, figsize=(0.55 * n_out + 0.8, 0.55 * n_in + 0.6), squeeze=False)
    for i in range(n_in):
        for o in range(n_out):
            ax = axes[i, o]
            ax.set_xticks([]), ax.set_yticks([])
            if mask is not None and not mask[o, i]:
                ax.set_frame_on(False)
                continue
            image = ax.imshow(weight[o, i].numpy(), cmap=cmap, vmin=-limit, vmax=limit)
            if i == n_in - 1 or mask is not None:
                ax.set_xlabel(str(o), fontsize=7, labelpad=1)
        axes[i, 0].set_ylabel(f"in {i}" if n_in > 1 else "", fontsize=7, rotation=0, ha="right", va="center")
    fig.colorbar(image, ax=axes, shrink=0.8, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def show_connection_table(mask: torch.Tensor, in_name: str = "S2", out_name: str = "C3") -> Figure:
    """The paper's Table I as a picture: rows are input maps, columns output maps, a filled square
    where an output map reads an input map. ``mask`` is ``out x in`` (as ``c3_connection_mask()``)."""
    table = torch.as_tensor(mask, dtype=torch.bool).T.int().numpy()
    n_in, n_out = table.shape
    fig, ax = plt.subplots(figsize=(0.38 * n_out + 1.2, 0.38 * n_in + 1.0))
    ax.imshow(table, cmap="Greys", vmin=0, vmax=1.4)
    ax.set_xticks(range(n_out)), ax.set_yticks(range(n_in))
    ax.set_xticks([x - 0.5 for x in range(1, n_out)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, n_in)], minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelsize=8)
    ax.xaxis.set_ticks_position("top"), ax.xaxis.set_label_position("top")
    ax.set_xlabel(f"{out_name} feature map"), ax.set_ylabel(f"{in_name} feature map")
    ax.set_title(f"{int(table.sum())} of {n_in * n_out} connections", fontsize=9, y=-0.2)
    return fig


_STAGES = ("Conv2d", "PartialConv2d", "Subsampling", "AvgPool2d", "MaxPool2d", "Linear", "RBFOutput")


def _connection_label(module: nn.Module) -> str:
    kind = type(module).__name__
    if kind == "PartialConv2d":
        return f"{module.kernel_size}×{module.kernel_size} conv,\nC3 table"
    if kind == "Conv2d":
        return f"{module.kernel_size[0]}×{module.kernel_size[1]}\nconvolution"
    if kind in ("Subsampling", "AvgPool2d", "MaxPool2d"):
        size = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        name = {"Subsampling": "subsampling", "AvgPool2d": "avg pool", "MaxPool2d": "max pool"}[kind]
        return f"{size}×{size}\n{name}"
    return "Gaussian\nconnections" if kind == "RBFOutput" else "full\nconnection"


def architecture_figure(net: nn.Sequential, input_shape: tuple[int, ...], title: str | None = None,
                        input_image: torch.Tensor | None = None) -> Figure:
    """Draw a network in the style of the LeNet-5 paper's Figure 2, from a real trace: feature maps
    as stacks of squares (side proportional to their size), vectors as columns, with the layer names,
    ``channels@height×width`` and, under each arrow, the kind of connection between stages. An
    ``input_image`` (H x W or 1 x H x W, ink high) is drawn in the input box.

        architecture_figure(LeNet5(output="rbf"), (1, 1, 32, 32), input_image=sample_digit()[0])
    """
    modules = dict(net.named_modules())
    stages = [("INPUT", tuple(input_shape[1:]), None)]
    for row in trace(net, input_shape):
        if row.type in _STAGES:
            stages.append((row.name.upper(), row.output_shape[1:], modules[row.name]))
    gap = 1.0  # room between stages for an arrow and its label
    fig, ax = plt.subplots(figsize=(1.8 * len(stages) + 0.6, 3.4))
    x, biggest = 0.0, max(s[1][-1] for s in stages if len(s[1]) == 3)
    for i, (name, shape, module) in enumerate(stages):
        if len(shape) == 3 and shape[-1] > 1:
            c, h, _ = shape
            side = 1.6 * (h / biggest) ** 0.6
            sheets = min(c, 5)
            for k in range(sheets):
                ax.add_patch(Rectangle((x + 0.07 * k, 0.07 * k - side / 2), side, side,
                                       facecolor="#dbe8f6" if k < sheets - 1 else "#9ec3ea",
                                       edgecolor="#1f4e79", linewidth=0.8))
            if i == 0 and input_image is not None:
                ax.imshow(input_image.detach().reshape(shape[1:]).cpu().numpy(), cmap="gray_r", zorder=3,
                          extent=(x, x + side, -side / 2, side / 2), interpolation="nearest")
                ax.add_patch(Rectangle((x, -side / 2), side, side, fill=False, edgecolor="#1f4e79",
                                       linewidth=0.8, zorder=4))
            width = side + 0.07 * (sheets - 1)
            label = f"{c}@{shape[1]}×{shape[2]}"
        else:
            n = shape[0]
            height = 0.5 + 1.3 * min(n, 120) / 120
            width = 0.16
            ax.add_patch(Rectangle((x, -height / 2), width, height, facecolor="#f6dfb4",
                                   edgecolor="#8a5a00", linewidth=0.8))
            label = f"{n}"
        ax.text(x + width / 2, 1.38, name, ha="center", va="bottom", fontsize=10, fontweight="bold")
        ax.text(x + width / 2, 1.2, label, ha="center", va="bottom", fontsize=9)
        if module is not None:  # the connection that made this stage, under the arrow into it
            ax.text(x - gap / 2, -0.12, _connection_label(module), ha="center", va="top",
                    fontsize=8.5, color="#333333", linespacing=1.1)
        if i + 1 < len(stages):
            ax.annotate("", xy=(x + width + gap - 0.1, 0), xytext=(x + width + 0.1, 0),
                        arrowprops=dict(arrowstyle="-|>", color="#777777"))
        x += width + gap
    ax.set_xlim(-0.2, x - gap + 0.2)
    ax.set_ylim(-1.05, 1.75)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return fig
