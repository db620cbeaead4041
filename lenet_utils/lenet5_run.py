"""The faithful 1998 LeNet-5 against the paper: LeCun et al. report 0.95% test error on MNIST
(without distortions, after 20 passes). :func:`train_lenet5_paper` trains our :class:`LeNet5` as
close to the paper's recipe as practical (its input scaling :func:`paper_input_scale`, its
decreasing learning-rate schedule :func:`paper_lr_factor`) with the one engine, ``train_ch6``;
:func:`compare_with_paper` puts the two errors side by side.
"""

import json
import math
import time
from pathlib import Path

import torch

from .data import TensorLoader, load_data
from .device import check_device
from .history import History
from .lenet import LeNet5
from .train import train_ch6

__all__ = ["PAPER_TEST_ERROR", "paper_input_scale", "paper_scaled", "paper_lr_factor", "train_lenet5_paper",
           "compare_with_paper", "save_paper_run", "load_paper_run"]

#: Test error of LeNet-5 on MNIST in LeCun et al. (1998), without distortions.
PAPER_TEST_ERROR = 0.0095


def paper_input_scale(X: torch.Tensor) -> torch.Tensor:
    """The paper's input normalisation: background 0 -> -0.1, full ink 1 -> 1.175 (mean about 0,
    variance about 1 on MNIST)."""
    return X * 1.275 - 0.1


def paper_scaled(train_iter: TensorLoader, test_iter: TensorLoader,
                 seed: int = 0) -> tuple[TensorLoader, TensorLoader]:
    """The same two loaders with :func:`paper_input_scale` applied to their images (training
    batches shuffled from ``seed``, test batches in order)."""
    return (TensorLoader(paper_input_scale(train_iter.X), train_iter.y, train_iter.batch_size,
                         device=train_iter.device, seed=seed),
            TensorLoader(paper_input_scale(test_iter.X), test_iter.y, test_iter.batch_size,
                         shuffle=False, device=test_iter.device))


def paper_lr_factor(epoch: int, num_epochs: int) -> float:
    """The paper's decreasing learning-rate schedule (0.0005 for 2 passes, 0.0002 for 3, 0.0001
    for 3, 0.00005 for 4, then 0.00001), relative to its first value and squeezed into
    ``num_epochs`` epochs (its 20 passes mapped onto ours)."""
    paper_pass = epoch * 20 / num_epochs
    for until, factor in ((2, 1.0), (5, 0.4), (8, 0.2), (12, 0.1)):
        if paper_pass < until:
            return factor
    return 0.02


def train_lenet5_paper(num_epochs: int = 5, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                       device: "str | torch.device | None" = None, train_size: int | None = None,
                       test_size: int | None = None, root: "str | Path | None" = None,
                       verbose: bool = True) -> dict:
    """Train the faithful :class:`LeNet5` on MNIST padded to 32x32, as close to the paper as practical.

    Kept from the paper: the architecture (C3 table, trainable subsampling, scaled tanh), its
    weight initialisation (uniform ±2.4 / fan-in), its input scaling and the shape of its
    decreasing learning-rate schedule. Changed: a dense output with cross-entropy instead of RBF
    units with the paper's MAP criterion, mini-batches instead of single examples, fewer epochs, and
    Adam instead of the stochastic diagonal Levenberg-Marquardt method (both give each weight its
    own step size from curvature or gradient statistics; plain SGD barely moves the tiny initial
    weights). Returns ``net``, ``history``, ``complete`` (False when Ctrl-C or a stop cut the run
    short: such a run is not stored), ``test_error``, ``paper_test_error`` and ``seconds``.
    """
    device = check_device(device)
    train_iter, test_iter = load_data("mnist", batch_size, pad=2, device=device, train_size=train_size,
                                      test_size=test_size, seed=seed, root=root, verbose=verbose)
    train_iter, test_iter = paper_scaled(train_iter, test_iter, seed=seed)
    torch.manual_seed(seed)
    net = LeNet5()
    start = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, num_epochs, lr, device, optimizer="adam",
                        scheduler=lambda epoch: lr * paper_lr_factor(epoch, num_epochs),
                        init=False, animate=False, verbose=verbose)
    seconds = time.perf_counter() - start
    test_error = 1 - history.final_test_acc  # NaN when it diverged in its first epoch
    return {"net": net, "history": history, "complete": history.complete, "test_error": test_error,
            "paper_test_error": PAPER_TEST_ERROR, "seconds": seconds,
            "train_size": train_iter.num_examples, "test_size": test_iter.num_examples}


def compare_with_paper(result: dict) -> str:
    """One line: our LeNet-5 test error next to the paper's."""
    ours, paper = result["test_error"], result["paper_test_error"]
    n = result["test_size"]
    if not math.isfinite(ours):
        return (f"LeNet-5 completed no epoch ({result['history'].status}): "
                f"{result['history'].message or 'no test error to compare'}")
    # binomial standard error of a test error measured on n images
    se = math.sqrt(max(ours * (1 - ours), 1e-12) / n)
    return (f"LeNet-5 test error on {n:,} MNIST test images: {ours:.2%} (± {se:.2%} standard error) "
            f"after {len(result['history'].test_acc)} epochs, versus {paper:.2%} in the paper "
            f"(20 passes): {'better than' if ours < paper else 'worse than' if ours > paper else 'equal to'} "
            f"the paper by {abs(ours - paper) * 100:.2f} percentage points.")


def save_paper_run(result: dict, folder: Path) -> None:
    """Write what :func:`train_lenet5_paper` returned, less the net: figures and history as JSON
    (``lenet5.json``, a few kB that can ship with the course; no weights)."""
    figures = {k: v for k, v in result.items() if k not in ("net", "history")}
    (folder / "lenet5.json").write_text(json.dumps({**figures, "history": result["history"].to_dict()}))


def load_paper_run(folder: Path) -> dict:
    """The figures and history :func:`save_paper_run` wrote (no ``net``)."""
    saved = json.loads((folder / "lenet5.json").read_text())
    return {**saved, "history": History.from_dict(saved["history"])}
