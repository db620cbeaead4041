"""The four searches compared: the table, paired differences, verdict, saving and the best-so-far
plot, and Optuna's logging kept quiet."""

import matplotlib
import optuna
import pytest
matplotlib.use("Agg")

from lenet_utils.data import SAMPLE_DIR  # noqa: E402
from lenet_utils.plot import plot_best_so_far  # noqa: E402
from lenet_utils.search import SEARCH_SPACE  # noqa: E402
from lenet_utils.search_comparison import (METHODS, SearchComparison, compare_searches,  # noqa: E402
                                           quiet_optuna)
from lenet_utils.splits import load_split  # noqa: E402
from lenet_utils.sweep_grids import make_grid  # noqa: E402


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


def test_a_search_space_with_a_learning_rate_of_zero_is_refused(monkeypatch):
    data = load_split(200, 100, 100, root=SAMPLE_DIR, verbose=False)
    monkeypatch.setitem(SEARCH_SPACE, "lr", (0, 1))
    with pytest.raises(ValueError, match=r"SEARCH_SPACE\['lr'\]\[0\]=0 is not valid: a learning rate is a "
                                         r"positive number"):
        compare_searches(data, make_grid(lr=0.1, activation="relu", num_epochs=1), 1, 1, [1], [0],
                         verbose=False)
