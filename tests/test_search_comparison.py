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


def test_paired_differences_use_a_t_interval_and_its_verdict_alone(comparison):
    lines = comparison.differences().splitlines()
    assert lines[0].startswith("random - grid: +0.0000") and lines[0].endswith("not shown")
    assert lines[1].startswith("halving - grid: -0.0100") and lines[1].endswith("likely lower than the grid")
    assert lines[2].startswith("optuna - grid: -0.1000") and lines[2].endswith("likely lower than the grid")
    assert not hasattr(comparison, "verdict")  # no tolerance answers for the intervals


def test_a_wide_interval_is_not_shown_and_one_repeat_has_none():
    rows = [_line("grid", 0, 0.8, 1), _line("grid", 1, 0.8, 1)]
    for method, accs in (("random", (0.9, 0.7)), ("halving", (0.81, 0.8105)), ("optuna", (0.7, 0.9))):
        rows += [_line(method, seed, acc, 1) for seed, acc in enumerate(accs)]
    lines = SearchComparison(rows, {m: [1.0, 1.0] for m in METHODS}, {}, {}).differences().splitlines()
    assert lines[0].endswith(": not shown") and lines[2].endswith(": not shown")
    assert lines[1].endswith("likely higher than the grid")  # +0.0100 and +0.0105: even t(1) excludes 0
    one = [_line(m, 0, 0.5, 1) for m in METHODS]
    assert SearchComparison(one, {m: [1.0] for m in METHODS}, {}, {}).differences().splitlines()[0] == \
        "random - grid: +0.0000 (one repeat: no interval): not shown"


def test_the_table_prints_the_time_per_example(comparison):
    rows = {r["method"]: r for r in comparison.table()}
    assert rows["halving"]["µs/example"] == pytest.approx(1e6 * 6.0 / 900)  # 6 s over 3 x 300 examples
    assert "µs/example" in str(comparison)


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
