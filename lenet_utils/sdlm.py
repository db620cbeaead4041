"""LeNet-5 trained as the paper trained it (LeCun et al., 1998, section II-A and Appendix C), as
notebook 13 writes it: the MAP criterion on the RBF outputs (``map_loss``), the diagonal second
derivatives that stochastic diagonal Levenberg-Marquardt divides by (``second_derivatives``), the
SDLM step (``sdlm_step``), the paper's distortions (``paper_distortions``) and its one-example-at-a-
time training loop (``train_lenet5_sdlm``).

>>> PAPER_ETA[:3], len(PAPER_ETA)
((0.0005, 0.0005, 0.0002), 20)
"""

import contextlib
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .lenet import LeNet5, PartialConv2d, RBFOutput, ScaledTanh, Subsampling
from .lenet5_run import paper_input_scale
from .shapes import ShapeError

__all__ = ["PAPER_ETA", "MU", "J", "map_loss", "second_derivatives", "sdlm_steps",
           "sdlm_step", "paper_distortions", "pass_data", "plain_convolutions", "error_rate", "train_lenet5_sdlm"]


# --- notebook 13: the RBF outputs and the MAP criterion -------------------------------------------

J = 1.0  #: the MAP criterion's constant j (the paper says only "a positive constant")


def map_loss(distances: torch.Tensor, y: torch.Tensor, j: float = J) -> torch.Tensor:
    """The paper's MAP criterion for each example: the correct class's RBF output (a squared
    distance) plus log(e^-j + sum_i e^-y_i), which pushes the wrong classes' distances up.
    ``distances`` is N x 10 (``-net(X)`` for ``LeNet5(output="rbf")``), ``y`` N labels."""
    floor = distances.new_full((distances.shape[0], 1), -j)
    return distances.gather(1, y[:, None]).squeeze(1) + torch.logsumexp(torch.cat([floor, -distances], 1), 1)


# --- notebook 13: second derivatives, backpropagated -----------------------------------------------

def _second_derivative_step(layer: nn.Module, x: torch.Tensor, d2y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """One layer of the paper's diagonal second-derivative backpropagation: from d2E/dy^2 at the
    layer's output to d2E/dx^2 at its input (weights squared, no cross terms), and each parameter's
    sum over the batch of d2E/dw^2 (inputs squared)."""
    if isinstance(layer, ScaledTanh):  # y = f(x): d2E/dx2 = f'(x)^2 d2E/dy2 (the f'' term dropped)
        slope = layer.A * layer.S * (1 - torch.tanh(layer.S * x) ** 2)
        return slope ** 2 * d2y, {}
    if isinstance(layer, nn.Flatten):
        return d2y.reshape(x.shape), {}
    if isinstance(layer, nn.Linear):
        return d2y @ layer.weight ** 2, {"weight": d2y.T @ x ** 2, "bias": d2y.sum(0)}
    if isinstance(layer, (nn.Conv2d, PartialConv2d)):
        w = layer.full_weight() if isinstance(layer, PartialConv2d) else layer.weight
        h_w = torch.nn.grad.conv2d_weight(x ** 2, w.shape, d2y)
        if isinstance(layer, PartialConv2d):
            h_w = h_w[layer.out_index, layer.in_index]  # only the connected kernels are parameters
        return (torch.nn.grad.conv2d_input(x.shape, w ** 2, d2y),
                {"weight": h_w, "bias": d2y.sum((0, 2, 3))})
    if isinstance(layer, Subsampling):  # y = w * mean of k*k inputs + b
        k = layer.kernel_size
        pooled = F.avg_pool2d(x, k)
        d2x = F.interpolate(d2y * (layer.weight.view(1, -1, 1, 1) / k ** 2) ** 2, scale_factor=k)
        return d2x, {"weight": (pooled ** 2 * d2y).sum((0, 2, 3)), "bias": d2y.sum((0, 2, 3))}
    raise TypeError(f"second_derivatives does not know {type(layer).__name__}: LeNet5's layers only.")


@torch.no_grad()
def second_derivatives(net: nn.Sequential, X: torch.Tensor, curvature: float = 2.0) -> dict:
    """h_kk for every parameter of ``net``: the diagonal Gauss-Newton second derivative of the loss,
    averaged over the patterns ``X``, by backpropagating second derivatives (Appendix C). At the
    outputs before an ``RBFOutput`` (F6) d2E/dx2 = ``curvature``, 2 being that of the correct
    class's squared distance. Returns ``{name: tensor shaped like the parameter}``.

    ``h = second_derivatives(LeNet5(output="rbf"), X[:500])``
    """
    layers = [(name, layer) for name, layer in net.named_children() if not isinstance(layer, RBFOutput)]
    inputs, x = [], X
    for _, layer in layers:
        inputs.append(x)
        x = layer(x)
    d2, h = torch.full_like(x, curvature), {}
    for (name, layer), x in zip(reversed(layers), reversed(inputs)):
        d2, h_layer = _second_derivative_step(layer, x, d2)
        h.update({f"{name}.{p}": value / len(X) for p, value in h_layer.items()})
    return {name: h[name] for name, _ in net.named_parameters()}


# --- notebook 13: the SDLM step ---------------------------------------------------------------------

#: The paper's global step size for each of its 20 passes: 0.0005 for 2, 0.0002 for 3, 0.0001 for 3,
#: 0.00005 for 4, then 0.00001.
PAPER_ETA = (5e-4,) * 2 + (2e-4,) * 3 + (1e-4,) * 3 + (5e-5,) * 4 + (1e-5,) * 8
MU = 0.02  #: the paper's safety term: a weight's step is eta / (MU + h_kk)


def sdlm_steps(h: dict, eta: float, mu: float = MU) -> dict:
    """Each weight's own step size, eta / (mu + h_kk)."""
    return {name: eta / (mu + value) for name, value in h.items()}


@torch.no_grad()
def sdlm_step(params: list, grads: list, steps: list) -> None:
    """w_k <- w_k - step_k * dE/dw_k for every weight, in place (one fused call)."""
    torch._foreach_addcmul_(params, steps, grads, value=-1)


# --- notebook 13: the paper's distortions -----------------------------------------------------------

def paper_distortions(X: torch.Tensor, generator: torch.Generator, share: float = 0.9, shift: float = 2.0,
                      scale: float = 0.1, squeeze: float = 0.1, shear: float = 0.2) -> torch.Tensor:
    """A random planar affine distortion of each image in ``X`` (N x 1 x H x W, background 0) with
    probability ``share``, the rest unchanged: translation up to ``shift`` pixels each way, scaling by
    1 +- ``scale``, squeezing (x by 1+s, y by 1/(1+s), s up to +-``squeeze``) and horizontal shearing
    up to +-``shear``, each drawn uniformly. ``share=0.9`` keeps the paper's mix (540,000 distorted
    images beside 60,000 originals)."""
    n, size = len(X), X.shape[-1]
    u = lambda: torch.rand(n, generator=generator) * 2 - 1  # uniform in [-1, 1]
    zoom, squash, tilt = 1 + scale * u(), 1 + squeeze * u(), shear * u()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 1] = zoom * squash, zoom * tilt, zoom / squash
    theta[:, :, 2] = shift * 2 / size * torch.stack([u(), u()], 1)
    keep = torch.rand(n, generator=generator) >= share
    theta[keep] = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    grid = F.affine_grid(theta, list(X.shape), align_corners=False)
    return F.grid_sample(X, grid, align_corners=False)


# --- notebook 13: training one example at a time ----------------------------------------------------

def pass_data(X: torch.Tensor, y: torch.Tensor, seed: int, pass_index: int, distort: bool = False,
              copies: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass's training images in its own random order (fresh distortions if ``distort``), in
    the paper's input scale. ``X``: N x 1 x 32 x 32 in [0, 1]. ``copies=10`` makes a pass of ten
    copies of each image, as the paper's enlarged set of 60,000 + 540,000 images did."""
    generator = torch.Generator().manual_seed(seed * 1000 + pass_index)
    X, y = X.repeat(copies, 1, 1, 1), y.repeat(copies)
    order = torch.randperm(len(X), generator=generator)
    X, y = X[order], y[order]
    if distort:
        X = paper_distortions(X, generator)
    return paper_input_scale(X), y


def plain_convolutions() -> contextlib.AbstractContextManager:
    """A context in which convolutions skip oneDNN, whose set-up cost per call makes one image's
    step about twice as slow on a CPU; the setting is restored on leaving."""
    return torch.backends.mkldnn.flags(enabled=False, deterministic=None, allow_tf32=None, fp32_precision=None)


@torch.no_grad()
def error_rate(net: nn.Module, X: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """The share of ``X`` (N x 1 x 32 x 32 in [0, 1]) that ``net`` misclassifies."""
    wrong = sum(int((net(paper_input_scale(X[i:i + chunk])).argmax(1) != y[i:i + chunk]).sum())
                for i in range(0, len(X), chunk))
    return wrong / len(X)


def train_lenet5_sdlm(net: LeNet5, X: torch.Tensor, y: torch.Tensor, X_test: torch.Tensor, y_test: torch.Tensor,
                      seed: int = 0, distort: bool = False, eta: tuple = PAPER_ETA, mu: float = MU,
                      j: float = J, hessian_patterns: int = 500, verbose: bool = True) -> dict:
    """Train ``LeNet5(output="rbf")`` the paper's way: for each pass (one per entry of ``eta``),
    h_kk on the first ``hessian_patterns`` of the pass, then one SDLM step per training example.
    Images are N x 1 x 32 x 32 in [0, 1]. Returns the test error after each pass, the mean loss of
    each pass, ``seconds``, ``examples_per_second`` and ``complete`` (False after Ctrl-C or a loss
    that stopped being finite: the net keeps the weights it had then).
    """
    if not isinstance(getattr(net, "output", None), RBFOutput):
        raise ValueError(f"train_lenet5_sdlm trains LeNet5(output='rbf'): the MAP criterion scores its RBF "
                         f"distances, and {type(net).__name__} has no RBF output layer.")
    for name, images in (("X", X), ("X_test", X_test)):
        if images.dim() != 4 or images.shape[1:] != (1, 32, 32):
            raise ShapeError(f"{name} must be N x 1 x 32 x 32 images in [0, 1], got {tuple(images.shape)}: "
                             f"pad MNIST's 28x28 by 2, e.g. to_float_images(images, pad=2).")
    names, params = zip(*net.named_parameters())
    result = {"test_error": [], "loss": [], "seconds": 0.0, "examples": 0, "complete": False, "status": ""}
    start = time.perf_counter()
    with plain_convolutions():
        try:
            for pass_index, eta_now in enumerate(eta):
                X_pass, y_pass = pass_data(X, y, seed, pass_index, distort)
                h = second_derivatives(net, X_pass[:hessian_patterns])
                steps = [sdlm_steps(h, eta_now, mu)[name] for name in names]
                total = torch.zeros(())
                for i in range(len(X_pass)):
                    loss = map_loss(-net(X_pass[i:i + 1]), y_pass[i:i + 1], j).sum()
                    sdlm_step(list(params), torch.autograd.grad(loss, params), steps)
                    total += loss.detach()
                    result["examples"] += 1
                if not math.isfinite(float(total)):
                    result["status"] = f"the loss stopped being finite in pass {pass_index + 1}"
                    break
                result["loss"].append(float(total) / len(X_pass))
                result["test_error"].append(error_rate(net, X_test, y_test))
                if verbose:
                    print(f"pass {pass_index + 1}: loss {result['loss'][-1]:.3f}, "
                          f"test error {result['test_error'][-1]:.2%}")
            else:
                result["complete"] = True
        except KeyboardInterrupt:
            result["status"] = f"interrupted after {result['examples']:,} examples"
    result["seconds"] = time.perf_counter() - start
    result["examples_per_second"] = result["examples"] / max(result["seconds"], 1e-9)
    return result
