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
Adam, another CPU's last-bit differences give other accuracies within the first epoch. Elsewhere,
``--against COMMIT`` compares today's code with the code of the commit that trained the result, both
trained on this machine (that commit's ``lenet_utils`` unpacked into a temporary folder).
"""

import argparse
import contextlib
import inspect
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

# lenet_utils is imported inside the functions: `--first-epochs` also runs under an older commit's code.
ROOT = Path(__file__).resolve().parents[1]
META = "meta.json"


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


def first_epoch(history) -> dict:
    """A History's first epoch: its metrics, learning rate and checkpoints, as JSON keeps them."""
    h = json.loads(json.dumps(history.to_dict()))
    return {**{k: h[k][:1] for k in ("train_loss", "train_acc", "test_acc", "lr")},
            "points": [p for p in h["points"] if p["epoch"] <= 1]}


def first_difference(mine: dict, theirs: dict) -> str | None:
    """The first figure in which two :func:`first_epoch` dicts differ (losses to
    :data:`LOSS_DIGITS`, the rest exactly), as 'what: here vs there'; None when none does."""
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
            return f"{what}: {a} here vs {b}"
    return None


def quietly(run: Callable):
    with contextlib.redirect_stdout(io.StringIO()):
        return run()


def ladder_recipe(settings: dict):
    """Chapter 6's ladder run, built as its cells build it from ``settings``; its first-epoch jobs
    (label -> History maker) and the module whose ``train_ch6`` they call."""
    from lenet_utils import ladder as ladder_module
    from lenet_utils.data import load_data
    from lenet_utils.ladder import Rung, run_ladder
    from lenet_utils.lenet5_run import paper_scaled
    device = torch.device(settings["device"])
    rungs = [Rung(**r) for r in settings["rungs"]]
    seeds, num_epochs = tuple(settings["seeds"]), settings["num_epochs"]
    data = {name: paper_scaled(*load_data(name, settings["batch_size"], device=device, verbose=False))
            for name in settings["data"]}
    counts = {d: [tr.num_examples, te.num_examples] for d, (tr, te) in data.items()}
    if counts != settings["data"]:
        raise SystemExit(f"The data here has {counts} images where the ladder trained on {settings['data']}: "
                         f"set LENET_DATA_DIR to the full data and unset LENET_QUICK.")
    run = lambda: run_ladder(rungs, data, seeds, num_epochs, device)  # noqa: E731 - chapter 6's cell
    jobs = {f"{d}, {rung.name}, seed {seeds[0]}":
            (lambda d=d, rung=rung: run_ladder([rung], {d: data[d]}, seeds[:1], num_epochs, device,
                                               verbose=False).runs[0].history)
            for d in data for rung in rungs}
    return run, jobs, ladder_module


def lenet5_recipe(settings: dict):
    """Chapter 6's LeNet-5 run, built as its cell builds it from ``settings``; its first-epoch job
    and the module whose ``train_ch6`` it calls."""
    import lenet_utils
    from lenet_utils import lenet5_run as paper_module
    from lenet_utils.lenet5_run import train_lenet5_paper
    if settings["quick"] != lenet_utils.is_quick():
        raise SystemExit(f"The LeNet-5 run was trained with quick mode {'on' if settings['quick'] else 'off'}: "
                         f"{'set' if settings['quick'] else 'unset'} LENET_QUICK and run this again.")
    device, num_epochs = torch.device(settings["device"]), settings["num_epochs"]
    run = lambda: train_lenet5_paper(num_epochs=num_epochs, batch_size=settings["batch_size"],  # noqa: E731
                                     device=device)
    return run, {"LeNet-5": lambda: run()["history"]}, paper_module


#: How chapter 6 builds the run of each shipped result, by the name it stores it under.
RECIPES = {"ladder": ladder_recipe, "LeNet-5 run": lenet5_recipe}


def stored_first_epochs(folder: Path, name: str) -> dict[str, dict]:
    """The first epochs that a shipped folder holds, by the labels of its recipe's jobs."""
    from lenet_utils.ladder import LadderResult
    from lenet_utils.lenet5_run import load_paper_run
    if name == "LeNet-5 run":
        return {"LeNet-5": first_epoch(load_paper_run(folder)["history"])}
    return {f"{r.dataset}, {r.rung.name}, seed {r.seed}": first_epoch(r.history)
            for r in LadderResult.load(folder).runs}


def first_epochs(jobs: dict, module: ModuleType, threads: int) -> dict[str, dict]:
    """Each job's first epoch (label -> :func:`first_epoch`) on ``threads`` threads, printing its time."""
    before, out = torch.get_num_threads(), {}
    torch.set_num_threads(threads)  # as the shipped runs trained; given back below
    try:
        with first_epoch_only(module):
            for label, job in jobs.items():
                start = time.perf_counter()
                out[label] = first_epoch(quietly(job))
                print(f"  {label}: first epoch in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    finally:
        torch.set_num_threads(before)
    return out


def reference_first_epochs(folder: Path, commit: str, threads: int) -> dict[str, dict]:
    """The first epochs as the package of ``commit`` trains them here (its ``lenet_utils`` unpacked
    into a temporary folder, this script run on it with ``--first-epochs``)."""
    with tempfile.TemporaryDirectory(prefix="lenet-reference-") as code:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "lenet_utils"],
                                 capture_output=True, check=False)
        if archive.returncode:
            raise SystemExit(f"--against {commit}: git archive failed ({archive.stderr.decode().strip()}).")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(code, filter="data")
        env = {**os.environ, "PYTHONPATH": code}
        done = subprocess.run([sys.executable, __file__, "--first-epochs", str(folder.resolve()),
                               "--threads", str(threads)], cwd=code, env=env, stdout=subprocess.PIPE, check=False)
        if done.returncode:
            raise SystemExit(f"--against {commit}: its code could not train the first epochs (see above).")
        return json.loads(done.stdout.splitlines()[-1])


def restamp(folder: "str | Path", threads: int = 1, against: str | None = None) -> Path:
    """Check that today's code reproduces the shipped result in ``folder`` (see the module
    docstring), then stamp it with today's fingerprints; SystemExit with the reason otherwise."""
    from lenet_utils.device import hardware_summary
    from lenet_utils.store import stamp_shipped
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text())
        settings, recipe = meta["settings"], RECIPES[meta["name"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"{folder} is not a shipped result this script can check ({type(err).__name__}: "
                         f"{err}); it knows {', '.join(RECIPES)}.") from None
    start = time.perf_counter()
    run, jobs, module = recipe(settings)
    print(f"{folder}: retraining {len(jobs)} first epoch(s) with today's code on {threads} thread(s) ...")
    mine = first_epochs(jobs, module, threads)
    if against:
        print(f"... and with the code of {against}, on this machine:")
        theirs, where = reference_first_epochs(folder, against, threads), f"what {against}'s code trains here"
    else:
        theirs, where = stored_first_epochs(folder, meta["name"]), "the stored history"
    differ = [f"{label}: {why}" for label in mine
              if (why := f"not in {where}" if label not in theirs else first_difference(mine[label], theirs[label]))]
    for label in mine:
        print(f"  {label}: {'identical' if not any(d.startswith(label + ':') for d in differ) else 'DIFFERENT'}")
    if differ:
        trained = settings.get("hardware", "another machine")
        raise SystemExit(
            f"{folder}: today's code does not reproduce {where} ({'; '.join(differ)}), so it keeps its "
            f"old stamp. It trained on {trained}; this is {hardware_summary('cpu')}: with ReLU and Adam "
            f"another CPU's last-bit differences give other weights within an epoch. Run this on the "
            f"machine type that trained it, or with --against <the commit that trained it> (both codes "
            f"on this machine), or train it again in chapter 6 (full mode, RETRAIN = True) and ship it.")
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
    parser.add_argument("--against", metavar="COMMIT",
                        help="with --restamp: compare with what COMMIT's code trains on this machine")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for --restamp (default 1)")
    parser.add_argument("--first-epochs", action="store_true", help=argparse.SUPPRESS)  # for --against
    args = parser.parse_args(argv)
    for folder in args.folders:
        if args.first_epochs:
            meta = json.loads((Path(folder) / META).read_text())
            _, jobs, module = quietly(lambda: RECIPES[meta["name"]](meta["settings"]))
            print(json.dumps(first_epochs(jobs, module, args.threads)))  # the last line, read by --against
        elif args.restamp:
            restamp(folder, args.threads, args.against)
        else:
            from lenet_utils.store import ship
            try:
                target = ship(folder)
            except ValueError as err:
                raise SystemExit(str(err)) from None
            size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
            print(f"{folder} -> {target} ({size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
