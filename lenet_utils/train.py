"""The course's one training engine, ``train_ch6(net, train_iter, test_iter, num_epochs, lr, device)``:
d2l's signature, loop and report, fast. Every definition here is written in chapter 4's saved cells
(the drift test keeps them identical); the checks, the optimizers and schedules, and the rules for
how a run ends live in :mod:`~lenet_utils.checks`, :mod:`~lenet_utils.optimizers` and
:mod:`~lenet_utils.endings`.

Chapter 4 writes it: d2l's loop with four steps, which notebook 10 (Making train_ch6 fast) explains
and measures:

1. the data already lives on the device (a :class:`~lenet_utils.data.TensorLoader`): no DataLoader
   workers, no PIL image per example; :func:`device_batches` only moves what is not there yet;
2. the metrics stay on the device: :func:`correct_count` returns a tensor and a
   :class:`DeviceAccumulator` sums on the device; the host reads the sums only at a few checkpoints
   per epoch (no host sync per batch);
3. on the CPU, the net and each batch are stored channels-last (:func:`channels_last`);
4. on a CUDA GPU the whole training step is captured once as a CUDA graph and replayed for every
   batch (:class:`CudaGraphStep`; ``cuda_graph=False`` turns it off).

Everything that trains in the package calls :func:`train_ch6` (the sweep, the ladder, the paper's
LeNet-5, the panel, the watch widget). d2l's textbook loop is :mod:`lenet_utils.plain_loop`.
"""

import functools
import time
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from . import checks, endings, optimizers
from .device import check_device, describe, evaluating, model_device
from .history import History, Point
from .plot import Animator
from .plain_loop import init_weights

__all__ = ["correct_count", "DeviceAccumulator", "channels_last", "CudaGraphStep", "device_batches",
           "evaluate", "predict", "train_step", "train_ch6"]


# ---------------------------------------------------------------- step 2: sums on the device


def correct_count(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions as a 0-dim float tensor on ``y``'s device: d2l's ``accuracy``
    without its ``float(...)``, so summing it over batches needs no host synchronisation.

        >>> correct_count(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
        tensor(1.)
    """
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    if y_hat.shape != y.shape:
        raise ValueError(f"Predictions of shape {tuple(y_hat.shape)} do not match labels of shape "
                         f"{tuple(y.shape)}.")
    return (y_hat.to(y.dtype) == y).sum().float()


class DeviceAccumulator:
    """d2l's ``Accumulator`` with its n sums in a tensor on ``device``: ``add`` never waits for the
    device, ``read()`` copies all n sums to the host at once (the one wait).

        >>> sums = DeviceAccumulator(2, "cpu"); sums.add(torch.tensor(0.5), 3); sums.read()
        [0.5, 3.0]
    """

    def __init__(self, n: int, device: "str | torch.device"):
        self.data = torch.zeros(n, device=device)

    def add(self, *args: "torch.Tensor | float") -> None:
        for i, value in enumerate(args):
            self.data[i] += value

    def reset(self) -> None:
        self.data.zero_()

    def read(self) -> list[float]:
        return self.data.tolist()


# ---------------------------------------------------------------- step 3: channels-last


def channels_last(x: "nn.Module | torch.Tensor", on: bool = True) -> "nn.Module | torch.Tensor":
    """``x``, a net (its 4-D weights, converted in place) or a batch of images N x C x H x W, stored
    channels-last (``on=True``) or in the default layout; a tensor of another rank is returned as it is.

        >>> channels_last(torch.zeros(2, 3, 4, 4)).stride()
        (48, 1, 12, 3)
    """
    if torch.is_tensor(x) and x.dim() != 4:
        return x
    return x.to(memory_format=torch.channels_last if on else torch.contiguous_format)


# ---------------------------------------------------------------- step 4: the CUDA-graph step


class CudaGraphStep:
    """The training step captured once as a CUDA graph and replayed for each full-size batch.

    PyTorch's recipe (docs: "CUDA Graphs", whole-network capture): a few eager iterations on a
    side stream first (here: real steps on the first batches), then capture into static input
    tensors. A batch of another shape (the last, smaller one of an epoch) runs eagerly. If capture
    fails (a model that talks to the host inside ``forward``, say), training goes on eagerly with
    a note.
    """

    warmup_steps = 3

    def __init__(self, step: Callable[[torch.Tensor, torch.Tensor], None], verbose: bool = True):
        self.step, self.verbose = step, verbose
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_X: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.warmups_left = self.warmup_steps
        self.failed = False
        self.stream = torch.cuda.Stream()

    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        same_shape = (self.static_X is not None and X.shape == self.static_X.shape
                      and y.shape == self.static_y.shape)
        if self.graph is not None and same_shape:
            self.static_X.copy_(X)
            self.static_y.copy_(y)
            self.graph.replay()
        elif self.graph is None and not self.failed and (self.static_X is None or same_shape):
            if self.static_X is None:
                self.static_X, self.static_y = X.clone(), y.clone()
            else:
                self.static_X.copy_(X)
                self.static_y.copy_(y)
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                self.step(self.static_X, self.static_y)
            torch.cuda.current_stream().wait_stream(self.stream)
            self.warmups_left -= 1
            if self.warmups_left == 0:
                self._capture()
        else:
            self.step(X, y)

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.step(self.static_X, self.static_y)  # recorded, not run
        except RuntimeError as err:
            self.failed = True
            if self.verbose:
                print(f"Note: could not capture the training step as a CUDA graph ({err}); "
                      f"training continues without it.")
            return
        self.graph = graph


# ---------------------------------------------------------------- the engine


def device_batches(data_iter: Iterable, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(X, y)`` on ``device``: d2l's ``X.to(device)`` for each batch, a no-op for a
    TensorLoader already there (step 1)."""
    for X, y in data_iter:
        yield X.to(device, non_blocking=True), y.to(device, non_blocking=True)


def evaluate(net: nn.Module, data_iter: Iterable, device: "str | torch.device | None" = None) -> float:
    """Accuracy of ``net`` on ``data_iter``: d2l's ``evaluate_accuracy_gpu`` with the count kept on
    the device and read once at the end; the net's train/eval mode is restored afterwards."""
    device = check_device(device) if device is not None else model_device(net)
    layout = device.type == "cpu"  # step 3: channels-last on the CPU
    correct, total = torch.zeros((), device=device), 0
    with evaluating(net), torch.inference_mode():
        for X, y in device_batches(data_iter, device):
            correct += correct_count(net(channels_last(X, layout)), y)
            total += y.numel()
    if total == 0:
        raise ValueError("evaluate got no examples: the data iterator is empty.")
    return float(correct) / total


def train_step(net: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, sums: DeviceAccumulator,
               X: torch.Tensor, y: torch.Tensor) -> None:
    """d2l's training step (forward, loss, backward, update); the loss and correct count summed on the device."""
    y_hat = net(X)
    loss = loss_fn(y_hat, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        sums.add(loss.detach() * y.shape[0], correct_count(y_hat.detach(), y))


def train_ch6(net: nn.Module, train_iter: Iterable, test_iter: Iterable, num_epochs: int, lr: float,
              device: "str | torch.device | None" = None, *, optimizer: "str | Callable" = "sgd",
              scheduler: "str | Callable | None" = None, hook: "Callable | None" = None, points_per_epoch: int = 5,
              animate: bool = True, init: bool = True, verbose: bool = True, label: "str | None" = None,
              cuda_graph: bool = True) -> History:
    """Train ``net`` with d2l's loop and report, fast; return its History. ``optimizer``: 'sgd', 'adam' or a
    factory; ``scheduler``: None, 'cosine' or ``epoch -> lr``. A true answer from ``hook(history, net)``, asked
    before every batch, stops the run; ``history.status`` says how it ended (see ``endings.RunEnding``)."""
    device = checks.check_train_args(net, train_iter, test_iter, num_epochs, lr, device, optimizer,
                                     scheduler, points_per_epoch)
    history = History(label or f"{optimizers.name(optimizer)}, lr {lr:g}", device=describe(device))
    if init:
        net.apply(init_weights)
    channels_last(net.to(device), device.type == "cpu")  # step 3: channels-last on the CPU
    graphed = cuda_graph and device.type == "cuda" and scheduler is None and isinstance(optimizer, str)
    opt = optimizers.make_optimizer(optimizer, net.parameters(), lr, capturable=graphed)
    num_batches, epoch, batch, examples, train_time, num_classes = len(train_iter), 0, 0, 0, 0.0, 0
    set_lr = optimizers.lr_setter(scheduler, opt, lr, num_epochs, num_batches)
    sums = DeviceAccumulator(2, device)  # step 2: the epoch's summed loss and correct count
    step = functools.partial(train_step, net, nn.CrossEntropyLoss(), opt, sums)
    run_step = CudaGraphStep(step, verbose) if graphed else step  # step 4: replay the step on a GPU
    points = {max(1, round(num_batches * k / points_per_epoch)) - 1 for k in range(1, points_per_epoch + 1)}
    animator = Animator(xlabel="epoch", xlim=[0, num_epochs],
                        legend=["train loss", "train acc", "test acc"]) if animate else None
    with endings.RunEnding(history, net, animator, verbose,  # Ctrl-C, an error or a break ends the run here
                           lambda: f"epoch {epoch + 1}/{num_epochs}, batch {batch + 1}/{num_batches}") as end:
        for epoch in range(num_epochs):
            net.train()
            sums.reset()
            seen, start = 0, time.perf_counter()
            for batch, (X, y) in enumerate(device_batches(train_iter, device)):  # step 1
                if hook is not None and hook(history, net):
                    history.status = "stopped"
                    break
                set_lr(epoch, batch)  # a schedule's learning rate for this batch
                if epoch == batch == 0:
                    num_classes = checks.check_first_batch(net, X, y)
                run_step(channels_last(X, device.type == "cpu"), y)  # step 3
                seen += y.shape[0]
                if batch in points:  # a point for the plot: the host reads the sums here only
                    loss_sum, correct = sums.read()
                    if end.diverged(loss_sum / seen, num_classes, lr):  # the one rule: NaN, inf or exploded
                        break
                    point = Point(epoch + (batch + 1) / num_batches, examples + seen, loss_sum / seen, correct / seen)
                    history.points.append(point)
                    if animator:
                        animator.add(point.epoch, (point.train_loss, point.train_acc, None), status=end.where())
            if history.status != "running":
                break
            train_time, examples = train_time + time.perf_counter() - start, examples + seen
            loss_sum, correct = sums.read()
            test_acc = evaluate(net, test_iter, device)
            history.add_epoch(loss_sum / seen, correct / seen, test_acc, time.perf_counter() - start,
                              opt.param_groups[0]["lr"])
            history.points[-1].test_acc = test_acc  # the last batch is always a point
            history.examples_per_sec = examples / train_time
            if animator:
                animator.add(epoch + 1, (None, None, test_acc))
            if verbose and not (animator and animator.live):
                print(f"epoch {epoch + 1}/{num_epochs}: loss {loss_sum / seen:.3f}, train acc "
                      f"{correct / seen:.3f}, test acc {test_acc:.3f} ({history.seconds[-1]:.1f} s)")
    return history


def predict(net: nn.Module, data_iter: Iterable, device: "str | torch.device | None" = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run ``net`` over a whole data iterator; return ``(X, y, y_pred)`` on the CPU, aligned."""
    device = check_device(device) if device is not None else model_device(net)
    Xs, ys, preds = [], [], []
    with evaluating(net), torch.inference_mode():
        for X, y in device_batches(data_iter, device):
            preds.append(net(X).argmax(dim=1).cpu())
            Xs.append(X.cpu())
            ys.append(y.cpu())
    if not ys:
        raise ValueError("predict got no examples: the data iterator is empty.")
    return torch.cat(Xs), torch.cat(ys), torch.cat(preds)
