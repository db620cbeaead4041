"""Several LeNet-5s trained the paper's way side by side, for the runs that ship with notebook 13.

Notebook 13's loop, :func:`~lenet_utils.sdlm.train_lenet5_sdlm`, updates one network after every
example, and on a CPU most of a step's time is the cost of calling each operation, not arithmetic.
:class:`LeNet5Stack` holds K networks as one: their convolutions as one grouped convolution, F6 as
one batched matrix product, so one call steps all K, each on its own example with its own step
sizes. Each network still sees one example per update: the numbers are those of K separate runs of
the notebook's loop (``tests/test_sdlm.py`` checks it, step by step).

>>> stack = LeNet5Stack([LeNet5(output="rbf") for _ in range(2)])
>>> stack.distances(torch.zeros(5, 2, 32, 32)).shape
torch.Size([2, 5, 10])
"""

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import balanced_subset, load_tensors, to_float_images
from .lenet import LeNet5
from .sdlm import (J, MU, PAPER_ETA, map_loss, pass_data, plain_convolutions, sdlm_step, sdlm_steps,
                   second_derivatives, error_rate)

__all__ = ["LeNet5Stack", "train_side_by_side", "sdlm_runs"]


def _tanh(x: torch.Tensor) -> torch.Tensor:
    return 1.7159 * torch.tanh(x * (2 / 3))


class LeNet5Stack:
    """K ``LeNet5(output="rbf")`` networks as one set of tensors (a copy: :meth:`write_back` copies
    the weights into the networks)."""

    def __init__(self, nets: list[LeNet5]) -> None:
        self.nets, self.k = list(nets), len(nets)
        self.codes = nets[0].output.codes
        self.params = [torch.cat(tensors).detach().clone().requires_grad_(True) for tensors in zip(
            *[self._layout(dict(net.named_parameters()), net) for net in self.nets])]

    def _layout(self, values: dict, net: LeNet5) -> list[torch.Tensor]:
        """One network's tensors (parameters or per-parameter step sizes) as the stack holds them."""
        full_c3 = values["c3.weight"].new_zeros(16, 6, 5, 5).index_put(
            (net.c3.out_index, net.c3.in_index), values["c3.weight"])
        return [values["c1.weight"], values["c1.bias"], values["s2.weight"], values["s2.bias"], full_c3,
                values["c3.bias"], values["s4.weight"], values["s4.bias"], values["c5.weight"],
                values["c5.bias"], values["f6.weight"].T[None], values["f6.bias"][None, None]]

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x K x 32 x 32 (image n of network k in x[n, k]) -> K x N x 10 RBF outputs."""
        c1w, c1b, s2w, s2b, c3w, c3b, s4w, s4b, c5w, c5b, f6w, f6b = self.params
        k = self.k
        h = _tanh(F.conv2d(x, c1w, c1b, groups=k))
        h = _tanh(F.avg_pool2d(h, 2) * s2w.view(1, -1, 1, 1) + s2b.view(1, -1, 1, 1))
        h = _tanh(F.conv2d(h, c3w, c3b, groups=k))
        h = _tanh(F.avg_pool2d(h, 2) * s4w.view(1, -1, 1, 1) + s4b.view(1, -1, 1, 1))
        h = _tanh(F.conv2d(h, c5w, c5b, groups=k)).view(len(x), k, 120).transpose(0, 1)
        h = _tanh(torch.baddbmm(f6b, h, f6w))
        return (h[:, :, None, :] - self.codes).pow(2).sum(-1)

    def set_steps(self, steps: list[dict]) -> None:
        """Each network's step sizes (:func:`~lenet_utils.sdlm.sdlm_steps`), laid out like the
        parameters; C3's missing connections get step 0, so they stay 0."""
        self.steps = [torch.cat(tensors) for tensors in zip(
            *[self._layout(s, net) for s, net in zip(steps, self.nets)])]

    def step(self, x: torch.Tensor, y: torch.Tensor, j: float = J) -> torch.Tensor:
        """One SDLM step of every network on its own example (x: 1 x K x 32 x 32, y: K labels);
        returns the K losses."""
        losses = map_loss(self.distances(x)[:, 0], y, j)
        sdlm_step(self.params, torch.autograd.grad(losses.sum(), self.params), self.steps)
        return losses.detach()

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the stack's weights into its networks."""
        c1w, c1b, s2w, s2b, c3w, c3b, s4w, s4b, c5w, c5b, f6w, f6b = self.params
        for i, net in enumerate(self.nets):
            part = lambda t, n: t[i * n:(i + 1) * n]
            net.c1.weight.copy_(part(c1w, 6)), net.c1.bias.copy_(part(c1b, 6))
            net.s2.weight.copy_(part(s2w, 6)), net.s2.bias.copy_(part(s2b, 6))
            net.c3.weight.copy_(part(c3w, 16)[net.c3.out_index, net.c3.in_index])
            net.c3.bias.copy_(part(c3b, 16))
            net.s4.weight.copy_(part(s4w, 16)), net.s4.bias.copy_(part(s4b, 16))
            net.c5.weight.copy_(part(c5w, 120)), net.c5.bias.copy_(part(c5b, 120))
            net.f6.weight.copy_(f6w[i].T), net.f6.bias.copy_(f6b[i, 0])


def train_side_by_side(nets: list[LeNet5], runs: list[tuple[int, bool]], X: torch.Tensor, y: torch.Tensor,
                       X_test: torch.Tensor, y_test: torch.Tensor, eta: tuple = PAPER_ETA, mu: float = MU,
                       j: float = J, hessian_patterns: int = 500, copies: int = 1,
                       verbose: bool = True) -> list[dict]:
    """:func:`~lenet_utils.sdlm.train_lenet5_sdlm` for each network in ``nets`` with its own
    ``(seed, distort)`` from ``runs``, all stepped together (each pass ``copies`` copies of the
    training set, as :func:`~lenet_utils.sdlm.pass_data` makes them). Returns one result per network, as
    that function does; ``seconds`` and ``examples_per_second`` are the whole stack's."""
    results = [{"seed": seed, "distort": distort, "test_error": [], "loss": [], "examples": 0,
                "complete": False, "status": ""} for seed, distort in runs]
    stack, done = LeNet5Stack(nets), 0
    start = time.perf_counter()
    with plain_convolutions():
        try:
            for pass_index, eta_now in enumerate(eta):
                data = [pass_data(X, y, seed, pass_index, distort, copies) for seed, distort in runs]
                stack.write_back()
                stack.set_steps([sdlm_steps(second_derivatives(net, X_pass[:hessian_patterns]), eta_now, mu)
                                 for net, (X_pass, _) in zip(nets, data)])
                X_all = torch.cat([X_pass for X_pass, _ in data], 1)  # N x K x 32 x 32
                y_all = torch.stack([y_pass for _, y_pass in data], 1)
                del data
                total = torch.zeros(stack.k)
                for i in range(len(X_all)):
                    total += stack.step(X_all[i:i + 1], y_all[i], j)
                    done += 1
                stack.write_back()
                for result, net, loss in zip(results, nets, total.tolist()):
                    result["examples"] = done
                    result["loss"].append(loss / len(X_all))
                    result["test_error"].append(error_rate(net, X_test, y_test))
                if not all(math.isfinite(loss) for loss in total.tolist()):
                    for result in results:
                        result["status"] = f"a loss stopped being finite in pass {pass_index + 1}"
                    break
                if verbose:
                    print(f"pass {pass_index + 1} ({time.perf_counter() - start:.0f} s): test error "
                          + ", ".join(f"{r['test_error'][-1]:.2%}" for r in results), flush=True)
            else:
                for result in results:
                    result["complete"] = True
        except KeyboardInterrupt:
            stack.write_back()
            for result in results:
                result["status"] = f"interrupted after {done:,} steps"
    seconds = time.perf_counter() - start
    for result in results:
        result["seconds"], result["examples_per_second"] = seconds, done * stack.k / max(seconds, 1e-9)
    return results


def sdlm_runs(seeds: tuple = (0, 1, 2), distort: bool = False, eta: tuple = PAPER_ETA, mu: float = MU,
              j: float = J, hessian_patterns: int = 500, copies: int = 1, train_size: int | None = None,
              test_size: int | None = None, root: "str | Path | None" = None,
              verbose: bool = True) -> dict:
    """Train one ``LeNet5(output="rbf")`` per seed the paper's way on MNIST padded to 32x32 (a
    balanced subset when ``train_size`` / ``test_size`` are given), side by side. Returns
    ``{"runs": [one result per seed], "complete": ..., "train_size", "test_size"}``."""
    X, y = load_tensors("mnist", train=True, root=root, verbose=verbose)
    X_test, y_test = load_tensors("mnist", train=False, root=root, verbose=False)
    if train_size is not None:
        keep = balanced_subset(y, train_size)
        X, y = X[keep], y[keep]
    if test_size is not None:
        keep = balanced_subset(y_test, test_size)
        X_test, y_test = X_test[keep], y_test[keep]
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)
        nets.append(LeNet5(output="rbf"))
    runs = train_side_by_side(nets, [(seed, distort) for seed in seeds], to_float_images(X, pad=2), y,
                              to_float_images(X_test, pad=2), y_test, eta, mu, j, hessian_patterns, copies, verbose)
    return {"runs": runs, "complete": all(run["complete"] for run in runs), "distort": distort, "mu": mu,
            "copies": copies,
            "train_size": len(y), "test_size": len(y_test)}
