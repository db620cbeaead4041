"""Classic versus modern LeNet, measured one change at a time.

The ladder starts from the classic network (tanh, average pooling, plain SGD) and adds one modern
ingredient per rung: ReLU, max pooling, batch norm, dropout, augmentation, Adam. Every rung trains
with the same budget (epochs, batch size, data) on each data set and several seeds, so the
difference between two neighbouring rungs is what that one change buys.

:func:`train_lenet5_paper` trains the faithful 1998 LeNet-5 on padded 32x32 MNIST for comparison
with the paper's 0.95% test error.
"""

import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field, replace

import matplotlib.pyplot as plt
import torch

from .augment import AugmentedLoader
from .data import TensorLoader, load_data
from .device import describe, try_gpu
from .models import LeNet5, make_lenet
from .train import train_ch6

#: Test error of LeNet-5 on MNIST in LeCun et al. (1998), without distortions.
PAPER_TEST_ERROR = 0.0095

#: Test accuracy a rung must reach for "epochs to target", per data set.
TARGETS = {"mnist": 0.98, "fashion-mnist": 0.85}

#: Plain names for the data sets in tables and plots.
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


@dataclass(frozen=True)
class Rung:
    """One network + training recipe on the ladder; ``change`` says what differs from the rung below."""

    name: str
    change: str
    activation: str = "tanh"
    pool: str = "avg"
    batch_norm: bool = False
    dropout: float = 0.0
    augment: bool = False
    max_degrees: float = 10.0  # rotation and shift ranges, used when augment is True
    max_shift: float = 2.0
    optimizer: str = "sgd"
    lr: float = 0.1

    def build(self, image_size: int = 28, in_channels: int = 1):
        """A fresh LeNet for this rung (``make_lenet``)."""
        return make_lenet(activation=self.activation, pool=self.pool, batch_norm=self.batch_norm,
                          dropout=self.dropout, in_channels=in_channels, image_size=image_size)


def ladder(classic_activation: str = "tanh", sgd_lr: float = 0.1, adam_lr: float = 1e-3,
           dropout: float = 0.3, max_degrees: float = 10.0, max_shift: float = 2.0) -> list:
    """The rungs from classic to modern; each is the previous one with exactly one change."""
    classic = Rung("classic", f"{classic_activation}, average pooling, SGD (lr {sgd_lr:g})",
                   activation=classic_activation, lr=sgd_lr, max_degrees=max_degrees, max_shift=max_shift)
    steps = [
        ("+ ReLU", f"ReLU instead of {classic_activation}", {"activation": "relu"}),
        ("+ max pool", "max pooling instead of average", {"pool": "max"}),
        ("+ batch norm", "batch norm after every conv / hidden dense layer", {"batch_norm": True}),
        ("+ dropout", f"dropout {dropout:g} before fc1 and fc2", {"dropout": dropout}),
        ("+ augmentation", f"random rotation ±{max_degrees:g}° and shift ±{max_shift:g} px per image",
         {"augment": True}),
        ("+ Adam", f"Adam (lr {adam_lr:g}) instead of SGD", {"optimizer": "adam", "lr": adam_lr}),
    ]
    rungs = [classic]
    for name, change, fields in steps:
        rungs.append(replace(rungs[-1], name=name, change=change, **fields))
    return rungs


def hardware_summary(device=None) -> str:
    """One line naming the machine a run happens on: CPU model, cores, torch threads, device."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = torch.device(device) if device is not None else try_gpu()
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads; training device: {describe(device)}")


def epochs_to_target(test_acc, target: float):
    """The first epoch (1-based) whose test accuracy reaches ``target``, or None."""
    return next((epoch for epoch, acc in enumerate(test_acc, start=1) if acc >= target), None)


@dataclass
class LadderRun:
    """One rung trained once on one data set with one seed."""

    rung: Rung
    dataset: str
    seed: int
    history: object
    seconds: float
    target: float

    @property
    def test_acc(self) -> list:
        return list(self.history.test_acc)

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]

    @property
    def epochs_to_target(self):
        return epochs_to_target(self.test_acc, self.target)


@dataclass
class LadderResult:
    """Every run of the ladder, the nets of the first seed (for galleries) and the settings used."""

    runs: list
    models: dict = field(default_factory=dict)  # (rung name, data set) -> trained net, first seed
    settings: dict = field(default_factory=dict)

    def table(self) -> list:
        """One row per (rung, data set): mean and spread of final test accuracy over the seeds,
        epochs to reach the target (mean over the seeds that reached it) and seconds per run."""
        rows = []
        groups = {}
        for run in self.runs:
            groups.setdefault((run.rung.name, run.dataset), []).append(run)
        for (name, dataset), runs in groups.items():
            accs = [r.final_test_acc for r in runs]
            reached = [r.epochs_to_target for r in runs if r.epochs_to_target is not None]
            rows.append({
                "rung": name, "change": runs[0].rung.change, "dataset": dataset,
                "seeds": len(runs), "test_acc_mean": statistics.fmean(accs),
                "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "test_acc_min": min(accs), "test_acc_max": max(accs), "target": runs[0].target,
                "epochs_to_target": statistics.fmean(reached) if reached else None,
                "reached": len(reached), "seconds": statistics.fmean(r.seconds for r in runs),
            })
        return rows

    def to_markdown(self) -> str:
        """The table as Markdown, one row per rung, data sets side by side."""
        rows = self.table()
        datasets = list(dict.fromkeys(r["dataset"] for r in rows))
        by_key = {(r["rung"], r["dataset"]): r for r in rows}
        targets = {r["dataset"]: r["target"] for r in rows}
        head = "| rung | change |" + "".join(
            f" {TITLES.get(d, d)} test acc | epochs to {targets[d]:.0%} | s/run |" for d in datasets)
        lines = [head, "|" + "---|" * (2 + 3 * len(datasets))]
        for name in dict.fromkeys(r["rung"] for r in rows):
            first = next(r for r in rows if r["rung"] == name)
            cells = [name, first["change"]]
            for d in datasets:
                r = by_key.get((name, d))
                if r is None:
                    cells += ["", "", ""]
                    continue
                cells += [f"{r['test_acc_mean']:.2%} ± {r['test_acc_std']:.2%}",
                          _format_epochs(r), f"{r['seconds']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        seeds = max(r["seeds"] for r in rows)
        lines.append("")
        lines.append(f"Test accuracy after the last epoch: mean ± sample standard deviation over "
                     f"{seeds} seed(s). Epochs to target: mean over the seeds that reached it "
                     f"(— none did; k/n when only k of n did).")
        return "\n".join(lines)


def _format_epochs(row) -> str:
    if row["epochs_to_target"] is None:
        return "—"
    text = f"{row['epochs_to_target']:.1f}".rstrip("0").rstrip(".")
    return text if row["reached"] == row["seeds"] else f"{text} ({row['reached']}/{row['seeds']})"


def run_ladder(rungs=None, datasets=("mnist", "fashion-mnist"), seeds=(0, 1), num_epochs: int = 5,
               batch_size: int = 128, device=None, train_size=None, test_size=None, targets=None,
               verbose: bool = True) -> LadderResult:
    """Train every rung on every data set with every seed, all with the same budget.

    A seed fixes the weight initialisation, the shuffling and the augmentation draws. Returns a
    :class:`LadderResult`; ``.to_markdown()`` gives the table, :func:`plot_ladder` the curves.
    """
    rungs = ladder() if rungs is None else list(rungs)
    if not rungs or not datasets or not seeds:
        raise ValueError("run_ladder needs at least one rung, one data set and one seed.")
    if int(num_epochs) < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}.")
    targets = {**TARGETS, **(targets or {})}
    device = torch.device(device) if device is not None else try_gpu()
    result = LadderResult([], settings=dict(
        datasets=tuple(datasets), seeds=tuple(seeds), num_epochs=int(num_epochs),
        batch_size=int(batch_size), device=str(device), hardware=hardware_summary(device)))
    for dataset in datasets:
        train_iter, test_iter = load_data(dataset, batch_size, device=device, train_size=train_size,
                                          test_size=test_size, verbose=verbose)
        result.settings[f"{dataset}_sizes"] = (train_iter.num_examples, test_iter.num_examples)
        for rung in rungs:
            for seed in seeds:
                torch.manual_seed(seed)
                net = rung.build()
                loader = TensorLoader(train_iter.X, train_iter.y, batch_size, device=device, seed=seed)
                if rung.augment:
                    loader = AugmentedLoader(loader, rung.max_degrees, rung.max_shift, seed=seed)
                start = time.perf_counter()
                history = train_ch6(net, loader, test_iter, num_epochs, rung.lr, device,
                                    optimizer=rung.optimizer, animate=False, verbose=False)
                seconds = time.perf_counter() - start
                run = LadderRun(rung, dataset, seed, history, seconds, targets.get(dataset, 1.0))
                result.runs.append(run)
                result.models.setdefault((rung.name, dataset), net)
                if verbose:
                    print(f"{TITLES.get(dataset, dataset):>13} | {rung.name:<15} | seed {seed} | "
                          f"test acc {run.final_test_acc:.2%} | {seconds:5.1f} s")
                    if history.status != "completed":
                        print(f"  {history.message}")
    return result


def plot_ladder(result: LadderResult, figsize=None):
    """Test accuracy per epoch for every rung, one panel per data set: the mean over seeds as a
    line, the band between the worst and best seed shaded."""
    datasets = list(dict.fromkeys(r.dataset for r in result.runs))
    names = list(dict.fromkeys(r.rung.name for r in result.runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=figsize or (6 * len(datasets), 4), squeeze=False)
    colors = plt.get_cmap("viridis")(torch.linspace(0, 0.9, len(names)).tolist())
    for ax, dataset in zip(axes[0], datasets):
        for color, name in zip(colors, names):
            runs = [r for r in result.runs if r.dataset == dataset and r.rung.name == name]
            length = max(len(r.test_acc) for r in runs)  # a diverged run stops early: pad with NaN
            curves = torch.tensor([r.test_acc + [math.nan] * (length - len(r.test_acc)) for r in runs])
            epochs = range(1, curves.shape[1] + 1)
            ax.plot(epochs, curves.mean(0), marker="o", color=color, label=name)
            if len(curves) > 1:
                ax.fill_between(epochs, curves.min(0).values, curves.max(0).values, color=color, alpha=0.2)
        ax.set(title=TITLES.get(dataset, dataset), xlabel="epoch", ylabel="test accuracy")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


# --- the faithful LeNet-5 against the paper ------------------------------------------------------

def paper_input_scale(X: torch.Tensor) -> torch.Tensor:
    """The paper's input normalisation: background 0 -> -0.1, full ink 1 -> 1.175 (mean about 0,
    variance about 1 on MNIST)."""
    return X * 1.275 - 0.1


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
                       device=None, train_size=None, test_size=None, verbose: bool = True) -> dict:
    """Train the faithful :class:`LeNet5` on MNIST padded to 32x32, as close to the paper as practical.

    Kept from the paper: the architecture (C3 table, trainable subsampling, scaled tanh), its
    weight initialisation (uniform ±2.4 / fan-in), its input scaling and the shape of its
    decreasing learning-rate schedule. Changed: a dense output with cross-entropy instead of RBF
    units with the paper's MAP criterion, mini-batches instead of single examples, fewer epochs, and
    Adam instead of the stochastic diagonal Levenberg-Marquardt method (both give each weight its
    own step size from curvature or gradient statistics; plain SGD barely moves the tiny initial
    weights). Returns ``net``, ``history``, ``test_error``, ``paper_test_error`` and ``seconds``.
    """
    device = torch.device(device) if device is not None else try_gpu()
    train_iter, test_iter = load_data("mnist", batch_size, pad=2, device=device, train_size=train_size,
                                      test_size=test_size, seed=seed, verbose=verbose)
    train_iter = TensorLoader(paper_input_scale(train_iter.X), train_iter.y, batch_size, device=device,
                              seed=seed)
    test_iter = TensorLoader(paper_input_scale(test_iter.X), test_iter.y, 1024, shuffle=False, device=device)
    torch.manual_seed(seed)
    net = LeNet5()
    start = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, num_epochs, lr, device, optimizer="adam",
                        scheduler=lambda epoch: lr * paper_lr_factor(epoch, num_epochs),
                        init=False, animate=False, verbose=verbose)
    seconds = time.perf_counter() - start
    test_error = 1 - history.test_acc[-1]
    return {"net": net, "history": history, "test_error": test_error,
            "paper_test_error": PAPER_TEST_ERROR, "seconds": seconds,
            "train_size": train_iter.num_examples, "test_size": test_iter.num_examples}


def compare_with_paper(result: dict) -> str:
    """One line: our LeNet-5 test error next to the paper's."""
    ours, paper = result["test_error"], result["paper_test_error"]
    n = result["test_size"]
    # binomial standard error of a test error measured on n images
    se = math.sqrt(max(ours * (1 - ours), 1e-12) / n)
    return (f"LeNet-5 test error on {n:,} MNIST test images: {ours:.2%} (± {se:.2%} standard error) "
            f"after {len(result['history'].test_acc)} epochs, versus {paper:.2%} in the paper "
            f"(20 passes): {'better than' if ours < paper else 'worse than' if ours > paper else 'equal to'} "
            f"the paper by {abs(ours - paper) * 100:.2f} percentage points.")
