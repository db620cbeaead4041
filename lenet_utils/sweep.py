"""Grids of training runs, and many same-shaped LeNets trained at once.

:func:`run_sweep` trains one LeNet per combination of learning rate, batch size, epochs,
activation, pooling, optimizer and seed, and returns a :class:`SweepResult`: a tidy table (one row
per run: its settings, final metrics, seconds and how it ended) that saves to CSV
(:func:`save_csv`, :func:`load_csv`), plus each run's :class:`~lenet_utils.train.History`.
:func:`plot_heatmap` and :func:`plot_best_worst` draw it.

Runs are repeatable: every run re-seeds PyTorch with its ``seed`` right before it initialises the
weights and shuffles the batches, so all runs with the same seed start from the same weights and
see the same batches in the same order (only the setting under study differs), and a sweep run
again on the same CPU with the same number of threads gives the same table (``seconds`` aside).

:func:`train_many` trains a list of same-shaped nets, one learning rate each, either one after
another with ``train_ch6`` or all at once: the nets' parameters are stacked
(``torch.func.stack_module_state``) and one ``vmap``-ed ``functional_call`` computes every model's
loss and gradients on the same batch, followed by a hand-written SGD (or Adam) step with a
learning rate per model. On a GPU that turns many tiny launches into a few big ones.
"""

import copy
import csv
import itertools
import math
import numbers
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from .data import TensorLoader, load_data
from .device import describe, try_gpu
from .models import ACTIVATIONS, POOLS, make_lenet
from .plot import plot_history
from .train import CudaGraphStep, History, init_weights, train_ch6

__all__ = ["AXES", "COLUMNS", "SweepResult", "make_grid", "run_sweep", "train_many", "ManyRuns",
           "vmap_blocker", "loss_per_step", "save_csv", "load_csv", "format_table", "plot_heatmap",
           "plot_best_worst", "plot_runs"]

#: The settings a sweep can vary, with the value each takes when a sweep does not name it.
AXES = {"lr": 0.9, "batch_size": 256, "num_epochs": 10, "activation": "sigmoid", "pool": "avg",
        "optimizer": "sgd", "seed": 0}

#: What a run measured, as columns of the table.
METRICS = {"epochs_run": int, "train_loss": float, "train_acc": float, "test_acc": float,
           "seconds": float, "examples_per_sec": float, "status": str, "trainer": str}

_TYPES = {"run": int, "lr": float, "batch_size": int, "num_epochs": int, "activation": str,
          "pool": str, "optimizer": str, "seed": int, **METRICS}

#: The table's columns, in order: run number, settings, metrics.
COLUMNS = tuple(_TYPES)

OPTIMIZERS = ("sgd", "adam")
NO_HISTORIES = "This table has no histories (it was loaded from CSV): run the sweep again."
TEST_BATCH_SIZE = 1024  # evaluation batch: does not change the accuracy, only the speed


# ---------------------------------------------------------------- the grid


def _whole(name, value, low=1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}={value!r} is not valid: it must be a whole number >= {low}.")
    return int(value)


def _check_value(axis, value):
    """``value`` checked (and normalised) as a setting of ``axis``."""
    if axis == "lr":
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                or value <= 0):
            raise ValueError(f"lr={value!r} is not valid: a learning rate is a positive number "
                             f"such as 0.1.")
        return float(value)
    if axis in ("batch_size", "num_epochs", "seed"):
        return _whole(axis, value, low=0 if axis == "seed" else 1)
    choices = {"activation": ACTIVATIONS, "pool": POOLS, "optimizer": OPTIMIZERS}[axis]
    key = str(value).lower()
    if key not in choices:
        raise ValueError(f"{axis}={value!r} is not valid: choose one of {', '.join(choices)}.")
    return key


def make_grid(**axes) -> list:
    """Every combination of the given settings, as a list of dicts (all :data:`AXES` filled in).

    Each keyword is an axis of :data:`AXES` with one value or a list of values, e.g.
    ``make_grid(lr=[0.1, 0.9], activation=["sigmoid", "relu"])`` gives 4 settings. The last axis
    named varies fastest.
    """
    unknown = set(axes) - set(AXES)
    if unknown:
        raise ValueError(f"Unknown sweep axis {', '.join(sorted(unknown))}: a sweep varies "
                         f"{', '.join(AXES)}.")
    values = {}
    for axis, default in AXES.items():
        given = axes.get(axis, default)
        given = list(given) if isinstance(given, (list, tuple, range)) else [given]
        if not given:
            raise ValueError(f"{axis} has an empty list of values: give at least one.")
        values[axis] = [_check_value(axis, v) for v in given]
    order = [a for a in axes] + [a for a in AXES if a not in axes]
    grid = []
    for combo in itertools.product(*(values[a] for a in order)):
        settings = dict(zip(order, combo))
        grid.append({a: settings[a] for a in AXES})
    return grid


def _label(settings, varied) -> str:
    shown = varied or ["lr"]
    return ", ".join(f"{a}={settings[a]:g}" if a == "lr" else f"{a}={settings[a]}" for a in shown)


# ---------------------------------------------------------------- many models at once


def vmap_blocker(nets) -> str | None:
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

    histories: list
    trainer: str
    reason: str
    seconds: float
    examples_per_sec: float


def _loaders(train_iter, test_iter, device, seed):
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


def train_many(nets, lrs, train_iter, test_iter, num_epochs, device=None, *, optimizer="sgd",
               seed=0, init=True, parallel="auto", labels=None, verbose=False) -> ManyRuns:
    """Train each of ``nets`` with its own learning rate from ``lrs``; the nets are changed in place.

    Every net sees the same batches in the same order (shuffled from ``seed``); with ``init=True``
    each gets d2l's Xavier initialisation right after ``torch.manual_seed(seed)``, as
    ``train_ch6(..., init=True)`` does.

    ``parallel``: 'auto' trains all nets at once with ``vmap`` on a GPU and one after another with
    ``train_ch6`` on the CPU; True forces the vmap path (also on the CPU, for tests); False is
    always sequential. Whatever vmap does not support (see :func:`vmap_blocker`) falls back to
    sequential runs with a warning instead of failing. The vmap path implements plain SGD and
    Adam (PyTorch's defaults) functionally; it checks for a diverged loss once per epoch and
    freezes that model, and per-epoch ``seconds`` of each History are the group's time divided by
    the number of models (what each run cost).
    """
    nets = list(nets)
    lrs = [_check_value("lr", lr) for lr in lrs]
    if len(lrs) != len(nets):
        raise ValueError(f"Got {len(nets)} nets but {len(lrs)} learning rates: give one lr per net.")
    num_epochs = _whole("num_epochs", num_epochs)
    optimizer = _check_value("optimizer", optimizer)
    if parallel not in ("auto", True, False):
        raise ValueError(f"parallel must be 'auto', True or False, got {parallel!r}.")
    device = _device(device, train_iter)
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
        histories = _train_vmap(nets, lrs, train_iter, test_iter, num_epochs, device, optimizer,
                                seed, init, labels)
    else:
        histories = []
        for net, lr, label in zip(nets, lrs, labels):
            train, test = _loaders(train_iter, test_iter, device, seed)
            torch.manual_seed(seed)
            histories.append(train_ch6(net, train, test, num_epochs, lr, device, optimizer=optimizer,
                                       init=init, animate=False, verbose=False, label=label))
    seconds = time.perf_counter() - start
    examples = sum(train_iter.num_examples * h.num_epochs for h in histories)
    if verbose:
        how = "all at once (vmap)" if reason is None else "one after another"
        print(f"{len(nets)} models trained {how} in {seconds:.1f} s: {examples / seconds:,.0f} "
              f"examples/sec summed over models on {describe(device)}")
    return ManyRuns(histories, "vmap" if reason is None else "sequential", reason or "",
                    seconds, examples / seconds)


def _device(device, train_iter) -> torch.device:
    """The device asked for, else the training data's, else the first GPU (or the CPU)."""
    return torch.device(device if device is not None else getattr(train_iter, "device", None) or try_gpu())


def _train_vmap(nets, lrs, train_iter, test_iter, num_epochs, device, optimizer, seed, init, labels):
    """All nets at once: stacked parameters, one vmap-ed forward/backward per batch."""
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    for net in nets:
        if init:
            torch.manual_seed(seed)
            net.apply(init_weights)
        net.to(device).train()
    m = len(nets)
    params, buffers = stack_module_state(nets)
    params = {k: v.detach() for k, v in params.items()}
    base = copy.deepcopy(nets[0]).to("meta")

    def loss_and_logits(p, b, X, y):
        logits = functional_call(base, (p, b), (X,))
        return F.cross_entropy(logits, y), logits

    grads_of = vmap(grad_and_value(loss_and_logits, has_aux=True), in_dims=(0, 0, None, None))
    logits_of = vmap(lambda p, b, X: functional_call(base, (p, b), (X,)), in_dims=(0, 0, None))

    lr = torch.tensor(lrs, device=device)
    live = torch.ones(m, device=device)  # 0 for a model that diverged: its weights stay frozen
    sums = torch.zeros(2, m, device=device)  # per model: summed loss, correct predictions
    adam = None
    if optimizer == "adam":
        adam = {"t": torch.zeros((), device=device),
                "m": {k: torch.zeros_like(v) for k, v in params.items()},
                "v": {k: torch.zeros_like(v) for k, v in params.items()}}

    def per_model(x, like):  # an (m,) vector shaped to broadcast against a stacked parameter
        return x.view(-1, *([1] * (like.dim() - 1)))

    def step(X, y):
        grads, (loss, logits) = grads_of(params, buffers, X, y)
        with torch.no_grad():
            rate = lr * live
            if adam is None:
                for k, p in params.items():
                    p.sub_(per_model(rate, p) * grads[k])
            else:  # torch.optim.Adam's update with betas (0.9, 0.999), eps 1e-8
                adam["t"] += 1
                c1, c2 = 1 - 0.9 ** adam["t"], (1 - 0.999 ** adam["t"]).sqrt()
                for k, p in params.items():
                    g, m1, m2 = grads[k], adam["m"][k], adam["v"][k]
                    m1.lerp_(g, 0.1)
                    m2.mul_(0.999).addcmul_(g, g, value=0.001)
                    p.sub_(per_model(rate, p) / c1 * m1 / (m2.sqrt() / c2 + 1e-8))
            sums[0] += loss * y.shape[0]
            sums[1] += (logits.argmax(dim=-1) == y).sum(dim=-1)

    train, test = _loaders(train_iter, test_iter, device, seed)
    run_step = CudaGraphStep(step, verbose=False) if device.type == "cuda" else step
    histories = [History(label=label, device=describe(device)) for label in labels]
    train_time = 0.0
    for epoch in range(num_epochs):
        start = time.perf_counter()
        sums.zero_()
        seen = 0
        for X, y in train:
            run_step(X, y)
            seen += y.shape[0]
        loss_sum, correct = sums.tolist()  # the one host synchronisation of the epoch
        train_seconds = time.perf_counter() - start
        train_time += train_seconds
        correct_test = torch.zeros(m, device=device)
        with torch.no_grad():
            for X, y in test:
                correct_test += (logits_of(params, buffers, X).argmax(dim=-1) == y).sum(dim=-1)
        test_acc = (correct_test / test.num_examples).tolist()
        share = (time.perf_counter() - start) / m
        for i, h in enumerate(histories):
            if h.status != "running":
                continue
            if not math.isfinite(loss_sum[i]):
                live[i] = 0
                h.status = "diverged"
                h.message = (f"Stopped: the training loss became {loss_sum[i]} in epoch {epoch + 1}: "
                             f"the run diverged (lr={lrs[i]:g} is too large). Kept the history of "
                             f"the {h.num_epochs} completed epoch(s).")
                continue
            h.train_loss.append(loss_sum[i] / seen)
            h.train_acc.append(correct[i] / seen)
            h.test_acc.append(test_acc[i])
            h.seconds.append(share)
            h.lr.append(lrs[i])
            h.examples_per_sec = seen * h.num_epochs / (train_time / m)
        if not live.any():
            break
    for i, (net, h) in enumerate(zip(nets, histories)):
        if h.status == "running":
            h.status = "completed"
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(params[name][i])
        net.eval()
    return histories


def loss_per_step(net, train_iter, lr, steps=30, *, optimizer="sgd", seed=0, init=True) -> list:
    """The training loss after each of the first ``steps`` mini-batches (stops early at NaN/inf).

    The first steps are where a too-large learning rate shows itself, long before an epoch ends.
    Seeds and initialises like ``train_ch6(..., init=True)``; ``net`` is trained in place.
    """
    lr, steps = _check_value("lr", lr), _whole("steps", steps)
    optimizer = _check_value("optimizer", optimizer)
    device = _device(None, train_iter)
    train, _ = _loaders(train_iter, train_iter, device, seed)
    torch.manual_seed(seed)
    if init:
        net.apply(init_weights)
    net.to(device).train()
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(net.parameters(), lr=lr)
    losses = []
    while True:
        for X, y in train:
            loss = F.cross_entropy(net(X), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps or not math.isfinite(losses[-1]):
                net.eval()
                return losses


# ---------------------------------------------------------------- sweeps


class SweepResult:
    """The outcome of :func:`run_sweep`: ``rows`` (one dict per run, keys :data:`COLUMNS`),
    ``histories`` (one per run, same order) and ``varied`` (the axes with more than one value).

    ``print(result)`` shows the table; ``result.to_csv(path)`` saves it.
    """

    def __init__(self, rows, histories=None, varied=None):
        self.rows = list(rows)
        self.histories = list(histories) if histories is not None else []
        self.varied = list(varied) if varied is not None else _varied(self.rows)

    def __len__(self):
        return len(self.rows)

    def __str__(self):
        return format_table(self.rows)

    def __repr__(self):
        return f"SweepResult({len(self.rows)} runs varying {', '.join(self.varied) or 'nothing'})"

    def to_csv(self, path) -> Path:
        """Save the table (not the per-epoch histories) as CSV; reload it with :func:`load_csv`."""
        return save_csv(self.rows, path)

    def _ranked(self, by):
        if not self.rows:
            raise ValueError("This sweep has no runs.")
        if by not in _TYPES or _TYPES[by] is not float:
            raise ValueError(f"Rank by a numeric column such as 'test_acc', got {by!r}.")

        def key(i):  # a NaN (no completed epoch) ranks last
            v = self.rows[i][by]
            return v if math.isfinite(v) else -math.inf

        return sorted(range(len(self.rows)), key=key)

    def best(self, by="test_acc") -> dict:
        """The row with the highest ``by``."""
        return self.rows[self._ranked(by)[-1]]

    def worst(self, by="test_acc") -> dict:
        """The row with the lowest ``by`` (a run with no completed epoch counts as lowest)."""
        return self.rows[self._ranked(by)[0]]

    def history(self, row) -> History:
        """The History of a row (a dict from ``rows`` or its run number)."""
        run = row["run"] if isinstance(row, dict) else int(row)
        if not self.histories:
            raise ValueError(NO_HISTORIES)
        return self.histories[run - 1]

    def epoch_rows(self) -> list:
        """One row per run and epoch: the settings, ``epoch`` and that epoch's metrics."""
        out = []
        for row, h in zip(self.rows, self.histories):
            for e in range(h.num_epochs):
                out.append({**{a: row[a] for a in ("run", *AXES)}, "epoch": e + 1,
                            "train_loss": h.train_loss[e], "train_acc": h.train_acc[e],
                            "test_acc": h.test_acc[e]})
        return out


def _last(values) -> float:
    return float(values[-1]) if values else math.nan


def _varied(rows):
    return [a for a in AXES if len({r[a] for r in rows}) > 1]


def run_sweep(data="fashion-mnist", *, train_size=None, test_size=None, device=None,
              parallel="auto", model_fn=None, verbose=True, **axes) -> SweepResult:
    """Train one LeNet per combination of the given settings and tabulate the results.

    ``data`` is a data set name for :func:`~lenet_utils.data.load_data` (with ``train_size`` /
    ``test_size`` for class-balanced subsets) or a ``(train_iter, test_iter)`` pair of
    TensorLoaders. The other keywords are axes of :data:`AXES`, each one value or a list:
    ``lr``, ``batch_size``, ``num_epochs``, ``activation``, ``pool``, ``optimizer``, ``seed``, e.g.
    ``run_sweep('fashion-mnist', lr=[0.1, 0.9, 3], activation=['sigmoid', 'relu'], num_epochs=5)``.

    Each net is ``model_fn(activation, pool)`` (default: :func:`~lenet_utils.models.make_lenet`
    for the data's channels and image size), built right after ``torch.manual_seed(seed)``.
    Runs that differ only in their learning rate are trained together by :func:`train_many`
    (``parallel`` as there: all at once on a GPU, one after another on the CPU).
    """
    grid = make_grid(**axes)
    if isinstance(data, str):
        train_iter, test_iter = load_data(data, batch_size=AXES["batch_size"], train_size=train_size,
                                          test_size=test_size, device=device, verbose=verbose)
    else:
        try:
            train_iter, test_iter = data
        except (TypeError, ValueError):
            raise TypeError("data must be a data set name such as 'fashion-mnist' or a "
                            "(train_iter, test_iter) pair of TensorLoaders.") from None
    device = _device(device, train_iter)
    if model_fn is None:
        _, channels, size, _ = train_iter.X.shape

        def model_fn(activation, pool):
            return make_lenet(activation=activation, pool=pool, in_channels=channels, image_size=size)

    varied = _varied(grid)
    rows, histories = [None] * len(grid), [None] * len(grid)
    groups = {}  # runs that differ only in lr train together
    for i, settings in enumerate(grid):
        key = tuple(settings[a] for a in AXES if a != "lr")
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        first = grid[members[0]]
        nets = []
        for _ in members:
            torch.manual_seed(first["seed"])
            nets.append(model_fn(first["activation"], first["pool"]))
        train = TensorLoader(train_iter.X, train_iter.y, first["batch_size"], device=device,
                             seed=first["seed"])
        runs = train_many(nets, [grid[i]["lr"] for i in members], train, test_iter,
                          first["num_epochs"], device, optimizer=first["optimizer"],
                          seed=first["seed"], parallel=parallel,
                          labels=[_label(grid[i], varied) for i in members])
        for i, h in zip(members, runs.histories):
            histories[i] = h
            rows[i] = {"run": i + 1, **grid[i], "epochs_run": h.num_epochs,
                       "train_loss": _last(h.train_loss), "train_acc": _last(h.train_acc),
                       "test_acc": _last(h.test_acc), "seconds": float(sum(h.seconds)),
                       "examples_per_sec": float(h.examples_per_sec), "status": h.status,
                       "trainer": runs.trainer}
            if verbose:
                print(f"run {i + 1:>3}/{len(grid)} {h.label}: test acc {rows[i]['test_acc']:.3f} "
                      f"after {h.num_epochs} epoch(s), {rows[i]['seconds']:.1f} s ({h.status})")
    return SweepResult(rows, histories, varied)


# ---------------------------------------------------------------- tables


def save_csv(rows, path) -> Path:
    """Write sweep rows to ``path`` as CSV (columns :data:`COLUMNS`); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            missing = set(COLUMNS) - set(row)
            if missing:
                raise ValueError(f"A sweep row lacks the column(s) {', '.join(sorted(missing))}.")
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return path


def load_csv(path) -> list:
    """Read rows written by :func:`save_csv`, with numbers as numbers again."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} is not a sweep table: it lacks the column(s) "
                             f"{', '.join(sorted(missing))}.")
        return [{k: _TYPES[k](row[k]) for k in COLUMNS} for row in reader]


def format_table(rows, columns=None) -> str:
    """The rows as an aligned text table (by default the run, the varied settings and the metrics)."""
    if not rows:
        return "(no runs)"
    if columns is None:
        columns = ["run", *(_varied(rows) or ["lr"]), "epochs_run", "train_loss", "train_acc",
                   "test_acc", "seconds", "status"]

    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1e4 or not math.isfinite(v) else f"{v:,.0f}"
        return str(v)

    table = [list(columns)] + [[cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(line[j]) for line in table) for j in range(len(columns))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in table)


# ---------------------------------------------------------------- pictures


def _tick(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def plot_heatmap(rows, x="lr", y="activation", value="test_acc", ax=None):
    """A heatmap of ``value`` over two settings, e.g. test accuracy by learning rate × activation.

    ``rows`` are sweep rows (``result.rows``, :func:`load_csv`) or ``result.epoch_rows()`` (then
    ``y='epoch'`` works). Where several runs share a cell (other settings varied) the best value
    is shown. A run that diverged shows the value of its last completed epoch marked
    '(diverged)', or just 'diverged' when it completed none. Returns the axes.
    """
    if not rows:
        raise ValueError("plot_heatmap needs at least one row.")
    for name in (x, y, value):
        if name not in rows[0]:
            raise ValueError(f"{name!r} is not a column of these rows; columns: {', '.join(rows[0])}.")
    xs, ys = _levels(rows, x), _levels(rows, y)
    grid = [[math.nan] * len(xs) for _ in ys]
    diverged = [[False] * len(xs) for _ in ys]
    for r in rows:
        i, j = ys.index(r[y]), xs.index(r[x])
        v = r[value]
        if math.isfinite(v) and (math.isnan(grid[i][j]) or v > grid[i][j]):
            grid[i][j] = v
            diverged[i][j] = r.get("status") == "diverged"
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * len(xs) + 2.5, 0.6 * len(ys) + 1.6))
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    finite = [v for line in grid for v in line if math.isfinite(v)]
    middle = (min(finite) + max(finite)) / 2 if finite else 0
    for i in range(len(ys)):
        for j in range(len(xs)):
            v = grid[i][j]
            if math.isfinite(v):
                text = f"{v:.3f}" + ("\n(diverged)" if diverged[i][j] else "")
            else:
                text = "diverged"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="black" if math.isfinite(v) and v > middle else "white")
    ax.set_facecolor("0.35")
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{value.replace('_', ' ')} by {x} and {y}", fontsize="medium")
    ax.figure.colorbar(image, ax=ax, label=value.replace("_", " "))
    return ax


def _levels(rows, column):
    """The distinct values of a column: numbers in increasing order, names in order of appearance."""
    values = list(dict.fromkeys(r[column] for r in rows))
    return sorted(values) if all(isinstance(v, (int, float)) for v in values) else values


def plot_best_worst(result: SweepResult, by="test_acc"):
    """The loss and accuracy curves of the best and the worst run of a sweep, side by side
    (:func:`~lenet_utils.plot.plot_history`). Returns the two axes."""
    best, worst = result.best(by), result.worst(by)
    if best["run"] == worst["run"]:
        return plot_history({f"only run: {result.history(best).label}": result.history(best)})
    return plot_history({f"best: {result.history(best).label}": result.history(best),
                         f"worst: {result.history(worst).label}": result.history(worst)})


def plot_runs(result: SweepResult, metric="test_acc", where=None, ax=None):
    """``metric`` per epoch for every run of a sweep, one line each (e.g. to see how many epochs a
    learning rate needs); ``where`` keeps only the runs with the given settings, e.g.
    ``{'activation': 'relu'}``. A diverged run ends with an x where it diverged. Returns the axes."""
    if metric not in ("train_loss", "train_acc", "test_acc"):
        raise ValueError(f"metric must be 'train_loss', 'train_acc' or 'test_acc', got {metric!r}.")
    if not result.histories:
        raise ValueError(NO_HISTORIES)
    where = dict(where or {})
    unknown = set(where) - set(AXES)
    if unknown:
        raise ValueError(f"where= can only name sweep settings ({', '.join(AXES)}), "
                         f"not {', '.join(sorted(unknown))}.")
    chosen = [(r, h) for r, h in zip(result.rows, result.histories)
              if all(r[k] == _check_value(k, v) for k, v in where.items())]
    if not chosen:
        raise ValueError(f"No run of this sweep has {where}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    shown = [a for a in result.varied if a not in where]
    for row, h in chosen:
        values = getattr(h, metric)
        line, = ax.plot(range(1, len(values) + 1), values, "o-", ms=3, label=_label(row, shown))
        if h.status == "diverged":
            ax.plot([len(values) + 0.5], [values[-1] if values else 0.1], "x", color=line.get_color(),
                    ms=8)
    ax.set(xlabel="epoch", ylabel=metric.replace("_", " "))
    if where:
        ax.set_title(", ".join(f"{k}={v}" for k, v in where.items()), fontsize="medium")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax
