"""One Optuna study shared by several worker processes: each worker runs trials of notebook 11's
:func:`~lenet_utils.search.objective` from a storage they all open (a journal file, or a database
URL on a cluster); :func:`run_workers` starts them from Python and waits. A worker on its own::

    python -m lenet_utils.search_worker --storage study.log --study lenet --trials 8 --worker A
"""

import argparse
import re
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import optuna
import torch

from .checks import learning_rate_range, whole_number
from .search import SEARCH_SPACE, objective
from .search_comparison import quiet_optuna
from .splits import load_split

__all__ = ["open_storage", "worker_command", "work", "run_workers", "main"]


def open_storage(where: str) -> "str | optuna.storages.BaseStorage":
    """An Optuna storage: a database URL (``sqlite:///study.db``, ``postgresql://user@host/db``)
    as it is, anything else as the path of a journal file that processes share (its folder must
    exist and be writable); a ValueError that says what to give otherwise."""
    where = str(where)
    if "://" in where:
        return where
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):/*", where)  # two letters at least: C:\ is a path
    if scheme:
        raise ValueError(f"storage={where!r} looks like a database URL without '//': write "
                         f"{scheme[1]}:///{where[scheme.end():]} (a file, relative to the working "
                         f"folder; four slashes for an absolute path), or give a journal file's path.")
    try:
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(where))
    except OSError as err:
        raise ValueError(f"storage={where!r} cannot be used as a journal file: "
                         f"{(err.strerror or str(err)).lower()} ({err.filename or where}). Give the path "
                         f"of a file in a folder that exists and that you can write to, such as "
                         f"'study.log' (create the folder first if need be).") from None


def worker_command(storage: str, study: str, trials: int, worker: str, num_epochs: int,
                   train_size: int, val_size: int, root: "str | Path | None" = None) -> list[str]:
    """The command line that starts one worker process (see :func:`work`)."""
    command = [sys.executable, "-m", "lenet_utils.search_worker", "--storage", str(storage), "--study",
               study, "--trials", str(trials), "--worker", worker, "--epochs", str(num_epochs),
               "--train-size", str(train_size), "--val-size", str(val_size)]
    return command + (["--root", str(root)] if root is not None else [])


def work(storage: str, study: str, trials: int, worker: str, num_epochs: int, train_size: int,
         val_size: int, root: "str | Path | None" = None, seed: int = 0, threads: int = 1) -> int:
    """Run ``trials`` trials of the shared ``study`` (created beforehand) in ``storage`` with
    :func:`objective`, each tagged with the user attribute ``worker``; return how many ran.
    The sampler draws from a seed of its own per worker name, so workers do not propose the
    same settings; every run trains with ``seed`` (same initial weights, as everywhere). It prints
    a line as each trial starts and ends, flushed, so that its log shows where it stopped."""
    learning_rate_range(SEARCH_SPACE["lr"], "SEARCH_SPACE['lr']")
    torch.set_num_threads(threads)  # one thread per worker: two workers share two cores
    data = load_split(train_size, val_size, test_size=10, root=root, verbose=False)  # never tests
    with quiet_optuna():
        shared = optuna.load_study(
            study_name=study, storage=open_storage(storage),
            sampler=optuna.samplers.TPESampler(n_startup_trials=5,
                                               seed=zlib.crc32(worker.encode())),
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))

        def tagged(trial: optuna.Trial) -> float:
            trial.set_user_attr("worker", worker)
            print(f"worker {worker}: trial {trial.number} started", flush=True)
            return objective(trial, data, num_epochs, seed)

        def ended(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            print(f"worker {worker}: trial {trial.number} {trial.state.name.lower()} "
                  f"({len(trial.intermediate_values)} epoch(s))", flush=True)

        try:
            shared.optimize(tagged, n_trials=trials, callbacks=[ended])
        except KeyboardInterrupt:
            print(f"worker {worker}: stopped; its trial in progress is marked failed", flush=True)
            raise
    return trials


def run_workers(storage: str, study: str, workers: Sequence[str], trials: int, num_epochs: int,
                train_size: int, val_size: int, root: "str | Path | None" = None) -> float:
    """Create ``study`` in ``storage`` (or find it there, made by run_workers with the same
    direction and settings), start one worker process per name with :func:`worker_command`, wait
    for all; return the seconds until the last finished. A worker that fails raises with the end
    of its output (kept in ``<worker>.log`` next to a journal file, in the working folder for a
    database URL), once the other workers are stopped and no trial is left running."""
    if (isinstance(workers, str) or not workers or len(set(workers)) != len(workers)
            or not all(isinstance(name, str) and name for name in workers)):
        raise ValueError(f"workers={workers!r} is not valid: name each worker once, e.g. ['A', 'B'].")
    settings = {"num_epochs": whole_number("num_epochs", num_epochs),
                "train_size": whole_number("train_size", train_size),
                "val_size": whole_number("val_size", val_size)}
    whole_number("trials", trials)
    where = open_storage(storage)
    with quiet_optuna():
        shared = optuna.create_study(study_name=study, storage=where, direction="maximize",
                                     load_if_exists=True)
    found = f"Study {study!r} in {storage}"
    if shared.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        ways = " and ".join(d.name.lower() for d in shared.directions)
        raise ValueError(f"{found} {ways}s its objective: these workers maximize the validation "
                         f"accuracy. Give another study name, or another storage.")
    made_with = shared.user_attrs.get("run_workers")
    if made_with is None and shared.trials:
        raise ValueError(f"{found} holds {len(shared.trials)} trial(s) made without run_workers, with "
                         f"settings it cannot check. Give another study name, or another storage.")
    if made_with is None:
        shared.set_user_attr("run_workers", settings)
    elif made_with != settings:
        def words(given: dict) -> str:
            return ", ".join(f"{key}={value}" for key, value in given.items())
        raise ValueError(f"{found} was made with {words(made_with)}; these workers have "
                         f"{words(settings)}: their trials would not compare. Give another study "
                         f"name, or the same settings.")
    logs = Path(storage).parent if "://" not in str(storage) else Path.cwd()
    started, procs = time.perf_counter(), {}
    failed, stopped = None, []
    try:
        for name in workers:
            with open(logs / f"{name}.log", "w") as out:  # the child keeps its own handle
                procs[name] = subprocess.Popen(worker_command(storage, study, trials, name, num_epochs,
                                                              train_size, val_size, root),
                                               stdout=out, stderr=subprocess.STDOUT)
        while failed is None and any(proc.poll() is None for proc in procs.values()):
            time.sleep(0.2)
            failed = next((name for name, proc in procs.items() if proc.poll()), None)
        failed = failed or next((name for name, proc in procs.items() if proc.returncode), None)
    finally:  # a failed worker or an interrupted wait leaves no worker running, no trial RUNNING
        stopped = [name for name, proc in procs.items() if proc.poll() is None]
        for name in stopped:
            procs[name].terminate()  # the worker marks its trial failed and ends
        for name in stopped:
            try:
                procs[name].wait(timeout=60)
            except subprocess.TimeoutExpired:
                procs[name].kill()
                procs[name].wait()
        left = [t for t in shared.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                if t.user_attrs.get("worker") in procs]
        if left:  # trials of workers that died (killed) without a word to the study
            backend = optuna.storages.get_storage(where)
            study_id = backend.get_study_id_from_name(study)
            for t in left:
                backend.set_trial_state_values(
                    backend.get_trial_id_from_study_id_trial_number(study_id, t.number),
                    optuna.trial.TrialState.FAIL)
    if failed is not None:
        code = procs[failed].returncode
        how = f"{code}: killed by {signal.Signals(-code).name}" if code < 0 else str(code)
        tail = (logs / f"{failed}.log").read_text()[-3000:].rstrip() or "(nothing: it failed before writing a line)"
        also = (f"\nStopped worker {', '.join(stopped)} (its trial in progress marked failed)." if stopped else "")
        also += (f"\nTrial(s) {', '.join(str(t.number) for t in left)} left running by the dead worker "
                 f"are marked failed." if left else "")
        raise RuntimeError(f"Worker {failed} failed (exit code {how}); the end of its output "
                           f"({logs / f'{failed}.log'}):\n{tail}{also}")
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lenet_utils.search_worker``: one worker of a shared study (see :func:`work`)."""
    parser = argparse.ArgumentParser(prog="python -m lenet_utils.search_worker",
                                     description="Run trials of a shared Optuna study of LeNet "
                                                 "settings (notebook 11) as one worker.")
    parser.add_argument("--storage", required=True,
                        help="a journal file path, or a database URL such as "
                             "postgresql://user@host/db")
    parser.add_argument("--study", required=True,
                        help="the study's name (the same on every worker)")
    parser.add_argument("--trials", type=int, required=True, help="trials this worker runs")
    parser.add_argument("--worker", required=True, help="this worker's name, kept with its trials")
    parser.add_argument("--epochs", type=int, default=5,
                        help="epochs of a run the pruner lets finish")
    parser.add_argument("--train-size", type=int, default=5000, help="training images")
    parser.add_argument("--val-size", type=int, default=1000, help="validation images")
    parser.add_argument("--root", default=None, help="the data folder (default: the usual search)")
    parser.add_argument("--seed", type=int, default=0, help="the training seed of every run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this worker")
    args = parser.parse_args(argv)

    def stopped(signum, frame):  # run_workers stops a worker with SIGTERM: Optuna fails its trial
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stopped)
    ran = work(args.storage, args.study, whole_number("trials", args.trials), args.worker,
               whole_number("epochs", args.epochs), whole_number("train-size", args.train_size),
               whole_number("val-size", args.val_size), args.root, args.seed,
               whole_number("threads", args.threads))
    print(f"worker {args.worker}: ran {ran} trial(s) of study {args.study!r}")


if __name__ == "__main__":
    main()
