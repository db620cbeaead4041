"""A model with a known answer, for tests of accuracy: ``AlwaysZero`` scores class 0 highest for
every input (``from constant_model import AlwaysZero`` in tests/)."""

import torch
from torch import nn


class AlwaysZero(nn.Module):
    """Two class scores per example, (1, 0), whatever the input; one unused parameter so that
    code reading a model's device finds one.

        AlwaysZero()(torch.zeros(3, 1)).argmax(dim=1)  # tensor([0, 0, 0])
    """

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.ones(len(X)), torch.zeros(len(X))], dim=1) + 0 * self.w
