"""Stored experiments: run once, load after a restart, retrain on request, never half-load."""

import json

import pytest
import torch

from lenet_utils import store
from lenet_utils.data import SAMPLE_DIR, load_data
from lenet_utils.history import History, Point
from lenet_utils.ladder import LadderResult, ladder, run_ladder
from lenet_utils.paper import load_paper_run, save_paper_run, train_lenet5_paper
from lenet_utils.sweep import SweepResult, make_grid, run_sweep


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv(store.RESULTS_ENV, str(tmp_path / "results"))
    return tmp_path / "results"


def save_json(value, folder):
    (folder / "value.json").write_text(json.dumps(value))


def load_json(folder):
    return json.loads((folder / "value.json").read_text())


def test_runs_once_then_loads_and_says_so(results, capsys):
    calls = []
    run = lambda: calls.append(1) or {"acc": 0.9}  # noqa: E731
    assert store.stored("exp", {"lr": 0.1}, run, save_json, load_json) == {"acc": 0.9}
    assert "Saved the exp" in capsys.readouterr().out
    assert store.stored("exp", {"lr": 0.1}, run, save_json, load_json) == {"acc": 0.9}
    assert "Loaded the stored exp" in capsys.readouterr().out and len(calls) == 1
    store.stored("exp", {"lr": 0.1}, run, save_json, load_json, retrain=True)
    assert len(calls) == 2
    store.stored("exp", {"lr": 0.2}, run, save_json, load_json)  # other settings: another result
    assert len(calls) == 3 and len(list(results.iterdir())) == 2


def test_a_save_cut_short_or_a_damaged_file_is_run_again(results, capsys):
    def broken_save(value, folder):
        raise KeyboardInterrupt  # the kernel was interrupted while saving

    with pytest.raises(KeyboardInterrupt):
        store.stored("exp", {}, lambda: 1, broken_save, load_json)
    calls = []
    assert store.stored("exp", {}, lambda: calls.append(1) or 2, save_json, load_json) == 2
    assert calls == [1], "no meta.json was written, so nothing was taken for a result"
    (next(results.iterdir()) / "value.json").write_text("{not json")
    assert store.stored("exp", {}, lambda: calls.append(1) or 3, save_json, load_json) == 3
    assert "could not be read" in capsys.readouterr().out and len(calls) == 2


def test_history_round_trip_keeps_every_field():
    h = History(label="run", train_loss=[0.5, float("nan")], train_acc=[0.8, 0.1], test_acc=[0.7, 0.1],
                seconds=[1.0, 2.0], lr=[0.1, 0.05], points=[Point(0.5, 64, 0.9, 0.6, 0.55)],
                status="diverged", message="NaN", examples_per_sec=123.0, device="cpu")
    back = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back.points == h.points and back.status == "diverged" and back.train_acc == h.train_acc
    assert back.train_loss[0] == 0.5 and back.train_loss[1] != back.train_loss[1]  # NaN survives


@pytest.fixture(scope="module")
def sample():
    return load_data("mnist", 64, train_size=256, test_size=128, root=SAMPLE_DIR, verbose=False)


def test_ladder_round_trip_gives_the_same_table_and_nets(sample, tmp_path):
    rungs = [ladder()[0], ladder()[3]]  # classic, and a rung with batch norm (running statistics)
    result = run_ladder(rungs, {"mnist": sample}, seeds=(0, 1), num_epochs=1, device="cpu", verbose=False)
    result.save(tmp_path)
    back = LadderResult.load(tmp_path)
    assert back.table() == result.table() and back.settings["seeds"] == [0, 1]
    X = sample[1].X[:32]
    for key, net in result.models.items():
        with torch.no_grad():
            torch.testing.assert_close(back.models[key](X), net.eval()(X))


def test_paper_run_round_trip_gives_the_same_figures_and_net(tmp_path):
    out = train_lenet5_paper(num_epochs=1, batch_size=32, device="cpu", train_size=128, test_size=64,
                             root=SAMPLE_DIR, verbose=False)
    save_paper_run(out, tmp_path)
    back = load_paper_run(tmp_path)
    assert back["test_error"] == out["test_error"] and back["history"].test_acc == out["history"].test_acc
    X = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back["net"](X), out["net"].eval()(X))


def test_sweep_round_trip_keeps_rows_and_histories(sample, tmp_path):
    sweep = run_sweep(*sample, make_grid(lr=[0.1, 0.3], num_epochs=1, batch_size=64), verbose=False)
    sweep.save(tmp_path)
    back = SweepResult.load(tmp_path)
    assert back.rows == sweep.rows and [h.test_acc for h in back.histories] == [h.test_acc for h in sweep.histories]
