"""Train a classifier the d2l way, ``train_ch6(net, train_iter, test_iter, num_epochs, lr, device)``,
without the textbook loop's slowness.

Where the speed comes from:

* the data already lives on the device (:class:`lenet_utils.data.TensorLoader`): no DataLoader
  workers, no per-image PIL work (an ordinary DataLoader works too; its batches are moved over);
* the metrics stay on the device: each step adds its loss and correct count to a device tensor,
  and the host reads it (one synchronisation) only when a point is plotted, about 5 times an epoch;
* on the CPU, convolutions run in the channels-last layout, which oneDNN handles faster;
* on a CUDA GPU the whole step is captured once as a CUDA graph and replayed for every batch, so
  a small net like LeNet is not held back by launching ~60 tiny kernels one by one.
"""

import math
import numbers
import time
from dataclasses import dataclass, field
from itertools import accumulate

import torch
from torch import nn

from .device import describe, try_gpu
from .plot import Animator

__all__ = ["Accumulator", "CudaGraphStep", "History", "Timer", "accuracy", "evaluate_accuracy_gpu", "init_weights",
           "predict", "train_ch6", "try_gpu"]

CHECKPOINTS_PER_EPOCH = 5  # plotted points (and host reads of the metrics) per epoch, as d2l
#: A run has blown up when its mean loss exceeds this many times the loss of a uniform guess
#: (ln of the number of classes, 2.3 for 10): it is then stopped like one whose loss is NaN/inf.
EXPLODED_LOSS_FACTOR = 100


class Accumulator:
    """Running sums of ``n`` quantities (d2l's ``Accumulator``).

    ``add`` takes numbers or tensors; tensors are summed as tensors, so adding a metric computed on
    the GPU does not wait for the GPU. Reading ``acc[i]`` returns a float (and waits, once).
    """

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        if len(args) != len(self.data):
            raise ValueError(f"This Accumulator sums {len(self.data)} quantities; add() got {len(args)}.")
        self.data = [a + (b.detach() if isinstance(b, torch.Tensor) else float(b))
                     for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return float(self.data[idx])


class Timer:
    """Record several running times (d2l's ``Timer``)."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.perf_counter()

    def stop(self):
        """Stop the timer, record the time and return it."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self):
        return sum(self.times) / len(self.times)

    def sum(self):
        return sum(self.times)

    def cumsum(self):
        return list(accumulate(self.times))


def accuracy(y_hat, y):
    """Number of correct predictions (d2l's ``accuracy``), as a 0-dim float tensor on ``y``'s
    device so that summing it over batches needs no host synchronisation; ``float()`` it to read.

    ``y_hat`` holds logits/probabilities (N×classes) or predicted labels (N).
    """
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    if y_hat.shape != y.shape:
        raise ValueError(f"Predictions of shape {tuple(y_hat.shape)} do not match labels of shape "
                         f"{tuple(y.shape)}.")
    return (y_hat.to(y.dtype) == y).sum().float()


def _batches(data_iter, device, channels_last=False):
    """Yield ``(X, y)`` on ``device`` (a no-op for a TensorLoader already there)."""
    for X, y in data_iter:
        X = X.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if channels_last and X.dim() == 4:
            X = X.contiguous(memory_format=torch.channels_last)
        yield X, y


def _model_device(net):
    param = next(iter(net.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def evaluate_accuracy_gpu(net, data_iter, device=None):
    """Accuracy of ``net`` on ``data_iter`` (d2l's name; works on any device). One host
    synchronisation at the end; the net's train/eval mode is restored afterwards."""
    device = torch.device(device) if device is not None else _model_device(net)
    was_training = net.training
    net.eval()
    metric = Accumulator(2)  # correct predictions, examples
    try:
        with torch.inference_mode():
            for X, y in _batches(data_iter, device, channels_last=device.type == "cpu"):
                metric.add(accuracy(net(X), y), y.numel())
    finally:
        net.train(was_training)
    if metric[1] == 0:
        raise ValueError("evaluate_accuracy_gpu got no examples: the data iterator is empty.")
    return metric[0] / metric[1]


def predict(net, data_iter, device=None):
    """Run ``net`` over a whole data iterator; return ``(X, y, y_pred)`` on the CPU, aligned."""
    device = torch.device(device) if device is not None else _model_device(net)
    was_training = net.training
    net.eval()
    Xs, ys, preds = [], [], []
    try:
        with torch.inference_mode():
            for X, y in _batches(data_iter, device):
                preds.append(net(X).argmax(dim=1).cpu())
                Xs.append(X.cpu())
                ys.append(y.cpu())
    finally:
        net.train(was_training)
    if not ys:
        raise ValueError("predict got no examples: the data iterator is empty.")
    return torch.cat(Xs), torch.cat(ys), torch.cat(preds)


def init_weights(module):
    """d2l's initialisation: Xavier-uniform weights for every linear and convolution layer."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)


@dataclass
class History:
    """What one ``train_ch6`` run measured, one entry per completed epoch.

    ``status`` says how it ended: 'completed', 'diverged' (loss became NaN/inf), 'interrupted'
    (KeyboardInterrupt) or 'stopped' (the callback asked); ``message`` explains.
    """

    label: str = ""
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    seconds: list = field(default_factory=list)  # per epoch: training + evaluation
    lr: list = field(default_factory=list)  # learning rate at the end of each epoch
    status: str = "running"
    message: str = ""
    examples_per_sec: float = float("nan")  # training examples per second of training time
    device: str = ""

    @property
    def num_epochs(self) -> int:
        return len(self.train_loss)

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else float("nan")

    def to_rows(self) -> list:
        """One dict per epoch, ready for a table (e.g. ``pandas.DataFrame(h.to_rows())``)."""
        return [{"run": self.label, "epoch": i + 1, "train loss": self.train_loss[i],
                 "train acc": self.train_acc[i], "test acc": self.test_acc[i],
                 "seconds": self.seconds[i], "lr": self.lr[i]} for i in range(self.num_epochs)]

    def summary(self) -> str:
        """One line: the last epoch's figures, speed and how the run ended."""
        if not self.num_epochs:
            return f"{self.label or 'run'}: no completed epoch ({self.status})"
        return (f"{self.label or 'run'}: {self.num_epochs} epochs, loss {self.train_loss[-1]:.3f}, "
                f"train acc {self.train_acc[-1]:.3f}, test acc {self.test_acc[-1]:.3f}, "
                f"{self.examples_per_sec:,.0f} examples/sec on {self.device} ({self.status})")

    def plot(self, **kwargs):
        """Draw the curves (see :func:`lenet_utils.plot.plot_history`)."""
        from .plot import plot_history

        return plot_history(self, **kwargs)


class _Diverged(Exception):
    pass


def _check_loss(mean_loss, limit):
    if not math.isfinite(mean_loss) or (limit is not None and mean_loss > limit):
        raise _Diverged(mean_loss)


def _check_args(net, train_iter, test_iter, num_epochs, lr):
    if not isinstance(net, nn.Module) or next(iter(net.parameters()), None) is None:
        raise ValueError("net must be a torch nn.Module with parameters to train.")
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a whole number >= 1, got {num_epochs!r}.")
    if (isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr)
            or lr <= 0):
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


def _make_optimizer(optimizer, params, lr, capturable):
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key == "sgd":
            return torch.optim.SGD(params, lr=lr)
        if key == "adam":
            return torch.optim.Adam(params, lr=lr, capturable=capturable)
        raise ValueError(f"optimizer must be 'sgd', 'adam' or a factory such as torch.optim.AdamW "
                         f"(called as factory(params, lr=lr)), got {optimizer!r}.")
    if callable(optimizer):
        return optimizer(params, lr=lr)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or a factory such as torch.optim.AdamW, "
                     f"got {optimizer!r}.")


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


class CudaGraphStep:
    """The training step captured once as a CUDA graph and replayed for each full-size batch.

    PyTorch's recipe (docs: "CUDA Graphs", whole-network capture): a few eager iterations on a
    side stream first (here: real steps on the first batches), then capture into static input
    tensors. The last, smaller batch of an epoch runs eagerly. If capture fails (a model that
    talks to the host inside ``forward``, say), training goes on eagerly with a note.
    """

    warmup_steps = 3

    def __init__(self, step, verbose):
        self.step, self.verbose = step, verbose
        self.graph = self.static_X = self.static_y = None
        self.warmups_left = self.warmup_steps
        self.failed = False
        self.stream = torch.cuda.Stream()

    def __call__(self, X, y):
        same_shape = self.static_X is not None and X.shape == self.static_X.shape and y.shape == self.static_y.shape
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

    def _capture(self):
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


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device=None, *, optimizer="sgd",
              scheduler=None, callback=None, animate=True, init=True, verbose=True, label=None,
              cuda_graph=True):
    """Train ``net`` with cross-entropy loss and report like d2l's ``train_ch6``; return a
    :class:`History`.

    Beyond d2l: ``optimizer`` is 'sgd' (d2l), 'adam' or a factory called as
    ``factory(params, lr=lr)`` (e.g. ``functools.partial(torch.optim.SGD, momentum=0.9)``);
    ``scheduler`` is None, 'cosine' (lr decays to 0 over the run, every batch) or a function
    ``epoch -> lr`` applied at the start of each epoch; ``callback(history)`` runs after each epoch
    and stops training by returning True (or raising KeyboardInterrupt). ``animate`` draws live
    curves; ``init`` applies d2l's Xavier initialisation first; ``label`` names the run in plots;
    ``cuda_graph=False`` turns off CUDA-graph capture on a GPU.

    A run whose mean loss becomes NaN/inf, or explodes past ``EXPLODED_LOSS_FACTOR`` times that of
    a uniform guess, stops with a message (checked whenever the metrics are read, five times an
    epoch); Ctrl-C / "interrupt kernel" keeps the model and the completed epochs. Either way the
    history so far is returned, with ``status`` saying why it ended. On the CPU the net is trained
    in the channels-last layout and handed back in the default one; it is left in eval mode.
    """
    _check_args(net, train_iter, test_iter, num_epochs, lr)
    if device is None:
        device = getattr(train_iter, "device", None) or try_gpu()
    device = torch.device(device)
    opt_name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "custom")
    history = History(label=label or f"{opt_name}, lr {lr:g}", device=describe(device))
    if init:
        net.apply(init_weights)
    channels_last = device.type == "cpu"
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    graphed = (cuda_graph and device.type == "cuda" and scheduler is None
               and isinstance(optimizer, str))
    opt = _make_optimizer(optimizer, net.parameters(), lr, capturable=graphed)
    num_batches = len(train_iter)
    set_lr = _lr_setter(scheduler, opt, lr, num_epochs, num_batches)
    loss_fn = nn.CrossEntropyLoss()
    sums = torch.zeros(2, device=device)  # this epoch's summed loss and correct count, on device

    limit = None  # the mean loss above which the run counts as diverged, set at the first step

    def step(X, y):
        nonlocal limit
        y_hat = net(X)
        if limit is None and y_hat.dim() == 2 and y_hat.shape[1] > 1:
            limit = EXPLODED_LOSS_FACTOR * math.log(y_hat.shape[1])
        loss = loss_fn(y_hat, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            sums[0] += loss.detach() * y.shape[0]
            sums[1] += accuracy(y_hat.detach(), y)

    run_step = CudaGraphStep(step, verbose) if graphed else step
    animator = None
    if animate:
        animator = Animator(xlabel="epoch", xlim=[0, num_epochs], legend=["train loss", "train acc", "test acc"])
    per_epoch_lines = verbose and (animator is None or not animator.live)
    checkpoints = {max(1, round(num_batches * k / CHECKPOINTS_PER_EPOCH)) - 1
                   for k in range(1, CHECKPOINTS_PER_EPOCH + 1)}
    train_time, train_examples = 0.0, 0
    epoch, batch = 0, -1
    try:
        for epoch in range(num_epochs):
            net.train()
            sums.zero_()
            seen = 0
            timer = Timer()
            for batch, (X, y) in enumerate(_batches(train_iter, device, channels_last)):
                if set_lr:
                    set_lr(epoch, batch)
                run_step(X, y)
                seen += y.shape[0]
                if batch in checkpoints:
                    loss_sum, correct = sums.tolist()  # the host reads the device sums here only
                    _check_loss(loss_sum / seen, limit)
                    if animator:
                        animator.add(epoch + (batch + 1) / num_batches,
                                     (loss_sum / seen, correct / seen, None),
                                     status=f"epoch {epoch + 1}/{num_epochs}, batch {batch + 1}/{num_batches}")
            loss_sum, correct = sums.tolist()
            _check_loss(loss_sum / seen, limit)
            seconds = timer.stop()
            train_time += seconds
            train_examples += seen
            timer.start()
            test_acc = evaluate_accuracy_gpu(net, test_iter, device)
            seconds += timer.stop()
            history.train_loss.append(loss_sum / seen)
            history.train_acc.append(correct / seen)
            history.test_acc.append(test_acc)
            history.seconds.append(seconds)
            history.lr.append(opt.param_groups[0]["lr"])
            history.examples_per_sec = train_examples / train_time
            if animator:
                animator.add(epoch + 1, (None, None, test_acc))
            if per_epoch_lines:
                print(f"epoch {epoch + 1}/{num_epochs}: loss {loss_sum / seen:.3f}, train acc "
                      f"{correct / seen:.3f}, test acc {test_acc:.3f} ({seconds:.1f} s)")
            if callback is not None and callback(history) is True:
                history.status = "stopped"
                history.message = f"Stopped by the callback after epoch {epoch + 1}."
                break
        else:
            history.status = "completed"
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
        if channels_last:
            net.to(memory_format=torch.contiguous_format)
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
