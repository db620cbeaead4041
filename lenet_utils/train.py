"""The course's one training engine: ``train_ch6(net, train_iter, test_iter, num_epochs, lr, device)``
with d2l's signature and report, fast, and safe: a run that diverges, fails, is interrupted or is
stopped by a hook ends with its model and history kept.

Chapter 4 builds it from d2l's loop in four steps, each saved from a cell of its own and measured
there, in this order:

1. the data already lives on the device (a :class:`~lenet_utils.data.TensorLoader`): no DataLoader
   workers, no PIL image per example; :func:`device_batches` only moves what is not there yet;
2. the metrics stay on the device: :func:`correct_count` returns a tensor and a
   :class:`DeviceAccumulator` sums on the device; the host reads the sums only at a few checkpoints
   per epoch (no host sync per batch);
3. on the CPU, the net and each batch are stored channels-last (:func:`channels_last`);
4. on a CUDA GPU the whole training step is captured once as a CUDA graph and replayed for every
   batch (:class:`CudaGraphStep`; ``cuda_graph=False`` turns it off).

Chapter 4 then saves :func:`device_batches`, :func:`evaluate` and :func:`train_ch6` itself; the
checks and rules they import stay here. Everything that trains in the package calls it (the sweep,
the ladder, the paper's LeNet-5, the panel) or shares its rules: :func:`diverged` and
:func:`divergence_message`, :func:`make_optimizer`, :class:`~lenet_utils.history.History`. d2l's
textbook loop is :mod:`lenet_utils.textbook`.
"""

import math
import time
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from .checks import learning_rate, optimizer_name, whole_number
from .device import check_device, describe, evaluating
from .history import History, Point
from .plot import Animator

__all__ = ["EXPLODED_LOSS_FACTOR", "diverged", "divergence_message", "make_optimizer", "init_weights",
           "correct_count", "DeviceAccumulator", "channels_last", "CudaGraphStep", "device_batches",
           "model_device", "evaluate", "predict", "check_train_args", "check_first_batch", "lr_setter",
           "checkpoint_batches", "RunStopped", "RunDiverged", "train_ch6"]

#: A run has blown up when its mean loss exceeds this many times the loss of a uniform guess
#: (ln of the number of classes, 2.3 for 10): it is then stopped like one whose loss is NaN/inf.
EXPLODED_LOSS_FACTOR = 100


def _exploded_loss(num_classes: int) -> float:
    return EXPLODED_LOSS_FACTOR * math.log(max(num_classes, 2))


def diverged(mean_loss: float, num_classes: int) -> bool:
    """The one rule for "this run diverged": the mean training loss is NaN/inf, or above
    ``EXPLODED_LOSS_FACTOR`` times the loss of a uniform guess over ``num_classes`` classes."""
    return not math.isfinite(mean_loss) or mean_loss > _exploded_loss(num_classes)


def divergence_message(mean_loss: float, num_classes: int, lr: float, when: str) -> str:
    """The one report of a run that :func:`diverged`, worded after the rule that fired (the loss
    became NaN/inf, or exploded to a finite value above the limit); ``when`` says where in the run.

        >>> divergence_message(float("inf"), 10, 3.0, "in epoch 1")[:48]
        'Stopped: the training loss became inf in epoch 1'
    """
    if math.isfinite(mean_loss):
        what = (f"exploded to {mean_loss:.4g} {when}, more than {EXPLODED_LOSS_FACTOR} times the loss "
                f"of a uniform guess ({_exploded_loss(num_classes):.3g})")
    else:
        what = f"became {mean_loss} {when}"
    return (f"Stopped: the training loss {what}: the run diverged. The learning rate lr={lr:g} is too "
            f"large for this model and optimizer: try a smaller one (e.g. lr=0.1 to 0.9 for SGD on "
            f"LeNet, 1e-3 for Adam). The weights are now unusable; train again with init=True.")


def make_optimizer(optimizer: "str | Callable", params: Iterable, lr: float,
                   capturable: bool = False) -> torch.optim.Optimizer:
    """'sgd' (d2l), 'adam', or a factory called as ``factory(params, lr=lr)`` (e.g.
    ``functools.partial(torch.optim.SGD, momentum=0.9)``). ``params`` may be parameters or
    param-group dicts, each with its own 'lr'. ``capturable`` lets Adam run inside a CUDA graph."""
    if callable(optimizer):
        return optimizer(params, lr=lr)
    if optimizer_name(optimizer, factory_allowed=True) == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, capturable=capturable)


def init_weights(module: nn.Module) -> None:
    """d2l's initialisation: Xavier-uniform weights for every linear and convolution layer."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)


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


def model_device(net: nn.Module) -> torch.device:
    """The device of ``net``'s first parameter (the CPU for a net without parameters)."""
    param = next(iter(net.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


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


def check_train_args(net: nn.Module, train_iter: Iterable, test_iter: Iterable, num_epochs: int,
                     lr: float, optimizer: "str | Callable",
                     scheduler: "str | Callable[[int], float] | None", points_per_epoch: int) -> None:
    """A ValueError that says what to change unless :func:`train_ch6`'s arguments are usable."""
    if not isinstance(net, nn.Module) or next(iter(net.parameters()), None) is None:
        raise ValueError("net must be a torch nn.Module with parameters to train.")
    whole_number("num_epochs", num_epochs)
    whole_number("points_per_epoch", points_per_epoch)
    learning_rate(lr)
    if not callable(optimizer):
        optimizer_name(optimizer, factory_allowed=True)
    if not (scheduler is None or scheduler == "cosine" or callable(scheduler)):
        raise ValueError(f"scheduler={scheduler!r} is not valid: pass None, 'cosine' or a function "
                         f"epoch -> lr.")
    for name, it in (("train_iter", train_iter), ("test_iter", test_iter)):
        try:
            n = len(it)
        except TypeError:
            raise ValueError(f"{name} must have a length (a TensorLoader or a DataLoader), "
                             f"got {type(it).__name__}.") from None
        if n == 0:
            raise ValueError(f"{name} yields no batches: the data set is empty. Check its size "
                             f"and batch size (drop_last drops a set smaller than one batch).")


def check_first_batch(y_hat: torch.Tensor, y: torch.Tensor) -> int:
    """The number of classes K, read from the net's output ``y_hat`` for the labels ``y`` of the
    first batch; a ValueError that says what to change unless ``y_hat`` is N x K scores (K >= 2)
    and ``y`` holds N integer class indices in [0, K)."""
    n = y.shape[0] if y.dim() else 1
    if not torch.is_tensor(y_hat):
        raise ValueError(f"The net returned a {type(y_hat).__name__}, not a tensor: train_ch6 needs "
                         f"a tensor of class scores, N x K (one row per example, one column per class).")
    if y_hat.dim() != 2 or y_hat.shape[0] != n:
        raise ValueError(f"The net gives output shape {tuple(y_hat.shape)} for a batch of {n} examples: "
                         f"train_ch6 needs class scores N x K, one row per example and one column per "
                         f"class. Flatten before the last layer and make it nn.Linear(..., K).")
    k = y_hat.shape[1]
    if k < 2:
        raise ValueError(f"The net gives output shape {tuple(y_hat.shape)}: one score per example, "
                         f"but a classifier needs at least 2 (one per class). Make its last layer "
                         f"nn.Linear(..., K) with K the number of classes.")
    if y.dim() != 1:
        raise ValueError(f"The labels of shape {tuple(y.shape)} do not fit {n} outputs: train_ch6 "
                         f"needs one class index per example, a 1-D tensor; flatten them with y.view(-1).")
    if y.dtype not in (torch.long, torch.uint8):
        raise ValueError(f"The labels are {y.dtype}: train_ch6 needs integer class indices 0 to K-1 as "
                         f"torch.long; convert them with y.long() (one-hot labels: y.argmax(dim=1)).")
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise ValueError(f"The labels must be class indices 0 to {k - 1}, got {low}: shift or "
                         f"re-map them so that the first class is 0.")
    if high >= k:
        raise ValueError(f"The labels go up to {high} but the net has {k} outputs: it needs one per "
                         f"class, at least {high + 1}; make its last layer nn.Linear(..., {high + 1}).")
    return k


def lr_setter(scheduler: "str | Callable[[int], float] | None", optimizer: torch.optim.Optimizer,
              lr: float, num_epochs: int, num_batches: int) -> Callable[[int, int], None] | None:
    """``set_lr(epoch, batch)`` for the schedule, which sets the optimizer's learning rate before each
    batch, or None for a constant lr."""
    if scheduler is None:
        return None
    if scheduler == "cosine":
        total = num_epochs * num_batches

        def lr_at(epoch, batch):  # from lr down to 0, updated every batch
            return 0.5 * lr * (1 + math.cos(math.pi * (epoch * num_batches + batch) / total))
    else:
        def lr_at(epoch, batch):  # d2l's convention: scheduler(epoch) -> lr, once per epoch
            return learning_rate(scheduler(epoch), f"scheduler({epoch})") if batch == 0 else None

    def set_lr(epoch, batch):
        new = lr_at(epoch, batch)
        if new is not None:
            for group in optimizer.param_groups:
                group["lr"] = new
    return set_lr


class RunStopped(Exception):
    """Raised inside :func:`train_ch6` when a hook asks to stop; its argument names the hook."""


class RunDiverged(Exception):
    """Raised inside :func:`train_ch6` when the run :func:`diverged`; its argument is the mean loss."""


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

    The first batch is checked (:func:`check_first_batch`: N x K outputs, integer labels in
    [0, K)), and so is each scheduled learning rate. A run whose mean loss breaks :func:`diverged`
    at a checkpoint stops with a message; Ctrl-C / "interrupt kernel" keeps the model and the
    completed epochs. Any other error (in a hook, the model, the data ...) ends the run with status
    'failed' and is raised again with the History attached as ``err.history``. On the CPU the net
    trains in the channels-last layout and is handed back in the default one; it is left in eval
    mode.
    """
    check_train_args(net, train_iter, test_iter, num_epochs, lr, optimizer, scheduler, points_per_epoch)
    device = check_device(device if device is not None else getattr(train_iter, "device", None))
    opt_name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "custom")
    history = History(label=label or f"{opt_name}, lr {lr:g}", device=describe(device))
    if init:
        net.apply(init_weights)
    layout = device.type == "cpu"  # step 3: channels-last where it pays, on the CPU
    channels_last(net.to(device), layout)
    # step 4: a CUDA graph on a GPU, unless a schedule or an optimizer factory changes what it records
    graphed = cuda_graph and device.type == "cuda" and scheduler is None and isinstance(optimizer, str)
    opt = make_optimizer(optimizer, net.parameters(), lr, capturable=graphed)
    num_batches = len(train_iter)
    set_lr = lr_setter(scheduler, opt, lr, num_epochs, num_batches)
    loss_fn = nn.CrossEntropyLoss()
    sums = DeviceAccumulator(2, device)  # step 2: this epoch's summed loss and correct count
    num_classes = 0  # read from the first output

    def step(X, y):
        nonlocal num_classes
        y_hat = net(X)
        if not num_classes:  # the first batch, never inside a CUDA graph (its first steps run eagerly)
            num_classes = check_first_batch(y_hat, y)
        loss = loss_fn(y_hat, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            sums.add(loss.detach() * y.shape[0], correct_count(y_hat.detach(), y))

    run_step = CudaGraphStep(step, verbose) if graphed else step
    animator = None
    if animate:
        animator = Animator(xlabel="epoch", xlim=[0, num_epochs], legend=["train loss", "train acc", "test acc"])
    per_epoch_lines = verbose and (animator is None or not animator.live)
    checkpoints = checkpoint_batches(num_batches, points_per_epoch)
    train_time, examples = 0.0, 0
    epoch, batch = 0, -1
    failure = None
    try:
        for epoch in range(num_epochs):
            net.train()
            sums.reset()
            seen = 0
            start = time.perf_counter()
            for batch, (X, y) in enumerate(device_batches(train_iter, device)):  # step 1
                if stop is not None and stop():
                    raise RunStopped("the stop hook")
                if set_lr:
                    set_lr(epoch, batch)
                run_step(channels_last(X, layout), y)
                seen += y.shape[0]
                if batch in checkpoints:
                    loss_sum, correct = sums.read()  # the host reads the device sums here only
                    if diverged(loss_sum / seen, num_classes):
                        raise RunDiverged(loss_sum / seen)
                    point = Point(epoch + (batch + 1) / num_batches, examples + seen,
                                  loss_sum / seen, correct / seen)
                    history.points.append(point)
                    if animator:
                        animator.add(point.epoch, (point.train_loss, point.train_acc, None),
                                     status=f"epoch {epoch + 1}/{num_epochs}, batch {batch + 1}/{num_batches}")
                    if on_point is not None and on_point(point, net) is True:
                        raise RunStopped("on_point")
            seconds = time.perf_counter() - start
            train_time += seconds
            examples += seen
            loss_sum, correct = sums.read()
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
                raise RunStopped("the callback")
        history.status = "completed"
    except RunStopped as err:
        history.status = "stopped"
        history.message = (f"Stopped by {err.args[0]} in epoch {epoch + 1} (batch {batch + 1}/"
                           f"{num_batches}); kept the model and the history of the "
                           f"{history.num_epochs} completed epoch(s).")
    except RunDiverged as err:
        history.status = "diverged"
        history.message = (divergence_message(err.args[0], num_classes, lr,
                                              f"in epoch {epoch + 1} (by batch {batch + 1}/{num_batches})")
                           + f" Kept the history of the {history.num_epochs} completed epoch(s).")
    except KeyboardInterrupt:
        history.status = "interrupted"
        history.message = (
            f"Interrupted in epoch {epoch + 1} (batch {batch + 1}/{num_batches}). Kept the model "
            f"with its current weights and the history of the {history.num_epochs} completed "
            f"epoch(s).")
    except Exception as err:  # noqa: BLE001 - raised again below, with the history attached
        history.status = "failed"
        where = f"in epoch {epoch + 1} (batch {batch + 1}/{num_batches})"
        kept = (f"Kept the model with its current weights and the history of the "
                f"{history.num_epochs} completed epoch(s), attached to the error as err.history.")
        history.message = f"Failed {where} with {type(err).__name__}: {str(err).rstrip('.')}. {kept}"
        err.add_note(f"train_ch6 failed {where}. {kept}")
        failure = err
    finally:
        channels_last(net, False)
        net.eval()
    if animator:
        done = f"{history.num_epochs} epoch{'s' if history.num_epochs != 1 else ''}"
        if history.num_epochs:
            done += f", test acc {history.final_test_acc:.3f}"
        animator.finish(status=f"{history.status}: {done}")
    if failure is not None:
        failure.history = history
        raise failure
    if verbose:
        if history.message:
            print(history.message)
        if history.num_epochs:
            print(f"loss {history.train_loss[-1]:.3f}, train acc {history.train_acc[-1]:.3f}, "
                  f"test acc {history.test_acc[-1]:.3f}")
            print(f"{history.examples_per_sec:.1f} examples/sec on {history.device}")
    return history
