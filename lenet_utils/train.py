"""The course's one training engine: ``train_ch6(net, train_iter, test_iter, num_epochs, lr, device)``
with d2l's signature and report, fast (see :mod:`lenet_utils.fast` for why), and safe: a run that
diverges, is interrupted or is stopped by a hook ends with its model and history kept.

Everything that trains in the package calls it (the sweep, the ladder, the many-models trainer
shares its rules: :func:`diverged`, :func:`make_optimizer`, :class:`~lenet_utils.history.History`).
Chapter 4 writes d2l's textbook loop out in full (:mod:`lenet_utils.textbook`) and compares.
"""

import math
import numbers
import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .device import check_device, describe, evaluating
from .fast import CudaGraphStep, channels_last, correct_count, device_batches
from .history import History, Point
from .plot import Animator

__all__ = ["EXPLODED_LOSS_FACTOR", "diverged", "make_optimizer", "init_weights", "evaluate",
           "predict", "train_ch6"]

#: A run has blown up when its mean loss exceeds this many times the loss of a uniform guess
#: (ln of the number of classes, 2.3 for 10): it is then stopped like one whose loss is NaN/inf.
EXPLODED_LOSS_FACTOR = 100


def diverged(mean_loss: float, num_classes: int) -> bool:
    """The one rule for "this run diverged": the mean training loss is NaN/inf, or above
    ``EXPLODED_LOSS_FACTOR`` times the loss of a uniform guess over ``num_classes`` classes."""
    return not math.isfinite(mean_loss) or mean_loss > EXPLODED_LOSS_FACTOR * math.log(max(num_classes, 2))


def make_optimizer(optimizer: "str | Callable", params: Iterable, lr: float,
                   capturable: bool = False) -> torch.optim.Optimizer:
    """'sgd' (d2l), 'adam', or a factory called as ``factory(params, lr=lr)`` (e.g.
    ``functools.partial(torch.optim.SGD, momentum=0.9)``). ``params`` may be parameters or
    param-group dicts, each with its own 'lr'. ``capturable`` lets Adam run inside a CUDA graph."""
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key == "sgd":
            return torch.optim.SGD(params, lr=lr)
        if key == "adam":
            return torch.optim.Adam(params, lr=lr, capturable=capturable)
    elif callable(optimizer):
        return optimizer(params, lr=lr)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or a factory such as torch.optim.AdamW "
                     f"(called as factory(params, lr=lr)), got {optimizer!r}.")


def init_weights(module: nn.Module) -> None:
    """d2l's initialisation: Xavier-uniform weights for every linear and convolution layer."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)


def _model_device(net: nn.Module) -> torch.device:
    param = next(iter(net.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def evaluate(net: nn.Module, data_iter: Iterable, device: "str | torch.device | None" = None) -> float:
    """Accuracy of ``net`` on ``data_iter``, counted on the device with one host read at the end;
    the net's train/eval mode is restored afterwards."""
    device = check_device(device) if device is not None else _model_device(net)
    correct, total = torch.zeros((), device=device), 0
    with evaluating(net), torch.inference_mode():
        for X, y in device_batches(data_iter, device, channels_last_layout=device.type == "cpu"):
            correct += correct_count(net(X), y)
            total += y.numel()
    if total == 0:
        raise ValueError("evaluate got no examples: the data iterator is empty.")
    return float(correct) / total


def predict(net: nn.Module, data_iter: Iterable, device: "str | torch.device | None" = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run ``net`` over a whole data iterator; return ``(X, y, y_pred)`` on the CPU, aligned."""
    device = check_device(device) if device is not None else _model_device(net)
    Xs, ys, preds = [], [], []
    with evaluating(net), torch.inference_mode():
        for X, y in device_batches(data_iter, device):
            preds.append(net(X).argmax(dim=1).cpu())
            Xs.append(X.cpu())
            ys.append(y.cpu())
    if not ys:
        raise ValueError("predict got no examples: the data iterator is empty.")
    return torch.cat(Xs), torch.cat(ys), torch.cat(preds)


def _check_args(net, train_iter, test_iter, num_epochs, lr, points_per_epoch) -> None:
    if not isinstance(net, nn.Module) or next(iter(net.parameters()), None) is None:
        raise ValueError("net must be a torch nn.Module with parameters to train.")
    for name, value in (("num_epochs", num_epochs), ("points_per_epoch", points_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive number (e.g. 0.9 for SGD as in d2l, 1e-3 for "
                         f"Adam), got {lr!r}.")
    for name, it in (("train_iter", train_iter), ("test_iter", test_iter)):
        try:
            n = len(it)
        except TypeError:
            raise ValueError(f"{name} must have a length (a TensorLoader or a DataLoader), "
                             f"got {type(it).__name__}.") from None
        if n == 0:
            raise ValueError(f"{name} yields no batches: the data set is empty. Check its size "
                             f"and batch size (drop_last drops a set smaller than one batch).")


def _lr_setter(scheduler, optimizer, lr, num_epochs, num_batches):
    """``set_lr(epoch, batch)`` for the schedule, or None for a constant lr."""
    if scheduler is None:
        return None
    if scheduler == "cosine":
        total = num_epochs * num_batches

        def lr_at(epoch, batch):  # from lr down to 0, updated every batch
            return 0.5 * lr * (1 + math.cos(math.pi * (epoch * num_batches + batch) / total))
    elif callable(scheduler):
        def lr_at(epoch, batch):  # d2l's convention: scheduler(epoch) -> lr, once per epoch
            return scheduler(epoch) if batch == 0 else None
    else:
        raise ValueError(f"scheduler must be None, 'cosine' or a function epoch -> lr, got {scheduler!r}.")

    def set_lr(epoch, batch):
        new = lr_at(epoch, batch)
        if new is not None:
            for group in optimizer.param_groups:
                group["lr"] = new
    return set_lr


class _Diverged(Exception):
    pass


class _Stopped(Exception):
    pass


def checkpoint_batches(num_batches: int, points_per_epoch: int) -> set[int]:
    """The batch indices (0-based) after which a point is taken: evenly spaced, the last batch
    always included, at most one per batch."""
    return {max(1, round(num_batches * k / points_per_epoch)) - 1 for k in range(1, points_per_epoch + 1)}


def train_ch6(net: nn.Module, train_iter: Iterable, test_iter: Iterable, num_epochs: int, lr: float,
              device: "str | torch.device | None" = None, *, optimizer: "str | Callable" = "sgd",
              scheduler: "str | Callable[[int], float] | None" = None,
              callback: Callable[[History], bool | None] | None = None,
              stop: Callable[[], bool] | None = None,
              on_point: Callable[[Point, nn.Module], bool | None] | None = None,
              points_per_epoch: int = 5, animate: bool = True, init: bool = True,
              verbose: bool = True, label: str | None = None, cuda_graph: bool = True) -> History:
    """Train ``net`` with cross-entropy loss and report like d2l's ``train_ch6``; return a
    :class:`~lenet_utils.history.History`.

    Beyond d2l: ``optimizer`` is 'sgd' (d2l), 'adam' or a factory (see :func:`make_optimizer`);
    ``scheduler`` is None, 'cosine' (lr decays to 0 over the run, every batch) or a function
    ``epoch -> lr`` applied at the start of each epoch. Three hooks, each of which may end the run
    with status 'stopped' (model and history kept):

    * ``stop()`` is called before every batch; True stops at once (e.g. a control moved);
    * ``on_point(point, net)`` is called at ``points_per_epoch`` evenly spaced checkpoints per
      epoch, after the :class:`~lenet_utils.history.Point` is added to ``history.points``;
      True stops;
    * ``callback(history)`` runs after each epoch; True stops.

    ``animate`` draws live curves; ``init`` applies d2l's Xavier initialisation first; ``label``
    names the run; ``cuda_graph=False`` turns off CUDA-graph capture on a GPU.

    A run whose mean loss breaks :func:`diverged` at a checkpoint stops with a message; Ctrl-C /
    "interrupt kernel" keeps the model and the completed epochs. On the CPU the net trains in the
    channels-last layout and is handed back in the default one; it is left in eval mode.
    """
    _check_args(net, train_iter, test_iter, num_epochs, lr, points_per_epoch)
    device = check_device(device if device is not None else getattr(train_iter, "device", None))
    opt_name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "custom")
    history = History(label=label or f"{opt_name}, lr {lr:g}", device=describe(device))
    if init:
        net.apply(init_weights)
    on_cpu = device.type == "cpu"
    net.to(device)
    channels_last(net, on_cpu)
    graphed = cuda_graph and device.type == "cuda" and scheduler is None and isinstance(optimizer, str)
    opt = make_optimizer(optimizer, net.parameters(), lr, capturable=graphed)
    num_batches = len(train_iter)
    set_lr = _lr_setter(scheduler, opt, lr, num_epochs, num_batches)
    loss_fn = nn.CrossEntropyLoss()
    sums = torch.zeros(2, device=device)  # this epoch's summed loss and correct count, on device
    num_classes = 0  # read from the first output

    def step(X, y):
        nonlocal num_classes
        y_hat = net(X)
        num_classes = num_classes or (y_hat.shape[1] if y_hat.dim() == 2 else 0)
        loss = loss_fn(y_hat, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            sums[0] += loss.detach() * y.shape[0]
            sums[1] += correct_count(y_hat.detach(), y)

    run_step = CudaGraphStep(step, verbose) if graphed else step
    animator = None
    if animate:
        animator = Animator(xlabel="epoch", xlim=[0, num_epochs], legend=["train loss", "train acc", "test acc"])
    per_epoch_lines = verbose and (animator is None or not animator.live)
    checkpoints = checkpoint_batches(num_batches, points_per_epoch)
    train_time, examples = 0.0, 0
    epoch, batch = 0, -1
    try:
        for epoch in range(num_epochs):
            net.train()
            sums.zero_()
            seen = 0
            start = time.perf_counter()
            for batch, (X, y) in enumerate(device_batches(train_iter, device, on_cpu)):
                if stop is not None and stop():
                    raise _Stopped("the stop hook")
                if set_lr:
                    set_lr(epoch, batch)
                run_step(X, y)
                seen += y.shape[0]
                if batch in checkpoints:
                    loss_sum, correct = sums.tolist()  # the host reads the device sums here only
                    if diverged(loss_sum / seen, num_classes):
                        raise _Diverged(loss_sum / seen)
                    point = Point(epoch + (batch + 1) / num_batches, examples + seen,
                                  loss_sum / seen, correct / seen)
                    history.points.append(point)
                    if animator:
                        animator.add(point.epoch, (point.train_loss, point.train_acc, None),
                                     status=f"epoch {epoch + 1}/{num_epochs}, batch {batch + 1}/{num_batches}")
                    if on_point is not None and on_point(point, net) is True:
                        raise _Stopped("on_point")
            seconds = time.perf_counter() - start
            train_time += seconds
            examples += seen
            loss_sum, correct = sums.tolist()
            start = time.perf_counter()
            test_acc = evaluate(net, test_iter, device)
            seconds += time.perf_counter() - start
            history.add_epoch(loss_sum / seen, correct / seen, test_acc, seconds, opt.param_groups[0]["lr"])
            history.points[-1].test_acc = test_acc  # the last batch is always a checkpoint
            history.examples_per_sec = examples / train_time
            if animator:
                animator.add(epoch + 1, (None, None, test_acc))
            if per_epoch_lines:
                print(f"epoch {epoch + 1}/{num_epochs}: loss {loss_sum / seen:.3f}, train acc "
                      f"{correct / seen:.3f}, test acc {test_acc:.3f} ({seconds:.1f} s)")
            if callback is not None and callback(history) is True:
                raise _Stopped("the callback")
        history.status = "completed"
    except _Stopped as err:
        history.status = "stopped"
        history.message = (f"Stopped by {err.args[0]} in epoch {epoch + 1} (batch {batch + 1}/"
                           f"{num_batches}); kept the model and the history of the "
                           f"{history.num_epochs} completed epoch(s).")
    except _Diverged as err:
        history.status = "diverged"
        how = "became" if not math.isfinite(err.args[0]) else "exploded to"
        history.message = (
            f"Stopped: the training loss {how} {err.args[0]:.4g} in epoch {epoch + 1} (by batch "
            f"{batch + 1}/{num_batches}): the run diverged. The learning rate lr={lr:g} is too large "
            f"for this model and optimizer: try a smaller one (e.g. lr=0.1 to 0.9 for SGD on "
            f"LeNet, 1e-3 for Adam). The weights are now unusable; train again with init=True. "
            f"Kept the history of the {history.num_epochs} completed epoch(s).")
    except KeyboardInterrupt:
        history.status = "interrupted"
        history.message = (
            f"Interrupted in epoch {epoch + 1} (batch {batch + 1}/{num_batches}). Kept the model "
            f"with its current weights and the history of the {history.num_epochs} completed "
            f"epoch(s).")
    finally:
        channels_last(net, False)
        net.eval()
    if animator:
        done = f"{history.num_epochs} epoch{'s' if history.num_epochs != 1 else ''}"
        if history.num_epochs:
            done += f", test acc {history.final_test_acc:.3f}"
        animator.finish(status=f"{history.status}: {done}")
    if verbose:
        if history.message:
            print(history.message)
        if history.num_epochs:
            print(f"loss {history.train_loss[-1]:.3f}, train acc {history.train_acc[-1]:.3f}, "
                  f"test acc {history.test_acc[-1]:.3f}")
            print(f"{history.examples_per_sec:.1f} examples/sec on {history.device}")
    return history
