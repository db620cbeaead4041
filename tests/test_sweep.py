"""Sweeps: the grid, the sweep loop (train_ch6 per setting), the tidy table and its CSV round trip,
repeatable seeds, a run that diverges in its first epoch, and the pictures drawn from a sweep."""

import math

import matplotlib
import pytest
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lenet_utils.data import SAMPLE_DIR, load_data  # noqa: E402
from lenet_utils.pictures import plot_heatmap  # noqa: E402
from lenet_utils.plot import plot_best_worst, plot_runs  # noqa: E402
from lenet_utils.sweep import run_sweep  # noqa: E402
from lenet_utils.sweep_grids import AXES, make_grid  # noqa: E402
from lenet_utils.sweep_results import COLUMNS, load_csv, save_csv  # noqa: E402


@pytest.fixture(scope="module")
def data():
    # Always the bundled sample, so the runs are the same wherever the tests run.
    return load_data("fashion-mnist", 64, train_size=500, test_size=300, device="cpu", verbose=False,
                     root=SAMPLE_DIR)


@pytest.fixture(scope="module")
def sweep(data):
    # lr=30 with ReLU diverges in the first epoch: the table must carry that run too.
    grid = make_grid(lr=[0.1, 30.0], activation=["sigmoid", "relu"], num_epochs=1, batch_size=64)
    return run_sweep(*data, grid, verbose=False)


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


# ---------------------------------------------------------------- the grid


def test_grid_is_every_combination_with_defaults_filled_in():
    grid = make_grid(lr=[0.1, 0.9, 3.0], activation=["sigmoid", "relu"], pool="max")
    assert len(grid) == 6
    assert all(set(g) == set(AXES) for g in grid)
    assert {(g["lr"], g["activation"]) for g in grid} == {
        (lr, a) for lr in (0.1, 0.9, 3.0) for a in ("sigmoid", "relu")}
    assert all(g["pool"] == "max" and g["num_epochs"] == AXES["num_epochs"] for g in grid)
    assert [g["activation"] for g in grid[:2]] == ["sigmoid", "relu"]  # the last axis named varies fastest


@pytest.mark.parametrize("bad, message", [
    ({"learning_rate": [0.1]}, "Unknown sweep axis learning_rate"),
    ({"lr": [0.1, -1]}, "positive number"),
    ({"lr": []}, "empty list"),
    ({"batch_size": 0}, "whole number >= 1"),
    ({"activation": "swish"}, "choose one of"),
    ({"optimizer": "rmsprop"}, "choose one of sgd, adam"),
])
def test_grid_rejects_bad_settings_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        make_grid(**bad)


# ---------------------------------------------------------------- the table


def test_sweep_table_has_one_row_per_run_with_settings_and_metrics(sweep):
    assert len(sweep) == 4 and len(sweep.histories) == 4
    assert sweep.varied == ["lr", "activation"]
    for i, row in enumerate(sweep.rows):
        assert tuple(row) == COLUMNS
        assert row["run"] == i + 1
        h = sweep.histories[i]
        assert row["epochs_run"] == h.num_epochs
        if h.num_epochs:
            assert row["test_acc"] == h.test_acc[-1] and row["seconds"] == pytest.approx(sum(h.seconds))
            assert row["best_test_acc"] == max(h.test_acc)
    relu_30 = next(r for r in sweep.rows if r["activation"] == "relu" and r["lr"] == 30.0)
    assert relu_30["status"] == "diverged" and relu_30["epochs_run"] == 0
    assert math.isnan(relu_30["test_acc"])
    relu_01 = next(r for r in sweep.rows if r["activation"] == "relu" and r["lr"] == 0.1)
    assert relu_01["status"] == "completed" and relu_01["test_acc"] > 0.18  # chance is 0.1 (8 steps on 500 images)
    assert sweep.best()["run"] != relu_30["run"] and sweep.worst()["run"] == relu_30["run"]


def test_table_prints_every_run(sweep):
    text = str(sweep)
    lines = text.splitlines()
    assert len(lines) == 2 + len(sweep)  # header, rule, one line per run
    assert lines[0].split()[:3] == ["run", "lr", "activation"] and set(lines[1]) <= {"-", " "}
    assert "diverged" in text and "nan" in text


def test_csv_round_trip_gives_back_the_same_rows(sweep, tmp_path):
    path = sweep.to_csv(tmp_path / "sub" / "sweep.csv")
    rows = load_csv(path)
    assert len(rows) == len(sweep.rows)
    for got, want in zip(rows, sweep.rows):
        assert list(got) == list(want)
        for key in COLUMNS:
            assert _same(got[key], want[key]), key
            assert type(got[key]) is type(want[key]), key


def test_load_csv_refuses_a_file_that_is_not_a_sweep(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a sweep table"):
        load_csv(path)
    with pytest.raises(ValueError, match="lacks the column"):
        save_csv([{"run": 1}], tmp_path / "x.csv")


def _without_last_row(text: str, sweep) -> str:
    """The CSV text as a copy cut off just before its last run's row."""
    last = f"\r\n{sweep.rows[-1]['run']},"
    return text[:text.rindex(last) + 2]


@pytest.mark.parametrize("cut", ["before the last row", "in the middle of a row", "after the last row"])
def test_load_csv_refuses_a_table_cut_short(sweep, tmp_path, cut):
    path = sweep.to_csv(tmp_path / "sweep.csv")
    text = path.read_bytes().decode()
    short = {"before the last row": _without_last_row(text, sweep),
             "in the middle of a row": _without_last_row(text, sweep) + "4,30.0,64,1,re",
             "after the last row": text[:text.rindex("#")]}[cut]
    path.write_text(short, newline="")
    with pytest.raises(ValueError, match=r"sweep.csv is cut short: .*save_csv writes last.*save it again"):
        load_csv(path)


def test_load_csv_refuses_a_table_with_a_row_taken_out(sweep, tmp_path):
    path = sweep.to_csv(tmp_path / "sweep.csv")
    lines = path.read_bytes().decode().split("\r\n")
    path.write_text("\r\n".join(lines[:2] + lines[3:]), newline="")  # run 2 gone, the end line kept
    with pytest.raises(ValueError, match=rf"sweep.csv holds 3 runs where its last line says {len(sweep.rows)}"):
        load_csv(path)


def test_load_csv_names_the_row_and_column_of_a_value_that_is_no_number(sweep, tmp_path):
    path = sweep.to_csv(tmp_path / "sweep.csv")
    path.write_text(path.read_bytes().decode().replace("\r\n2,0.1,", "\r\n2,fast,", 1), newline="")
    with pytest.raises(ValueError, match=r"sweep.csv, run 2: lr='fast' is not a float"):
        load_csv(path)


def test_history_counts_runs_from_one_and_refuses_a_run_there_is_not(sweep):
    assert sweep.history(1) is sweep.histories[0]
    assert sweep.history(sweep.rows[-1]) is sweep.histories[-1]
    for bad in (0, len(sweep.rows) + 1, -1, "2", 1.5):
        with pytest.raises(ValueError, match=rf"There is no run {bad!r}: runs are numbered 1 to "
                                             rf"{len(sweep.rows)}"):
            sweep.history(bad)


def test_fixed_seed_repeats_a_sweep_exactly_and_another_seed_does_not(data, sweep):
    again = run_sweep(*data, make_grid(lr=[0.1, 30.0], activation=["sigmoid", "relu"], num_epochs=1,
                                       batch_size=64), verbose=False)
    timing = {"seconds", "examples_per_sec"}
    for a, b in zip(sweep.rows, again.rows):
        assert all(_same(a[k], b[k]) for k in COLUMNS if k not in timing)
    other = run_sweep(*data, make_grid(lr=0.1, activation="relu", num_epochs=1, batch_size=64, seed=1),
                      verbose=False)
    same_setting = next(r for r in sweep.rows if r["activation"] == "relu" and r["lr"] == 0.1)
    assert other.rows[0]["train_loss"] != same_setting["train_loss"]


def test_epoch_rows_have_one_row_per_completed_epoch(data):
    result = run_sweep(*data, make_grid(lr=[0.05, 0.2], activation="relu", num_epochs=2), verbose=False)
    rows = result.epoch_rows()
    assert [(r["run"], r["epoch"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert rows[1]["test_acc"] == result.histories[0].test_acc[1]


# ---------------------------------------------------------------- pictures


def test_heatmap_has_a_cell_per_setting_and_marks_divergence(sweep):
    ax = plot_heatmap(sweep.rows, x="lr", y="activation")
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 4 and "diverged" in texts
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "30"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sigmoid", "relu"]  # as the sweep named them
    best = sweep.best()
    assert f"{best['test_acc']:.3f}" in texts
    with pytest.raises(ValueError, match="not a column"):
        plot_heatmap(sweep.rows, x="lr", y="momentum")
    plt.close("all")


def test_best_and_worst_curves_are_labelled(sweep):
    ax_loss, ax_acc = plot_best_worst(sweep)
    labels = [line.get_label() for line in ax_loss.get_lines()]
    assert len(labels) == 2 and labels[0].startswith("best: ") and labels[1].startswith("worst: ")
    ax = plot_runs(sweep)
    assert len([line for line in ax.get_lines() if line.get_marker() == "o"]) == len(sweep)
    ax = plot_runs(sweep, where={"activation": "relu"})
    labels = [line.get_label() for line in ax.get_lines() if line.get_marker() == "o"]
    assert labels == ["lr=0.1", "lr=30"]
    assert [line.get_marker() for line in ax.get_lines()].count("x") == 1  # lr=30 diverged
    with pytest.raises(ValueError, match="No run"):
        plot_runs(sweep, where={"pool": "max"})
    plt.close("all")


def test_run_sweep_prints_one_line_per_run(data, capsys):
    run_sweep(*data, make_grid(lr=[0.1, 30.0], activation="relu", num_epochs=1, batch_size=64))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("run 1/2: lr=0.1") and "(diverged)" in lines[1]
