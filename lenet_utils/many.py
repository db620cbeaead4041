"""Many same-shaped models trained at once, by the rules of the one engine.

:func:`train_many` trains a list of same-shaped nets, one learning rate each, on the same batches.
Sequentially it is ``train_ch6`` once per net. All at once ("stacked"), each net keeps its own
parameters; every step stacks them (``torch.stack``, differentiable), runs one ``vmap``-ed
``functional_call`` for all models on the batch, backpropagates the summed losses (each model's
gradient is that of its own loss) and takes one ``torch.optim`` step built by
:func:`~lenet_utils.train.make_optimizer` with **one param group per model**, each with its own lr.
So both paths share the optimizer semantics, the checkpoints
(:func:`~lenet_utils.train.checkpoint_batches`), the divergence rule
(:func:`~lenet_utils.train.diverged`) and the record (:class:`~lenet_utils.history.History` with its
points). A model that diverges is frozen (its group's lr set to 0, its gradients dropped) and
marked 'diverged'; the others train on. On a GPU that turns many tiny launches into a few big ones.
"""

import copy
import math
import numbers
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import TensorLoader
from .device import check_device, describe
from .fast import CudaGraphStep
from .history import History, Point
from .train import checkpoint_batches, diverged, init_weights, make_optimizer, train_ch6

__all__ = ["ManyRuns", "train_many", "vmap_blocker"]

TEST_BATCH_SIZE = 1024  # evaluation batch: does not change the accuracy, only the speed


def vmap_blocker(nets: Sequence[nn.Module]) -> str | None:
    """Why ``nets`` cannot be trained together with ``vmap``, or None when they can.

    Not supported (these fall back to one run after another): batch norm (its running statistics
    are updated in place during the forward pass), dropout (random masks per model), models that
    differ in their layers or parameter shapes, and an empty list.
    """
    if len(nets) == 0:
        return "there are no models to train"
    first = nets[0]
    if any(repr(net) != repr(first) or type(net) is not type(first) for net in nets[1:]):
        return "the models differ in their layers (only same-shaped models train together)"
    shapes = [(n, p.shape) for n, p in first.named_parameters()]
    if any([(n, p.shape) for n, p in net.named_parameters()] != shapes for net in nets[1:]):
        return "the models' parameters differ in shape"
    for module in first.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
            return "batch norm updates running statistics in place, which vmap cannot do"
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            return "dropout draws random masks, which this vmap trainer does not handle"
    return None


@dataclass
class ManyRuns:
    """What :func:`train_many` did: one History per net, how they were trained and how fast.

    ``trainer`` is 'vmap' (all at once) or 'sequential'; ``reason`` says why it was sequential;
    ``examples_per_sec`` counts training examples summed over all models per second of wall time
    (training and evaluation).
    """

    histories: list[History]
    trainer: str
    reason: str
    seconds: float
    examples_per_sec: float


def _loaders(train_iter, test_iter, device: torch.device, seed: int) -> tuple[TensorLoader, TensorLoader]:
    """Fresh loaders over the same tensors, the training one shuffled from ``seed``."""
    for name, it in (("train_iter", train_iter), ("test_iter", test_iter)):
        if not all(hasattr(it, a) for a in ("X", "y", "batch_size")):
            raise TypeError(f"{name} must be a lenet_utils TensorLoader (from load_data or "
                            f"TensorLoader(X, y, batch_size)), got {type(it).__name__}.")
    train = TensorLoader(train_iter.X, train_iter.y, train_iter.batch_size, shuffle=True,
                         device=device, seed=seed)
    test = TensorLoader(test_iter.X, test_iter.y, max(test_iter.batch_size, TEST_BATCH_SIZE),
                        shuffle=False, device=device, seed=seed)  # seed=None would reseed torch
    return train, test


def _check_lr(lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr={lr!r} is not valid: a learning rate is a positive number such as 0.1.")
    return float(lr)


def train_many(nets: Sequence[nn.Module], lrs: Sequence[float], train_iter: TensorLoader,
               test_iter: TensorLoader, num_epochs: int,
               device: "str | torch.device | None" = None, *, optimizer: str = "sgd",
               seed: int = 0, init: bool = True, parallel: "bool | str" = "auto",
               labels: Sequence[str] | None = None, points_per_epoch: int = 5,
               verbose: bool = False) -> ManyRuns:
    """Train each of ``nets`` with its own learning rate from ``lrs``; the nets are changed in place.

    Every net sees the same batches in the same order (shuffled from ``seed``); with ``init=True``
    each gets d2l's Xavier initialisation right after ``torch.manual_seed(seed)``.

    ``parallel``: 'auto' trains all nets at once (stacked, ``vmap``) on a GPU and one after another
    with ``train_ch6`` on the CPU; True forces the stacked path (also on the CPU, for tests); False
    is always sequential. Whatever vmap does not support (see :func:`vmap_blocker`) falls back to
    sequential runs with a warning instead of failing. Stacked, each History's per-epoch
    ``seconds`` are the group's time divided by the number of models (what each run cost).
    """
    nets = list(nets)
    lrs = [_check_lr(lr) for lr in lrs]
    if len(lrs) != len(nets):
        raise ValueError(f"Got {len(nets)} nets but {len(lrs)} learning rates: give one lr per net.")
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral) or num_epochs < 1:
        raise ValueError(f"num_epochs={num_epochs!r} is not valid: it must be a whole number >= 1.")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer={optimizer!r} is not valid: choose one of sgd, adam.")
    if parallel not in ("auto", True, False):
        raise ValueError(f"parallel must be 'auto', True or False, got {parallel!r}.")
    device = check_device(device if device is not None else getattr(train_iter, "device", None))
    labels = list(labels) if labels is not None else [f"lr {lr:g}" for lr in lrs]
    blocker = vmap_blocker(nets)
    if parallel is False:
        reason = "parallel=False"
    elif parallel == "auto" and device.type != "cuda":
        reason = "on the CPU models train one after another (parallel=True forces vmap)"
    else:
        reason = blocker
        if blocker and parallel is True:
            warnings.warn(f"Training the models one after another: {blocker}.", stacklevel=2)
    start = time.perf_counter()
    if reason is None:
        histories = _train_stacked(nets, lrs, train_iter, test_iter, num_epochs, device, optimizer,
                                   seed, init, labels, points_per_epoch)
    else:
        histories = []
        for net, lr, label in zip(nets, lrs, labels):
            train, test = _loaders(train_iter, test_iter, device, seed)
            torch.manual_seed(seed)
            histories.append(train_ch6(net, train, test, num_epochs, lr, device, optimizer=optimizer,
                                       init=init, animate=False, verbose=False, label=label,
                                       points_per_epoch=points_per_epoch))
    seconds = time.perf_counter() - start
    examples = sum(h.points[-1].examples for h in histories if h.points)
    if verbose:
        how = "all at once (vmap)" if reason is None else "one after another"
        print(f"{len(nets)} models trained {how} in {seconds:.1f} s: {examples / seconds:,.0f} "
              f"examples/sec summed over models on {describe(device)}")
    return ManyRuns(histories, "vmap" if reason is None else "sequential", reason or "",
                    seconds, examples / seconds)


def _diverged_message(loss: float, epoch: int, batch: int, num_batches: int, lr: float,
                      completed: int) -> str:
    """The same words ``train_ch6`` uses for a run that diverged."""
    how = "became" if not math.isfinite(loss) else "exploded to"
    return (f"Stopped: the training loss {how} {loss:.4g} in epoch {epoch + 1} (by batch "
            f"{batch + 1}/{num_batches}): the run diverged. The learning rate lr={lr:g} is too large "
            f"for this model and optimizer: try a smaller one (e.g. lr=0.1 to 0.9 for SGD on "
            f"LeNet, 1e-3 for Adam). The weights are now unusable; train again with init=True. "
            f"Kept the history of the {completed} completed epoch(s).")


def _train_stacked(nets, lrs, train_iter, test_iter, num_epochs, device, optimizer, seed, init,
                   labels, points_per_epoch) -> list[History]:
    """All nets at once: one stacked, vmap-ed forward/backward and one optimizer step per batch."""
    from torch.func import functional_call, vmap

    for net in nets:
        if init:
            torch.manual_seed(seed)
            net.apply(init_weights)
        net.to(device).train()
    m = len(nets)
    own = [dict(net.named_parameters()) for net in nets]
    names = list(own[0])
    buffers = {k: torch.stack([dict(net.named_buffers())[k] for net in nets])
               for k, _ in nets[0].named_buffers()}
    base = copy.deepcopy(nets[0]).to("meta")
    logits_of = vmap(lambda p, b, X: functional_call(base, (p, b), (X,)), in_dims=(0, 0, None))
    loss_of = vmap(F.cross_entropy, in_dims=(0, None))
    graphed = device.type == "cuda"
    groups = [{"params": list(net.parameters()), "lr": lr} for net, lr in zip(nets, lrs)]
    opt = make_optimizer(optimizer, groups, lrs[0], capturable=graphed)
    frozen: list[int] = []  # models that diverged: no more updates
    num_classes = 0  # read from the first output, as train_ch6 does
    sums = torch.zeros(2, m, device=device)  # per model: summed loss, correct predictions

    def stacked() -> dict:
        return {k: torch.stack([p[k] for p in own]) for k in names}

    def step(X, y):
        nonlocal num_classes
        logits = logits_of(stacked(), buffers, X)  # models × batch × classes
        num_classes = num_classes or logits.shape[-1]
        losses = loss_of(logits, y)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # each model's parameters get the gradient of its own loss
        for i in frozen:
            for p in nets[i].parameters():
                p.grad = None  # torch.optim skips a parameter without a gradient
        opt.step()
        with torch.no_grad():
            sums[0] += losses.detach() * y.shape[0]
            sums[1] += (logits.detach().argmax(dim=-1) == y).sum(dim=-1)

    train, test = _loaders(train_iter, test_iter, device, seed)
    run_step = CudaGraphStep(step, verbose=False) if graphed else step
    histories = [History(label=label, device=describe(device)) for label in labels]
    num_batches = len(train)
    checkpoints = checkpoint_batches(num_batches, points_per_epoch)
    train_time, examples = 0.0, 0
    for epoch in range(num_epochs):
        start = time.perf_counter()
        sums.zero_()
        seen = 0
        for batch, (X, y) in enumerate(train):
            run_step(X, y)
            seen += y.shape[0]
            if batch not in checkpoints:
                continue
            loss_sum, correct = sums.tolist()  # the host reads the device sums here only
            for i, h in enumerate(histories):
                if i in frozen:
                    continue
                if diverged(loss_sum[i] / seen, num_classes):
                    frozen.append(i)
                    opt.param_groups[i]["lr"] = 0.0
                    h.status = "diverged"
                    h.message = _diverged_message(loss_sum[i] / seen, epoch, batch, num_batches,
                                                  lrs[i], h.num_epochs)
                    if graphed:  # the captured step would still update it: capture again
                        run_step = CudaGraphStep(step, verbose=False)
                else:
                    h.points.append(Point(epoch + (batch + 1) / num_batches, examples + seen,
                                          loss_sum[i] / seen, correct[i] / seen))
            if len(frozen) == m:
                break
        train_time += time.perf_counter() - start
        examples += seen
        if len(frozen) == m:
            break
        correct_test = torch.zeros(m, device=device)
        with torch.no_grad():
            weights = stacked()
            for X, y in test:
                correct_test += (logits_of(weights, buffers, X).argmax(dim=-1) == y).sum(dim=-1)
        test_acc = (correct_test / test.num_examples).tolist()
        share = (time.perf_counter() - start) / m
        for i, h in enumerate(histories):
            if i in frozen:
                continue
            p = h.points[-1]  # the last batch is always a checkpoint
            p.test_acc = test_acc[i]
            h.add_epoch(p.train_loss, p.train_acc, test_acc[i], share, opt.param_groups[i]["lr"])
            h.examples_per_sec = examples / (train_time / m)
    for h in histories:
        if h.status == "running":
            h.status = "completed"
    for net in nets:
        net.eval()
    return histories
