"""A grid of LeNets trained one after another versus all at once (``vmap``), both in one run.

The grid: ``--models`` copies of d2l's LeNet (with ReLU by default, so that a single epoch already
separates good learning rates from bad ones and the accuracy check below means something), the same
initial weights, one learning rate each (log-spaced from 0.01 to 3, so the largest ones diverge),
the same batches in the same order, Fashion-MNIST. Sequential
is ``train_many(..., parallel=False)``: ``lenet_utils.train_ch6`` once per model (with its CUDA
graph on a GPU). All at once is ``train_many(..., parallel=True)``: the models' parameters stacked
inside each step, one vmap-ed forward/backward per batch, one ``torch.optim`` step with a param
group per model (also captured as a CUDA graph on a GPU). Both follow the engine's divergence rule.
Both are timed end to end (training and the test evaluation after each epoch) after a short warm-up
of each path, and their final test accuracies and statuses are compared model by model. Usage::

    LENET_DATA_DIR=/path/to/datasets python benchmarks/bench_sweep.py   # GPU: 32 models, full set
    python benchmarks/bench_sweep.py --device cpu                         # CPU: 8 models, 2,000 images

Target: at least 10x more examples/sec (summed over models) all at once than one after another
for 32 models on an H100. On a shared machine, compare the load averages printed beside each phase.
"""

import argparse
import os

import torch

from lenet_utils import data
from lenet_utils.device import check_device, describe, hardware_summary
from lenet_utils.models import make_lenet
from lenet_utils.many import train_many


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def nets_and_lrs(n, seed, activation):
    lrs = torch.logspace(-2, 0.5, n).tolist() if n > 1 else [0.1]
    nets = []
    for _ in lrs:
        torch.manual_seed(seed)
        nets.append(make_lenet(activation))
    return nets, lrs


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

    warm = data.TensorLoader(train_iter.X[:4 * args.batch_size], train_iter.y[:4 * args.batch_size],
                             args.batch_size, device=device, seed=args.seed)
    for parallel in (False, True):  # first-call costs (cuDNN set-up, graph capture) out of the timing
        train_many(*nets_and_lrs(2, args.seed, args.activation), warm, test_iter, 1, device,
                   parallel=parallel)

    results = {}
    for name, parallel in (("one after another", False), ("all at once", True)):
        print(f"{name} ... ({load()})", flush=True)
        nets, lrs = nets_and_lrs(models, args.seed, args.activation)
        runs = train_many(nets, lrs, train_iter, test_iter, args.epochs, device,
                          seed=args.seed, parallel=parallel)
        results[name] = runs
        note = f" ({runs.reason})" if runs.reason else ""
        print(f"  done: {runs.trainer}{note} ({load()})", flush=True)

    print(f"\n{'trainer':<18} {'wall s':>8} {'examples/s (sum)':>17} {'best test acc':>14} "
          f"{'diverged':>9}")
    for name, r in results.items():
        accs = [h.final_test_acc for h in r.histories if h.num_epochs]
        diverged = sum(h.status == "diverged" for h in r.histories)
        best = max(accs, default=float("nan"))
        print(f"{name:<18} {r.seconds:8.1f} {r.examples_per_sec:17,.0f} {best:14.3f} {diverged:9d}")
    seq, par = results["one after another"], results["all at once"]
    pairs = [(a.final_test_acc, b.final_test_acc) for a, b in zip(seq.histories, par.histories)
             if a.num_epochs and b.num_epochs]
    gap = max((abs(a - b) for a, b in pairs), default=float("nan"))
    differ = [(a.label, a.status, b.status) for a, b in zip(seq.histories, par.histories)
              if a.status != b.status]
    print(f"\nSpeed-up all at once over one after another, {models} models on {describe(device)}: "
          f"{par.examples_per_sec / seq.examples_per_sec:.1f}x (examples/sec summed over models).")
    print(f"Largest per-model difference in final test accuracy: {gap:.4f}; models that ended "
          f"differently (completed/diverged): {len(differ)}.")
    for label, a, b in differ:
        print(f"  {label}: {a} one after another, {b} all at once (a learning rate at the edge of "
              f"divergence: rounding decides)")


if __name__ == "__main__":
    main()
