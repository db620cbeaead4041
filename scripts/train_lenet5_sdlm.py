"""Train the runs notebook 13 ships: LeNet-5 the paper's way (SDLM, one example at a time), several
seeds side by side, stored as the notebook stores them (then ``scripts/ship_results.py`` ships them).

    LENET_DATA_DIR=../shared/datasets OMP_NUM_THREADS=1 python scripts/train_lenet5_sdlm.py --distort
    ... --mu 0.02     the first two passes with another mu (the short run behind mu = 0.5)
    ... --enlarged    the first pass on 12,000 images: ten distorted copies of each (the paper's
                      enlarged set) against one (ours)
"""
import argparse
import sys

import torch

from lenet_utils.lenet5_stack import sdlm_runs
from lenet_utils.sdlm_results import enlarged_settings, load_runs, mu_trial_settings, save_runs, SHIPPED_SETTINGS
from lenet_utils.store import stored

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--distort", action="store_true", help="the paper's distortions (default: none)")
parser.add_argument("--mu", type=float, help="a short run of two passes with this mu")
parser.add_argument("--enlarged", action="store_true", help="short runs: one pass over ten distorted copies, and over one")
args = parser.parse_args()
torch.set_num_threads(1)
if args.mu is not None:
    jobs = [("LeNet-5 SDLM mu trial", mu_trial_settings(args.mu))]
elif args.enlarged:
    jobs = [("LeNet-5 SDLM enlarged pass", enlarged_settings(copies)) for copies in (10, 1)]
else:
    jobs = [("LeNet-5 SDLM", {**SHIPPED_SETTINGS, "distort": args.distort})]
results = [stored(name, settings, lambda: sdlm_runs(**settings), save_runs, load_runs) for name, settings in jobs]
sys.exit(0 if all(result["complete"] for result in results) else 1)
