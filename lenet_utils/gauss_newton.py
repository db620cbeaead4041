"""The exact diagonal of the Gauss-Newton matrix, by autograd, one output at a time: slow, and the
yardstick for the paper's one-pass rule (:func:`lenet_utils.sdlm.second_derivatives`) in notebook 13
and its tests.

>>> from lenet_utils.lenet import LeNet5
>>> sorted(gauss_newton_diagonal(LeNet5(output="rbf"), torch.zeros(1, 1, 32, 32)))[:2]
['c1.bias', 'c1.weight']
"""

from collections import OrderedDict

import torch
from torch import nn

from .lenet import RBFOutput

__all__ = ["gauss_newton_diagonal"]


def gauss_newton_diagonal(net: nn.Sequential, X: torch.Tensor, curvature: float = 2.0) -> dict:
    """The exact diagonal of the Gauss-Newton matrix, averaged over ``X``: for every parameter, the
    sum over the outputs o (before an ``RBFOutput``) of curvature * (do/dw)^2, by autograd, one
    output at a time. Slow: for checking :func:`second_derivatives` on small nets."""
    body = nn.Sequential(OrderedDict((name, layer) for name, layer in net.named_children()
                                     if not isinstance(layer, RBFOutput)))
    params = dict(body.named_parameters())
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    for x in X:
        out = body(x[None]).flatten()
        for o in out:
            grads = torch.autograd.grad(o, list(params.values()), retain_graph=True, allow_unused=True)
            for name, g in zip(params, grads):
                if g is not None:
                    total[name] += curvature * g ** 2
    return {name: value / len(X) for name, value in total.items()}
