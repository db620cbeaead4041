"""Ship finished results with the course, so that a fresh clone loads them instead of training.

    python scripts/ship_results.py data/results/ladder-0123456789ab data/results/LeNet-5\\ run-...
    LENET_DATA_DIR=/path/to/full/data python scripts/ship_results.py --restamp lenet_utils/results/ladder-...

Shipping: each folder must be a whole result that ``lenet_utils.store.stored`` saved (run chapter 6
to the end in full mode first). Only the files its ``meta.json`` lists are copied, into
``lenet_utils/results/`` under a key made of the settings and the data's kind and size, with the
fingerprints of the package code and the tensors that made it; commit that folder. Prints where
each went and its size.

Restamping (``--restamp``), after an edit of code the shipped runs reach that changes none of their
figures: for each shipped folder, retrain with today's code, on the data and with the settings its
``meta.json`` holds, the first epoch of the first seed of every rung on every data set (the ladder)
or the first epoch (the LeNet-5 run), on one thread as they were trained; only when every figure of
those epochs equals the stored history (accuracies, learning rates and counts exactly, losses, sums
of float32 values, to 6 digits) does it write today's fingerprints into the folder's
``meta.json``. Otherwise it refuses, showing the first figure that differs, and changes nothing.
Run it on the machine type that trained the result (a ladder's ``runs.json`` names it): with ReLU and
Adam, another CPU's last-bit differences give other accuracies within the first epoch.
"""

import argparse
import contextlib
import inspect
import io
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

from lenet_utils import ladder as ladder_module
from lenet_utils import paper as paper_module
from lenet_utils.data import load_data
from lenet_utils.device import hardware_summary
from lenet_utils.history import History
from lenet_utils.ladder import LadderResult, Rung, run_ladder
from lenet_utils.paper import load_paper_run, paper_scaled, train_lenet5_paper
from lenet_utils.quick_mode import is_quick
from lenet_utils.store import META, ship, stamp_shipped


@contextlib.contextmanager
def first_epoch_only(module: ModuleType):
    """Within the block, every ``train_ch6`` that ``module`` calls stops after its first epoch
    (status 'stopped'), with the schedule of the whole run."""
    real = module.train_ch6
    hook = "hook" if "hook" in inspect.signature(real).parameters else "callback"

    def train_ch6(*args, **kwargs):
        return real(*args, **{**kwargs, hook: lambda history, *net: history.num_epochs >= 1})

    module.train_ch6 = train_ch6
    try:
        yield
    finally:
        module.train_ch6 = real


#: Relative difference allowed in a loss: it is a sum of float32 values, exact to about 7 digits
#: (its last bit moves with the order of the sum); every other figure must be equal.
LOSS_DIGITS = 1e-6


def first_epoch(history: History) -> dict:
    """A history's first epoch: its metrics, learning rate and checkpoints, as JSON keeps them."""
    h = json.loads(json.dumps(history.to_dict()))
    return {**{k: h[k][:1] for k in ("train_loss", "train_acc", "test_acc", "lr")},
            "points": [p for p in h["points"] if p["epoch"] <= 1]}


def first_difference(again: History, stored: History) -> str | None:
    """The first figure of the first epoch in which ``again`` differs from ``stored`` (losses to
    :data:`LOSS_DIGITS`, the rest exactly), as 'what: here vs stored'; None when none does."""
    mine, theirs = first_epoch(again), first_epoch(stored)
    pairs = [(k, mine[k], theirs[k]) for k in ("train_loss", "train_acc", "test_acc", "lr")]
    if len(mine["points"]) != len(theirs["points"]):
        return f"{len(mine['points'])} checkpoints vs {len(theirs['points'])}"
    for n, (p, q) in enumerate(zip(mine["points"], theirs["points"]), start=1):
        pairs += [(f"checkpoint {n} {k}", [p[k]], [q[k]]) for k in p]
    for what, a, b in pairs:
        loose = what.endswith("train_loss")
        if len(a) != len(b) or any(
                not (x == y or (loose and isinstance(x, float) and isinstance(y, float)
                                and math.isclose(x, y, rel_tol=LOSS_DIGITS))) for x, y in zip(a, b)):
            return f"{what}: {a} here vs {b} stored"
    return None


def quietly(run: Callable):
    with contextlib.redirect_stdout(io.StringIO()):
        return run()


def ladder_recipe(folder: Path, settings: dict) -> tuple[Callable, Callable[[], list[str]]]:
    """Chapter 6's ladder run, built as its cells build it from ``settings``, and its check."""
    device = torch.device(settings["device"])
    rungs = [Rung(**r) for r in settings["rungs"]]
    seeds, num_epochs = tuple(settings["seeds"]), settings["num_epochs"]
    data = {name: paper_scaled(*load_data(name, settings["batch_size"], device=device, verbose=False))
            for name in settings["data"]}
    counts = {d: [tr.num_examples, te.num_examples] for d, (tr, te) in data.items()}
    if counts != settings["data"]:
        raise SystemExit(f"{folder}: the data here has {counts} images where the ladder trained on "
                         f"{settings['data']}: set LENET_DATA_DIR to the full data and unset LENET_QUICK.")
    run = lambda: run_ladder(rungs, data, seeds, num_epochs, device)  # noqa: E731 - chapter 6's cell

    def check() -> list[str]:
        stored = {(r.rung.name, r.dataset, r.seed): r.history for r in LadderResult.load(folder).runs}
        differ = []
        with first_epoch_only(ladder_module):
            for dataset in data:
                for rung in rungs:
                    start = time.perf_counter()
                    again = quietly(lambda: run_ladder([rung], {dataset: data[dataset]}, seeds[:1],
                                                       num_epochs, device, verbose=False))
                    differs = first_difference(again.runs[0].history, stored[(rung.name, dataset, seeds[0])])
                    print(f"  {dataset} | {rung.name} | seed {seeds[0]}: first epoch "
                          f"{'identical' if not differs else 'DIFFERENT, ' + differs} "
                          f"({time.perf_counter() - start:.0f} s)")
                    if differs:
                        differ.append(f"{dataset}, {rung.name}, seed {seeds[0]}")
        return differ

    return run, check


def lenet5_recipe(folder: Path, settings: dict) -> tuple[Callable, Callable[[], list[str]]]:
    """Chapter 6's LeNet-5 run, built as its cell builds it from ``settings``, and its check."""
    if settings["quick"] != is_quick():
        raise SystemExit(f"{folder} was trained with quick mode {'on' if settings['quick'] else 'off'}: "
                         f"{'set' if settings['quick'] else 'unset'} LENET_QUICK and run this again.")
    device, num_epochs = torch.device(settings["device"]), settings["num_epochs"]
    run = lambda: train_lenet5_paper(num_epochs=num_epochs, batch_size=settings["batch_size"],  # noqa: E731
                                     device=device)

    def check() -> list[str]:
        start = time.perf_counter()
        with first_epoch_only(paper_module):
            again = quietly(run)
        differs = first_difference(again["history"], load_paper_run(folder)["history"])
        print(f"  LeNet-5: first epoch {'identical' if not differs else 'DIFFERENT, ' + differs} "
              f"({time.perf_counter() - start:.0f} s)")
        return [differs] if differs else []

    return run, check


#: How chapter 6 builds the run of each shipped result, by the name it stores it under.
RECIPES = {"ladder": ladder_recipe, "LeNet-5 run": lenet5_recipe}


def restamp(folder: "str | Path", threads: int = 1) -> Path:
    """Check that today's code reproduces the shipped result in ``folder`` (see the module
    docstring), then stamp it with today's fingerprints; SystemExit with the reason otherwise."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text())
        settings, recipe = meta["settings"], RECIPES[meta["name"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"{folder} is not a shipped result this script can check ({type(err).__name__}: "
                         f"{err}); it knows {', '.join(RECIPES)}.") from None
    run, check = recipe(folder, settings)
    start, before = time.perf_counter(), torch.get_num_threads()
    print(f"{folder}: retraining its first epochs with today's code on {threads} thread(s) ...")
    torch.set_num_threads(threads)  # as the shipped runs trained; given back below
    try:
        differ = check()
    finally:
        torch.set_num_threads(before)
    if differ:
        trained = settings.get("hardware", "another machine")
        raise SystemExit(
            f"{folder}: today's code does not reproduce it ({'; '.join(differ)} differ from the stored "
            f"history), so it keeps its old stamp. It trained on {trained}; this is {hardware_summary('cpu')}. "
            f"Adam turns a CPU's last-bit differences into other weights within an epoch, so run this on "
            f"the machine type that trained it, or train it again in chapter 6 (full mode, "
            f"RETRAIN = True) and ship the new folder.")
    try:
        stamp_shipped(folder, settings, run)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    print(f"{folder}: reproduced in {time.perf_counter() - start:.0f} s; stamped with today's code.")
    return folder


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], usage=__doc__.split("\n\n")[1])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--restamp", action="store_true", help="check shipped folders and stamp them")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for --restamp (default 1)")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if args.restamp:
            restamp(folder, args.threads)
            continue
        try:
            target = ship(folder)
        except ValueError as err:
            raise SystemExit(str(err)) from None
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"{folder} -> {target} ({size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
