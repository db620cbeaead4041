"""Chapter 5's learning-rate sweep, timed: a grid of LeNets trained one after another by ``run_sweep``.

The grid: ``--models`` LeNets (with ReLU by default, so that a single epoch already separates good
learning rates from bad ones), one learning rate each (log-spaced from 0.01 to 3, so the largest
ones diverge), all from the same seed (the same initial weights and the same batches in the same
order), on Fashion-MNIST. Each run is ``lenet_utils.train_ch6`` (with its CUDA graph on a GPU).
The sweep is timed end to end (training and the test evaluation after each epoch) after a short
warm-up run that takes the first-call costs (cuDNN set-up, graph capture) out of the timing; the
table shows each run's result. Usage::

    LENET_DATA_DIR=/path/to/datasets python benchmarks/bench_sweep.py   # GPU: 32 models, full set
    python benchmarks/bench_sweep.py --device cpu                         # CPU: 8 models, 2,000 images

On a shared machine, compare the load averages printed before and after the sweep.
"""

import argparse
import os
import time

import torch

from lenet_utils import data
from lenet_utils.device import check_device, describe, hardware_summary
from lenet_utils.sweep import run_sweep
from lenet_utils.sweep_grids import make_grid


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=None, help="default: 32 on a GPU, 8 on the CPU")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--activation", default="relu", help="sigmoid for d2l's original LeNet")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--train-size", type=int, default=None,
                        help="class-balanced training subset (default: all on a GPU, 2,000 on the CPU)")
    parser.add_argument("--test-size", type=int, default=None,
                        help="test subset (default: all on a GPU, 1,000 on the CPU)")
    parser.add_argument("--device", default=None,
                        help="cpu or cuda[:i]; default: the first GPU, else the CPU")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    device = check_device(args.device)
    on_gpu = device.type == "cuda"
    models = args.models or (32 if on_gpu else 8)
    train_size = args.train_size or (None if on_gpu else 2000)
    test_size = args.test_size or (None if on_gpu else 1000)
    train_iter, test_iter = data.load_data("fashion-mnist", args.batch_size, device=device,
                                           train_size=train_size, test_size=test_size,
                                           seed=args.seed)
    print(f"Hardware: {hardware_summary(device)}")
    print(f"Task: {models} {args.activation} LeNets (lr 0.01 ... 3), {args.epochs} epoch(s), batch "
          f"{args.batch_size}, {train_iter.num_examples:,} training / {test_iter.num_examples:,} "
          f"test images\n")

    lrs = torch.logspace(-2, 0.5, models).tolist() if models > 1 else [0.1]
    grid = make_grid(lr=lrs, activation=args.activation, num_epochs=args.epochs,
                     batch_size=args.batch_size, seed=args.seed)
    warm = data.TensorLoader(train_iter.X[:4 * args.batch_size], train_iter.y[:4 * args.batch_size],
                             args.batch_size, device=device, seed=args.seed)
    run_sweep(warm, test_iter, grid[:1], verbose=False)

    print(f"sweep ... ({load()})", flush=True)
    sync(device)
    start = time.perf_counter()
    result = run_sweep(train_iter, test_iter, grid, verbose=False)
    sync(device)
    seconds = time.perf_counter() - start
    print(f"  done ({load()})\n")
    print(result)
    examples = sum(h.points[-1].examples for h in result.histories if h.points)
    diverged = sum(row["status"] == "diverged" for row in result.rows)
    print(f"\n{models} models one after another on {describe(device)}: {seconds:.1f} s, "
          f"{examples / seconds:,.0f} examples/sec summed over models (training and evaluation); "
          f"{diverged} diverged; best test acc {result.best()['test_acc']:.3f}.")


if __name__ == "__main__":
    main()
