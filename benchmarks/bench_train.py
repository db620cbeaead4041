"""Textbook training loop vs ours: d2l's sigmoid LeNet on full Fashion-MNIST, both in one run.

The textbook loop is d2l's ``train_ch6`` as the book writes it (PyTorch edition, chapter 7.6):
torchvision ``FashionMNIST`` with ``ToTensor`` (one PIL image per example), a ``DataLoader`` with
``num_workers=4``, and metrics read back to the host (``float(...)``) after every batch. Only its
live plot is left out, so it is not slowed down by drawing. Ours is ``lenet_utils.train_ch6`` on
``lenet_utils.data.load_data`` (the whole set as tensors on the device).

Both train the same model from the same initial weights with the same settings and are timed end
to end (all epochs plus the test-set evaluation after each). Usage::

    LENET_DATA_DIR=/path/to/datasets python benchmarks/bench_train.py --epochs 10

On a shared machine, compare the load averages printed beside each phase.
"""

import argparse
import gzip
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import transforms

from lenet_utils import data
from lenet_utils.device import describe, try_gpu
from lenet_utils.models import lenet_d2l
from lenet_utils.train import train_ch6

# ---------------------------------------------------------------- the textbook loop (d2l, verbatim in spirit)


class TextbookAccumulator:
    """d2l.Accumulator: ``float(b)`` waits for the device on every add."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


def textbook_accuracy(y_hat, y):
    """d2l.accuracy: the number of correct predictions, as a Python float."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def textbook_evaluate(net, data_iter, device):
    """d2l.evaluate_accuracy_gpu."""
    net.eval()
    metric = TextbookAccumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            metric.add(textbook_accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def textbook_train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
    """d2l.train_ch6 without the Animator. Returns (train loss, train acc, test acc, examples/sec
    as d2l counts it: step time only, data loading excluded)."""
    def init_weights(m):
        if type(m) is nn.Linear or type(m) is nn.Conv2d:
            nn.init.xavier_uniform_(m.weight)
    net.apply(init_weights)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    step_time = 0.0
    for _ in range(num_epochs):
        metric = TextbookAccumulator(3)
        net.train()
        for X, y in train_iter:
            tik = time.perf_counter()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], textbook_accuracy(y_hat, y), X.shape[0])
            step_time += time.perf_counter() - tik
        test_acc = textbook_evaluate(net, test_iter, device)
    return metric[0] / metric[2], metric[1] / metric[2], test_acc, metric[2] * num_epochs / step_time


def uncompressed_root(source_root: Path) -> Path:
    """A root where torchvision's FashionMNIST finds uncompressed IDX files (it cannot read .gz
    with download=False): the source itself, or a decompressed copy in the temp folder."""
    raw = source_root / "FashionMNIST" / "raw"
    stems = [s for pair in data.IDX_FILES.values() for s in pair]
    if all((raw / s).is_file() for s in stems):
        return source_root
    target = Path(tempfile.gettempdir()) / "lenet_bench_data"
    (target / "FashionMNIST" / "raw").mkdir(parents=True, exist_ok=True)
    for s in stems:
        out = target / "FashionMNIST" / "raw" / s
        if not out.is_file():
            part = out.with_name(s + ".part")
            with gzip.open(raw / (s + ".gz"), "rb") as fin, open(part, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            part.replace(out)
    return target


def textbook_loaders(root: Path, batch_size: int, workers: int):
    """d2l.load_data_fashion_mnist: ToTensor per image, DataLoader with worker processes."""
    trans = transforms.ToTensor()
    train = torchvision.datasets.FashionMNIST(root=str(root), train=True, transform=trans, download=False)
    test = torchvision.datasets.FashionMNIST(root=str(root), train=False, transform=trans, download=False)
    return (torch.utils.data.DataLoader(train, batch_size, shuffle=True, num_workers=workers),
            torch.utils.data.DataLoader(test, batch_size, shuffle=False, num_workers=workers))


# ---------------------------------------------------------------- the comparison


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_textbook(args, device, root):
    """d2l's data pipeline and loop; returns the measured figures."""
    t0 = time.perf_counter()
    train_iter, test_iter = textbook_loaders(uncompressed_root(root), args.batch_size, args.workers)
    setup = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    net = lenet_d2l()
    t0 = time.perf_counter()
    loss, train_acc, test_acc, d2l_speed = textbook_train_ch6(
        net, train_iter, test_iter, args.epochs, args.lr, device)
    sync(device)
    return dict(setup=setup, wall=time.perf_counter() - t0, loss=loss, train_acc=train_acc,
                test_acc=test_acc, d2l_speed=d2l_speed, n=args.epochs * len(train_iter.dataset))


def run_ours(args, device, root):
    """lenet_utils' on-device data and train_ch6; returns the measured figures."""
    sync(device)
    t0 = time.perf_counter()
    train_iter, test_iter = data.load_data("fashion-mnist", args.batch_size, device=device,
                                           root=root, seed=args.seed, verbose=False)
    sync(device)
    setup = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    net = lenet_d2l()
    t0 = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, args.epochs, args.lr, device,
                        animate=False, verbose=False)
    sync(device)
    if history.status != "completed":
        raise RuntimeError(f"our run did not complete: {history.message}")
    return dict(setup=setup, wall=time.perf_counter() - t0, loss=history.train_loss[-1],
                train_acc=history.train_acc[-1], test_acc=history.final_test_acc,
                d2l_speed=history.examples_per_sec, n=args.epochs * train_iter.num_examples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.9)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the textbook loop (d2l: 4)")
    parser.add_argument("--device", default=None, help="cpu or cuda[:i]; default: the first GPU, else the CPU")
    parser.add_argument("--only", choices=["textbook", "ours"], default=None, help="run one loop only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="run both loops this many times, alternating, and report each one's fastest run")
    args = parser.parse_args()
    if args.epochs < 1 or args.repeats < 1:
        parser.error("--epochs and --repeats must be at least 1")
    # d2l's 4 workers on fewer cores is the point of the comparison: no need to warn about it
    warnings.filterwarnings("ignore", message="This DataLoader will create")

    device = torch.device(args.device) if args.device else try_gpu()
    source = data.find_data("fashion-mnist", strict=True)  # the full set, never the bundled sample
    print(f"Hardware: {describe(device)}; host CPU: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; torch {torch.__version__}, torchvision {torchvision.__version__}")
    print(f"Data: {source.describe()}")
    print(f"Task: d2l's sigmoid LeNet, {args.epochs} epochs, batch {args.batch_size}, SGD lr {args.lr}\n")

    loops = [name for name in ("textbook", "ours") if args.only in (None, name)]
    runs = {name: [] for name in loops}
    for repeat in range(args.repeats):  # alternate the loops, so a noisy neighbour hits both
        for name in loops:
            print(f"{name} (run {repeat + 1}/{args.repeats}) ... ({load()})", flush=True)
            runs[name].append(run_textbook(args, device, source.root) if name == "textbook"
                              else run_ours(args, device, source.root))
            print(f"  {runs[name][-1]['wall']:.1f} s ({load()})", flush=True)
    results = {name: min(rs, key=lambda r: r["wall"]) for name, rs in runs.items()}  # best of N

    print(f"\n{'loop':<9} {'setup s':>8} {'run s':>8} {'examples/s':>11} {'(d2l count)':>12} "
          f"{'loss':>6} {'train acc':>9} {'test acc':>8}")
    for name, r in results.items():
        print(f"{name:<9} {r['setup']:8.1f} {r['wall']:8.1f} {r['n'] / r['wall']:11,.0f} "
              f"{r['d2l_speed']:12,.0f} {r['loss']:6.3f} {r['train_acc']:9.3f} {r['test_acc']:8.3f}")
    if args.repeats > 1:
        for name, rs in runs.items():
            print(f"{name} run s, all {args.repeats}: " + ", ".join(f"{r['wall']:.1f}" for r in rs))
    print("run s: wall time of all epochs including the test evaluation after each; examples/s: "
          "training examples / run s (best of the runs).\n(d2l count): examples/sec as d2l prints it, timing only the "
          "steps (the textbook loop's data loading is not counted there).")
    if len(results) == 2:
        t, o = results["textbook"], results["ours"]
        print(f"\nSpeed-up of ours over the textbook loop on {describe(device)}: "
              f"{t['wall'] / o['wall']:.1f}x (whole run), {o['d2l_speed'] / t['d2l_speed']:.1f}x "
              f"(d2l's examples/sec); test accuracy {t['test_acc']:.3f} vs {o['test_acc']:.3f} "
              f"(difference {o['test_acc'] - t['test_acc']:+.3f}).")


if __name__ == "__main__":
    main()
