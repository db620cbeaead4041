"""Hyperparameter search: the validation split, runs continued rung by rung, the searches and their
costs, the comparison's table and verdict, and one Optuna study shared by two worker processes."""

import math
import random

import matplotlib
import optuna
import pytest
import torch
matplotlib.use("Agg")

from lenet_utils.data import SAMPLE_DIR, load_data  # noqa: E402
from lenet_utils.search import (  # noqa: E402
    METHODS, SEARCH_SPACE, Run, SearchComparison, compare_searches, grid_search, load_split,
    open_storage, optuna_search, plot_best_so_far, quiet_optuna, random_search, run_workers,
    sample_settings, split_validation, study_log, successive_halving,
)
from lenet_utils.sweep import make_grid, run_sweep  # noqa: E402

TRAIN, VAL = 200, 100


@pytest.fixture(scope="module")
def data():
    # Always the bundled sample, so the runs are the same wherever the tests run.
    return load_split(TRAIN, VAL, 100, root=SAMPLE_DIR, verbose=False)


RELU = {"lr": 0.3, "activation": "relu", "batch_size": 64}


def test_validation_split_is_class_balanced_and_kept_out_of_training(data):
    assert data.train.num_examples == TRAIN and data.val.num_examples == VAL
    assert data.val.y.bincount().tolist() == [VAL // 10] * 10
    train = {tuple(x.flatten().tolist()) for x in data.train.X}
    assert not any(tuple(x.flatten().tolist()) in train for x in data.val.X)
    assert data.test.num_examples == 100


def test_a_validation_split_as_large_as_the_training_set_is_refused():
    train_iter, test_iter = load_data("fashion-mnist", 64, train_size=50, test_size=20,
                                      root=SAMPLE_DIR, verbose=False)
    with pytest.raises(ValueError, match="leaves no training examples"):
        split_validation(train_iter, test_iter, 50)


def test_settings_are_drawn_from_the_search_space_with_the_lr_on_a_log_scale():
    rng = random.Random(0)
    draws = [sample_settings(rng) for _ in range(2000)]
    low, high = SEARCH_SPACE["lr"]
    assert all(low <= d["lr"] <= high for d in draws)
    middle = math.sqrt(low * high)  # the middle of the range on a log scale
    assert 0.45 < sum(d["lr"] < middle for d in draws) / len(draws) < 0.55
    assert {d["activation"] for d in draws} == set(SEARCH_SPACE["activation"])
    assert {d["batch_size"] for d in draws} == set(SEARCH_SPACE["batch_size"])


def test_a_run_trained_in_two_calls_trains_exactly_like_one_call(data):
    once, twice = Run(RELU, data, seed=0), Run(RELU, data, seed=0)
    line = once.train(2)
    first, second = twice.train(1), twice.train(1)
    assert twice.val_acc == once.val_acc and len(once.val_acc) == 2
    for a, b in zip(once.net.parameters(), twice.net.parameters()):
        assert torch.equal(a, b)
    assert line["examples"] == 2 * TRAIN and first["examples"] == second["examples"] == TRAIN
    assert once.examples == twice.examples == 2 * TRAIN
    assert line["val_acc"] == once.best_acc == max(once.val_acc)
    assert once.val_acc[line["best_epoch"] - 1] == once.best_acc
    assert set(SEARCH_SPACE) <= set(line) and line["status"] == "completed"


def test_a_run_is_seeded_like_run_sweep(data):
    # the same setting and seed as a sweep's run: the same weights, so the same accuracies
    grid = make_grid(lr=0.3, activation="relu", batch_size=64, num_epochs=2, seed=3)
    sweep = run_sweep(data.train, data.val, grid, verbose=False)
    run = Run(grid[0], data, seed=3)
    run.train(2)
    assert run.val_acc == sweep.histories[0].test_acc


def test_a_diverged_run_counts_what_it_trained_and_trains_no_more(data):
    run = Run({"lr": 50.0, "activation": "relu", "batch_size": 32}, data, seed=0)
    line = run.train(2)
    assert line["status"] == "diverged" and line["epochs"] < 2
    assert 0 <= line["examples"] < 2 * TRAIN
    again = run.train(1)
    assert again["examples"] == 0 and again["epochs"] == line["epochs"]
    assert run.examples == line["examples"]


def test_grid_and_random_search_train_every_run_in_full(data):
    grid = make_grid(lr=[0.03, 0.3], activation="relu", batch_size=64)
    log = grid_search(data, grid, 1, seed=0)
    assert [(line["lr"], line["activation"]) for line in log] == [(0.03, "relu"), (0.3, "relu")]
    assert all(line["examples"] == TRAIN and line["epochs"] == 1 for line in log)
    log = random_search(data, 3, 1, seed=5)
    rng = random.Random(5)
    assert [line["lr"] for line in log] == [sample_settings(rng)["lr"] for _ in range(3)]


def test_successive_halving_keeps_a_third_at_each_rung(data):
    log = successive_halving(data, 6, rungs=[1, 2, 3], seed=0)
    first, second, third = log[:6], log[6:8], log[8:]
    assert len(log) == 9 and len(third) == 1
    # the survivors are the best of their rung, and train one more epoch each
    best_two = sorted(first, key=lambda line: line["val_acc"], reverse=True)[:2]
    assert {line["lr"] for line in second} == {line["lr"] for line in best_two}
    assert all(line["epochs"] == 2 for line in second if line["status"] != "diverged")
    assert third[0]["lr"] == max(second, key=lambda line: line["val_acc"])["lr"]
    # it starts from the settings random search draws with the same seed
    rng = random.Random(0)
    assert [line["lr"] for line in first] == [sample_settings(rng)["lr"] for _ in range(6)]


def test_optuna_search_reports_every_epoch_counts_pruned_runs_and_keeps_to_its_budget(data):
    budget = 8 * TRAIN
    with quiet_optuna():
        study = optuna_search(data, 2, budget, seed=0)
    log = study_log(study)
    assert len(log) == len(study.trials) >= 2
    assert sum(line["examples"] for line in log) <= budget
    for trial, line in zip(study.trials, log):
        assert list(trial.intermediate_values) == list(range(1, len(trial.intermediate_values) + 1))
        assert line["examples"] == trial.user_attrs["examples"] > 0 or line["status"] == "pruned"
        assert line["val_acc"] == max(trial.intermediate_values.values())
    assert {"complete"} <= {line["status"] for line in log} <= {"complete", "pruned"}


def test_quiet_optuna_restores_the_verbosity():
    before = optuna.logging.get_verbosity()
    with quiet_optuna():
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    assert optuna.logging.get_verbosity() == before


def _line(method, seed, val_acc, examples):
    return {"method": method, "seed": seed, "val_acc": val_acc, "examples": examples,
            "lr": 0.1, "activation": "relu", "batch_size": 64, "best_epoch": 1, "epochs": 1}


@pytest.fixture
def comparison():
    # grid best 0.80/0.82/0.84 (spread 0.04); halving 0.01 below it with a quarter of the
    # examples; optuna 0.10 below with half of them; random the same as the grid
    rows = []
    for seed, grid in zip((0, 1, 2), (0.80, 0.82, 0.84)):
        rows += [_line("grid", seed, grid - 0.3, 600), _line("grid", seed, grid, 600)]
        rows += [_line("random", seed, grid, 1200)]
        rows += [_line("halving", seed, grid - 0.01, 300)]
        rows += [_line("optuna", seed, grid - 0.1, 600)]
    pick = {**rows[1], "retrained_val_acc": 0.8, "test_acc": 0.79, "test_examples": 100}
    return SearchComparison(rows, {m: [1.0, 2.0, 3.0] for m in METHODS}, pick, {"seeds": [0, 1, 2]})


def test_the_table_has_mean_and_spread_per_method(comparison):
    rows = {r["method"]: r for r in comparison.table()}
    assert list(rows) == list(METHODS)
    assert rows["grid"]["best val acc"] == pytest.approx(0.82)
    assert rows["grid"]["spread"] == pytest.approx(0.04)
    assert rows["halving"]["examples"] == 300 and rows["halving"]["% of grid"] == "25%"
    assert rows["random"]["examples spread"] == 0 and rows["optuna"]["seconds"] == 2.0
    assert "halving" in str(comparison)


def test_paired_differences_use_a_t_interval(comparison):
    lines = comparison.differences().splitlines()
    assert lines[0].startswith("random - grid: +0.0000") and "not shown" in lines[0]
    assert lines[1].startswith("halving - grid: -0.0100") and "lower than the grid" in lines[1]
    assert lines[2].startswith("optuna - grid: -0.1000") and "lower than the grid" in lines[2]


def test_the_verdict_says_yes_only_within_the_spread_and_a_third_of_the_examples(comparison):
    halving, optuna_line = comparison.verdict().splitlines()
    assert halving.startswith("Successive halving: yes:")
    assert "within the grid's seed spread" in halving
    assert "25% of the grid's examples (at most a third)" in halving
    assert optuna_line.startswith("Optuna (TPE + pruner): no:") and "outside" in optuna_line
    assert "50% of the grid's examples (more than a third)" in optuna_line


def test_the_comparison_saves_loads_and_plots(comparison, tmp_path):
    comparison.save(tmp_path)
    loaded = SearchComparison.load(tmp_path)
    assert str(loaded) == str(comparison) and loaded.pick == comparison.pick
    assert "test 0.7900 on 100 test images" in loaded.pick_line()
    xs, ys = loaded.curves("grid")[0]
    assert xs == [600, 1200] and ys == [0.5, 0.8]
    ax = plot_best_so_far(loaded)
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= set(METHODS)


def test_two_worker_processes_share_one_study(tmp_path):
    journal = tmp_path / "study.log"
    seconds = run_workers(str(journal), "shared", ["A", "B"], trials=2, num_epochs=1,
                          train_size=TRAIN, val_size=VAL, root=SAMPLE_DIR)
    assert seconds > 0
    study = optuna.load_study(study_name="shared", storage=open_storage(str(journal)))
    workers = [t.user_attrs["worker"] for t in study.trials]
    assert sorted(workers) == ["A", "A", "B", "B"]
    assert len({t.number for t in study.trials}) == 4
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)


def test_a_failing_worker_raises_with_its_output(tmp_path):
    failed = r"Worker A failed \(exit code [1-9]\d*\)[\s\S]*point LENET_DATA_DIR \(or root=\)"
    with pytest.raises(RuntimeError, match=failed):  # no data in root: the worker cannot load it
        run_workers(str(tmp_path / "study.log"), "broken", ["A"], trials=1, num_epochs=1,
                    train_size=TRAIN, val_size=VAL, root=tmp_path)
    with pytest.raises(ValueError, match="val_size=0 is not valid"):  # refused before any worker starts
        run_workers(str(tmp_path / "study.log"), "broken", ["A"], trials=1, num_epochs=1,
                    train_size=TRAIN, val_size=0, root=SAMPLE_DIR)


# ---------------------------------------------------------------- the worker runner refuses and cleans up


def _workers(journal, study="lenet", workers=("A", "B"), **changes):
    args = dict(trials=1, num_epochs=1, train_size=TRAIN, val_size=VAL, root=SAMPLE_DIR)
    return run_workers(str(journal), study, workers, **{**args, **changes})


@pytest.mark.parametrize("workers", [[], "AB", ["A", "A"], ["A", ""]])
def test_workers_must_be_named_once_each(tmp_path, workers):
    with pytest.raises(ValueError, match=r"workers=.* is not valid: name each worker once, e.g. \['A', 'B'\]"):
        _workers(tmp_path / "study.log", workers=workers)
    assert not (tmp_path / "study.log").exists()


def test_an_existing_study_of_the_other_direction_is_refused(tmp_path):
    journal = tmp_path / "study.log"
    optuna.create_study(study_name="lenet", storage=open_storage(str(journal)), direction="minimize")
    with pytest.raises(ValueError, match=r"Study 'lenet' .* minimizes.*: these workers maximize the validation "
                                         r"accuracy. Give another study name"):
        _workers(journal)


def test_an_existing_study_made_with_other_settings_is_refused(tmp_path):
    journal = tmp_path / "study.log"
    _workers(journal, workers=["A"], num_epochs=1)
    with pytest.raises(ValueError, match=r"Study 'lenet' .* was made with num_epochs=1, train_size=200, "
                                         r"val_size=100; these workers have num_epochs=2"):
        _workers(journal, workers=["B"], num_epochs=2)
    study = optuna.load_study(study_name="lenet", storage=open_storage(str(journal)))
    assert [t.user_attrs["worker"] for t in study.trials] == ["A"], "no trial of other settings mixed in"
    _workers(journal, workers=["B"], num_epochs=1)  # the same settings carry on with the study
    study = optuna.load_study(study_name="lenet", storage=open_storage(str(journal)))
    assert [t.user_attrs["worker"] for t in study.trials] == ["A", "B"]


def test_a_study_made_elsewhere_with_trials_of_unknown_settings_is_refused(tmp_path):
    journal = tmp_path / "study.log"
    study = optuna.create_study(study_name="lenet", storage=open_storage(str(journal)), direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.5))
    with pytest.raises(ValueError, match=r"Study 'lenet' .* holds 1 trial\(s\) made without run_workers"):
        _workers(journal)


@pytest.mark.parametrize("where, message", [
    ("{tmp}/missing/study.log", r"storage='.*missing/study.log' cannot be used as a journal file: no such file "
                                r"or directory.*Give the path of a file in a folder that exists"),
    ("{tmp}", r"storage='.*' cannot be used as a journal file: is a directory"),
    ("sqlite:/x.db", r"storage='sqlite:/x.db' looks like a database URL without '//': write sqlite:///x.db"),
])
def test_a_storage_that_cannot_hold_the_study_is_refused(tmp_path, where, message):
    with pytest.raises(ValueError, match=message):
        _workers(where.format(tmp=tmp_path))


def test_a_journal_in_a_folder_one_cannot_write_is_refused_with_the_reason(tmp_path, monkeypatch):
    def refused(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(optuna.storages.journal, "JournalFileBackend", refused)
    with pytest.raises(ValueError, match=r"cannot be used as a journal file: permission denied"):
        open_storage(str(tmp_path / "study.log"))


def test_a_search_space_with_a_learning_rate_of_zero_is_refused(data, monkeypatch):
    monkeypatch.setitem(SEARCH_SPACE, "lr", (0, 1))
    with pytest.raises(ValueError, match=r"SEARCH_SPACE\['lr'\]\[0\]=0 is not valid: a learning rate is a "
                                         r"positive number"):
        compare_searches(data, make_grid(lr=0.1, activation="relu", num_epochs=1), 1, 1, [1], [0],
                         verbose=False)


DIE_IN_A_TRIAL = """
import os, signal, sys, time
import optuna
import lenet_utils.search as search

def dying(trial, data, num_epochs, seed):  # once B trains a trial of its own, die as if killed
    study = optuna.load_study(study_name="lenet", storage=search.open_storage(sys.argv[2]))
    while not any(t.state.name == "RUNNING" and t.user_attrs.get("worker") == "B" for t in study.trials):
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)

search.objective = dying
search.main(sys.argv[1:])
"""


def test_a_killed_worker_stops_the_other_cleanly_and_leaves_no_trial_running(tmp_path, monkeypatch):
    from lenet_utils import search

    real = search.worker_command

    def command(storage, study, trials, worker, *args, **kwargs):
        line = real(storage, study, trials, worker, *args, **kwargs)
        if worker == "A":  # A dies in its trial; B trains long trials
            return [line[0], "-c", DIE_IN_A_TRIAL, *line[3:]]
        return [*line[:line.index("--epochs")], "--epochs", "500", *line[line.index("--epochs") + 2:]]

    monkeypatch.setattr(search, "worker_command", command)
    journal = tmp_path / "study.log"
    with pytest.raises(RuntimeError) as failed:
        _workers(journal, trials=3)
    message = str(failed.value)
    assert "Worker A failed (exit code -9: killed by SIGKILL); the end of its output" in message
    assert "worker A: trial 0 started" in message or "worker A: trial 1 started" in message
    assert "Stopped worker B" in message
    study = optuna.load_study(study_name="lenet", storage=open_storage(str(journal)))
    states = {t.user_attrs["worker"]: t.state.name for t in study.trials}
    assert states == {"A": "FAIL", "B": "FAIL"}, "both trials marked failed, none left running"
    assert "stopped" in (tmp_path / "B.log").read_text()
