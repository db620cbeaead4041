"""Notebook 11's search, as its cells write it: settings drawn from the space, runs continued rung by
rung, grid and random search, successive halving and Optuna, and what each costs."""

import math
import random

import pytest
import torch

from lenet_utils.data import SAMPLE_DIR
from lenet_utils.search import (SEARCH_SPACE, Run, grid_search, optuna_search, random_search,
                                sample_settings, successive_halving)
from lenet_utils.search_comparison import quiet_optuna, study_log
from lenet_utils.splits import load_split
from lenet_utils.sweep import run_sweep
from lenet_utils.sweep_grids import make_grid

TRAIN, VAL = 200, 100


@pytest.fixture(scope="module")
def data():
    # Always the bundled sample, so the runs are the same wherever the tests run.
    return load_split(TRAIN, VAL, 100, root=SAMPLE_DIR, verbose=False)


RELU = {"lr": 0.3, "activation": "relu", "batch_size": 64}


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


def test_a_budget_below_one_full_run_is_refused_before_any_trial(data):
    # it ran one trial anyway (issue 32): the budget is checked after each trial
    for budget in (0, 2 * TRAIN - 1):
        with pytest.raises(ValueError, match=rf"budget={budget} is less than one full run \(2 epoch\(s\) "
                                             rf"of {TRAIN} examples = {2 * TRAIN}\): give at least"):
            optuna_search(data, 2, budget, seed=0)
