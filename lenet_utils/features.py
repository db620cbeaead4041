"""Look inside a network: feature maps through forward hooks, kernels, C3's connection table, the
architecture drawn from a trace, and shifted images for translation experiments. Plain matplotlib.

Every ``show_*`` function draws into a new pyplot figure and returns it (end the notebook line with
``;`` so Jupyter shows the figure once).
"""

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from matplotlib.figure import Figure
from torch import nn

from .device import evaluating
from .shapes import trace

__all__ = ["shift_images", "capture_feature_maps", "show_feature_maps", "show_kernels",
           "show_connection_table", "architecture_figure"]


def shift_images(X: torch.Tensor, dx: int = 0, dy: int = 0) -> torch.Tensor:
    """Move every image of a N x C x H x W batch ``dx`` pixels right and ``dy`` pixels down (negative:
    left/up). Pixels moved in from outside are 0 (the background), nothing wraps around."""
    if X.dim() != 4:
        raise ValueError(f"shift_images expects a batch N x C x H x W, got shape {tuple(X.shape)}.")
    h, w = X.shape[-2:]
    if abs(dx) >= w or abs(dy) >= h:
        raise ValueError(f"a shift of ({dx}, {dy}) moves a {h}x{w} image out of the frame.")
    padded = F.pad(X, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


def capture_feature_maps(net: nn.Module, X: torch.Tensor,
                         layers: Sequence[str] | None = None) -> "OrderedDict[str, torch.Tensor]":
    """Run ``net`` on ``X`` once (eval mode, no gradients) and return the output of every leaf
    module, or of the named ``layers``, keyed by name and in the order they ran (detached, on CPU)."""
    modules = OrderedDict((n, m) for n, m in net.named_modules() if n and not list(m.children()))
    if layers is not None:
        unknown = [n for n in layers if n not in dict(net.named_modules())]
        if unknown:
            raise KeyError(f"no layer named {unknown} in this network; its leaves are {list(modules)}.")
        modules = OrderedDict((n, dict(net.named_modules())[n]) for n in layers)
    maps, handles = OrderedDict(), []
    for name, module in modules.items():
        handles.append(module.register_forward_hook(
            lambda mod, inp, out, name=name: maps.__setitem__(name, out.detach().cpu())))
    try:
        with evaluating(net), torch.no_grad():
            net(X)
    finally:
        for h in handles:
            h.remove()
    return maps


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
