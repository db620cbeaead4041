"""Batch normalization written out, as chapter 6 teaches it (saved from there).

The design is d2l's from-scratch version (d2l 1.0, section 8.5; section 7.5 in d2l 0.17): a function
``batch_norm`` that does the arithmetic and returns the updated running statistics, and a module
``BatchNorm`` that keeps the parameters and the running statistics. Two choices follow PyTorch
instead of d2l, so that ``BatchNorm`` computes what ``nn.BatchNorm2d`` / ``nn.BatchNorm1d`` compute
(chapter 6 and tests/test_batchnorm.py check it): the mode is the module's ``training`` flag (set by
``net.train()`` / ``net.eval()``), not ``torch.is_grad_enabled()``; and the running variance is fed
the batch variance divided by n - 1 (unbiased), while the batch itself is normalised with the one
divided by n. The networks the course trains use the built-in layers, as d2l's concise version does.
"""

import torch
from torch import nn

__all__ = ["batch_norm", "BatchNorm"]


def batch_norm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
               moving_var: torch.Tensor, eps: float, momentum: float,
               training: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalise ``X`` (N x features, or N x channels x H x W) per feature or channel, then scale
    by ``gamma`` and shift by ``beta``; return the output and the new running mean and variance.

    Training: each feature/channel is normalised with this batch's mean and (biased) variance, and
    the running statistics move a fraction ``momentum`` towards the batch's (the variance towards
    the unbiased one). Evaluation (``training=False``): the running statistics normalise, unchanged.

        Y, moving_mean, moving_var = batch_norm(X, gamma, beta, moving_mean, moving_var, 1e-5, 0.1)
    """
    if X.dim() not in (2, 4):
        raise ValueError(f"batch_norm expects N x features (after a dense layer) or N x C x H x W "
                         f"(after a convolution), got shape {tuple(X.shape)}.")
    if not training:  # evaluation: the running statistics, the same for every batch
        mean, var = moving_mean, moving_var
    else:
        dims = (0,) if X.dim() == 2 else (0, 2, 3)  # everything but the feature/channel axis
        n = X.numel() // X.shape[1]  # values per feature/channel in this batch
        if n < 2:
            raise ValueError(f"batch_norm in training mode needs more than one value per "
                             f"feature/channel, got shape {tuple(X.shape)}: use a larger batch.")
        mean = X.mean(dim=dims, keepdim=True)
        var = ((X - mean) ** 2).mean(dim=dims, keepdim=True)
        with torch.no_grad():  # running statistics are bookkeeping, not part of the gradient
            moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
            moving_var = (1.0 - momentum) * moving_var + momentum * var * n / (n - 1)
    X_hat = (X - mean) / torch.sqrt(var + eps)
    return gamma * X_hat + beta, moving_mean, moving_var


class BatchNorm(nn.Module):
    """Batch norm for a dense layer's ``num_features`` outputs (``num_dims=2``) or a convolution's
    ``num_features`` channels (``num_dims=4``): a learned scale ``gamma`` (starts at 1) and shift
    ``beta`` (starts at 0), and running statistics kept as buffers (saved with the weights, moved
    by ``.to(device)``, never trained). ``net.train()`` / ``net.eval()`` switch the mode.

        bn = BatchNorm(6, num_dims=4)  # where nn.BatchNorm2d(6) would go
    """

    def __init__(self, num_features: int, num_dims: int, eps: float = 1e-5,
                 momentum: float = 0.1) -> None:
        super().__init__()
        if num_dims not in (2, 4):
            raise ValueError(f"num_dims is 2 (after a dense layer) or 4 (after a convolution), "
                             f"got {num_dims!r}.")
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.eps, self.momentum = eps, momentum
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.register_buffer("moving_mean", torch.zeros(shape))
        self.register_buffer("moving_var", torch.ones(shape))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.dim() != self.gamma.dim():
            raise ValueError(f"this BatchNorm was built for {self.gamma.dim()}-d batches "
                             f"(num_dims={self.gamma.dim()}), got shape {tuple(X.shape)}.")
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, self.eps, self.momentum,
            training=self.training)
        return Y

    def extra_repr(self) -> str:
        return f"{self.gamma.shape[1]}, num_dims={self.gamma.dim()}, eps={self.eps:g}, momentum={self.momentum:g}"
