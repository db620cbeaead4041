"""Feature maps: what each layer of a network outputs for a batch, captured through forward hooks.

    maps = capture_feature_maps(LeNet5(), X, layers=["c1_act", "s2_act"])  # {"c1_act": N x 6 x 28 x 28, ...}

The pictures of them (``show_feature_maps``, ``show_kernels``) are in :mod:`lenet_utils.pictures`.
"""

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from .device import evaluating

__all__ = ["capture_feature_maps"]


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
