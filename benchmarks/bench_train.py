"""Textbook training loop vs ours: d2l's sigmoid LeNet on full Fashion-MNIST, both in one run.

The textbook loop is ``lenet_utils.plain_loop.train_ch6_textbook``: d2l's ``train_ch6`` as chapter 4
writes it out (PyTorch edition), on ``lenet_utils.data.textbook_loaders``: torchvision's data set
with ``ToTensor`` (one PIL image per example) and a ``DataLoader`` with ``num_workers=4``, metrics
read back to the host (``float(...)``) after every batch. Ours is ``lenet_utils.train_ch6`` on
``lenet_utils.data.load_data`` (the whole set as tensors on the device).

Both train the same model from the same initial weights with the same settings and are timed end
to end (all epochs plus the test-set evaluation after each). Usage::

    LENET_DATA_DIR=/path/to/datasets python benchmarks/bench_train.py --epochs 10

On a shared machine, compare the load averages printed beside each phase.
"""

import argparse
import contextlib
import io
import os
import platform
import time
import warnings

import torch
import torchvision

from lenet_utils import data
from lenet_utils.device import check_device, describe
from lenet_utils.lenet import lenet_d2l
from lenet_utils.sources import find_data
from lenet_utils.plain_loop import train_ch6_textbook
from lenet_utils.train import train_ch6

# ---------------------------------------------------------------- the comparison


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_textbook(args, device, root):
    """d2l's data pipeline and loop; returns the measured figures."""
    t0 = time.perf_counter()
    train_iter, test_iter = data.textbook_loaders("fashion-mnist", args.batch_size, root=root,
                                                  num_workers=args.workers, verbose=False)
    setup = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    net = lenet_d2l()
    torch.manual_seed(args.seed + 1)  # the same Xavier draws as ours below
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its own summary lines; we print a table
        result = train_ch6_textbook(net, train_iter, test_iter, args.epochs, args.lr, device)
    sync(device)
    return dict(setup=setup, wall=time.perf_counter() - t0, loss=result["train_loss"],
                train_acc=result["train_acc"], test_acc=result["test_acc"],
                d2l_speed=result["examples_per_sec"], n=args.epochs * len(train_iter.dataset))


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
    torch.manual_seed(args.seed + 1)
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

    device = check_device(args.device)
    source = find_data("fashion-mnist", strict=True)  # the full set, never the bundled sample
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
