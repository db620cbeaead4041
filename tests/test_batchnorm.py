"""Batch norm written out computes what PyTorch's layers compute, in training and in evaluation."""

import pytest
import torch
from torch import nn

from lenet_utils.batchnorm import BatchNorm, batch_norm


def _pair(num_features: int, num_dims: int) -> tuple[BatchNorm, nn.Module]:
    """Our BatchNorm and PyTorch's, with the same random (not 1 and 0) scale and shift."""
    ours = BatchNorm(num_features, num_dims)
    builtin = (nn.BatchNorm2d if num_dims == 4 else nn.BatchNorm1d)(num_features)
    with torch.no_grad():
        ours.gamma.copy_(torch.rand_like(ours.gamma) + 0.5)
        ours.beta.copy_(torch.randn_like(ours.beta))
        builtin.weight.copy_(ours.gamma.flatten())
        builtin.bias.copy_(ours.beta.flatten())
    return ours, builtin


@pytest.mark.parametrize("shape", [(8, 6, 12, 12), (16, 84)], ids=["conv", "dense"])
def test_training_mode_matches_pytorch_outputs_running_statistics_and_gradients(shape):
    torch.manual_seed(0)
    ours, builtin = _pair(shape[1], len(shape))
    for _ in range(3):
        X = torch.randn(shape) * 3 + 2
        X_ours, X_builtin = X.clone().requires_grad_(), X.clone().requires_grad_()
        Y_ours, Y_builtin = ours(X_ours), builtin(X_builtin)
        torch.testing.assert_close(Y_ours, Y_builtin)
        upstream = torch.randn(shape)
        (Y_ours * upstream).sum().backward()
        (Y_builtin * upstream).sum().backward()
        torch.testing.assert_close(X_ours.grad, X_builtin.grad)
    # sums over thousands of values, added in another order: float32 rounding, hence 1e-4
    torch.testing.assert_close(ours.gamma.grad.flatten(), builtin.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.beta.grad.flatten(), builtin.bias.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.moving_mean.flatten(), builtin.running_mean)
    torch.testing.assert_close(ours.moving_var.flatten(), builtin.running_var)


@pytest.mark.parametrize("shape", [(8, 6, 12, 12), (16, 84)], ids=["conv", "dense"])
def test_evaluation_mode_uses_the_running_statistics_like_pytorch(shape):
    torch.manual_seed(1)
    ours, builtin = _pair(shape[1], len(shape))
    for _ in range(3):
        X = torch.randn(shape) * 3 + 2
        ours(X), builtin(X)
    ours.eval(), builtin.eval()
    before = ours.moving_mean.clone(), ours.moving_var.clone()
    X = torch.randn(shape) * 3 + 2
    torch.testing.assert_close(ours(X), builtin(X))
    torch.testing.assert_close(ours(X[:1]), builtin(X[:1]))  # one example is fine in evaluation
    assert torch.equal(ours.moving_mean, before[0]) and torch.equal(ours.moving_var, before[1])


def test_training_output_has_mean_0_and_variance_1_per_channel():
    torch.manual_seed(2)
    X = torch.randn(4, 3, 5, 5) * torch.tensor([1.0, 10.0, 0.1]).view(1, 3, 1, 1) + 7
    Y = BatchNorm(3, num_dims=4)(X)
    torch.testing.assert_close(Y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(Y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


def test_one_step_moves_the_running_statistics_by_momentum():
    X = torch.tensor([[1.0], [3.0]])  # mean 2, biased variance 1, unbiased variance 2
    ones, zeros = torch.ones(1, 1), torch.zeros(1, 1)
    Y, mean, var = batch_norm(X, ones, zeros, zeros, ones, eps=0.0, momentum=0.1)
    assert Y.flatten().tolist() == [-1.0, 1.0]
    torch.testing.assert_close(mean, torch.tensor([[0.2]]))  # 0.9 * 0 + 0.1 * 2
    torch.testing.assert_close(var, torch.tensor([[1.1]]))  # 0.9 * 1 + 0.1 * 2
    Y, mean, var = batch_norm(X, ones, zeros, mean, var, eps=0.0, momentum=0.1, training=False)
    torch.testing.assert_close(Y, (X - 0.2) / 1.1 ** 0.5)


def test_running_statistics_are_buffers_not_parameters():
    bn = BatchNorm(6, num_dims=4)
    assert [name for name, _ in bn.named_parameters()] == ["gamma", "beta"]
    assert set(bn.state_dict()) == {"gamma", "beta", "moving_mean", "moving_var"}
    bn(torch.randn(2, 6, 4, 4))
    assert not bn.moving_mean.requires_grad and not bn.moving_var.requires_grad
    assert repr(bn) == "BatchNorm(6, num_dims=4, eps=1e-05, momentum=0.1)"


@pytest.mark.parametrize("make, X, message", [
    (lambda: BatchNorm(6, num_dims=3), None, "num_dims is 2"),
    (lambda: BatchNorm(6, num_dims=4), torch.zeros(2, 6), "built for 4-d batches"),
    (lambda: BatchNorm(6, num_dims=2), torch.zeros(1, 6), "more than one value"),
])
def test_bad_use_is_refused_with_a_reason(make, X, message):
    with pytest.raises(ValueError, match=message):
        make()(X)


def test_batch_norm_refuses_a_3d_batch():
    with pytest.raises(ValueError, match="N x C x H x W"):
        batch_norm(torch.zeros(2, 3, 4), torch.ones(1), torch.zeros(1), torch.zeros(1), torch.ones(1),
                   1e-5, 0.1)
