"""LeNet-5 trained the paper's way (notebook 13): one-example SDLM updates per second.

Times notebook 13's loop (``train_lenet5_sdlm``: one network, one example per update) and the
side-by-side stepper the shipped runs used (``train_side_by_side``: K networks, each still on its own
example) over one pass of ``--examples`` MNIST images, and prints updates per second, the ratio to
the notebook's loop, and the minutes 20 passes over 60,000 images (the paper's 1.2 million updates
per network) would take. One torch thread, as the shipped runs had. Usage::

    LENET_DATA_DIR=../shared/datasets python benchmarks/bench_sdlm.py --examples 3000 --stack 1 3 5
"""

import argparse
import os
import platform

import torch

from lenet_utils.data import load_tensors, to_float_images
from lenet_utils.lenet import LeNet5
from lenet_utils.lenet5_stack import train_side_by_side
from lenet_utils.sdlm import PAPER_ETA, train_lenet5_sdlm

PAPER_UPDATES = 20 * 60_000  #: one network's updates in the paper's 20 passes

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--examples", type=int, default=3000, help="training images in the timed pass")
parser.add_argument("--stack", type=int, nargs="+", default=[1, 3, 5], help="networks stepped side by side")
args = parser.parse_args()
if args.examples < 600:
    parser.error("--examples must be at least 600 (the pass's first 500 estimate h_kk)")
torch.set_num_threads(1)
X, y = load_tensors("mnist")
X, y = to_float_images(X[:args.examples], pad=2), y[:args.examples]
X_test, y_test = X[:100], y[:100]  # the test error is not the point here: keep its cost small
print(f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, 1 thread; load average "
      + " ".join(f"{v:.1f}" for v in os.getloadavg()))

torch.manual_seed(0)
loop = train_lenet5_sdlm(LeNet5(output="rbf"), X, y, X_test, y_test, eta=PAPER_ETA[:1], mu=0.5, verbose=False)
base = loop["examples_per_second"]
print(f"{'notebook loop (1 network)':32s} {base:7.0f} updates/s   1.0x   20 paper passes: "
      f"{PAPER_UPDATES / base / 60:5.0f} min per network")
for k in args.stack:
    nets = [LeNet5(output="rbf") for _ in range(k)]
    runs = train_side_by_side(nets, [(seed, False) for seed in range(k)], X, y, X_test, y_test,
                              eta=PAPER_ETA[:1], mu=0.5, verbose=False)
    rate = runs[0]["examples_per_second"]
    networks = f"{k} network{'s' if k > 1 else ''}"
    print(f"{f'side by side ({networks})':32s} {rate:7.0f} updates/s {rate / base:5.1f}x   20 paper passes: "
          f"{PAPER_UPDATES * k / rate / 60:5.0f} min for {networks}")
