"""Stored experiments: run once, load after a restart, retrain on request, never half-load."""

import functools
import gzip
import importlib.util
import inspect
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lenet_utils import ladder as ladder_module
from lenet_utils import ladder_results
from lenet_utils import sources, store
from lenet_utils.data import SAMPLE_DIR, TensorLoader, load_data
from lenet_utils.history import History, Point
from lenet_utils.ladder import run_ladder
from lenet_utils.ladder_results import LadderResult
from lenet_utils.lenet5_run import compare_with_paper, load_paper_run, save_paper_run, train_lenet5_paper
from lenet_utils.rungs import ladder
from lenet_utils.sweep import run_sweep
from lenet_utils.sweep_grids import make_grid
from lenet_utils.sweep_results import SweepResult


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv(store.RESULTS_ENV, str(tmp_path / "results"))
    monkeypatch.setattr(store, "SHIPPED_DIR", tmp_path / "shipped")
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


def _data_in(root):
    return lambda: {"mnist": {"kind": "full", "root": root, "counts": [60000, 10000]}, "cifar10": None}


def test_a_shipped_result_loads_on_another_machine_and_retrain_trains_here(results, monkeypatch, capsys):
    calls = []
    run = lambda: calls.append(1) or {"acc": 0.9}  # noqa: E731
    monkeypatch.setattr(store, "data_sources", _data_in("/home/maintainer/data"))
    store.stored("exp", {"lr": 0.1}, run, save_json, load_json)
    shipped = store.ship(next(results.iterdir()))
    assert shipped.parent == store.SHIPPED_DIR and (shipped / "value.json").is_file()
    assert "/home/maintainer" not in (shipped / "meta.json").read_text()  # no machine path ships

    shutil.rmtree(results)  # a fresh clone: nothing trained here, the data in another folder
    monkeypatch.setattr(store, "data_sources", _data_in("/srv/course-data"))
    capsys.readouterr()
    assert store.stored("exp", {"lr": 0.1}, run, save_json, load_json) == {"acc": 0.9}
    assert "ships with the course" in capsys.readouterr().out and len(calls) == 1
    store.stored("exp", {"lr": 0.1}, run, save_json, load_json, retrain=True)
    assert len(calls) == 2 and "Saved the exp" in capsys.readouterr().out
    store.stored("exp", {"lr": 0.1}, run, save_json, load_json)  # now this machine's own result
    assert "Loaded the stored exp" in capsys.readouterr().out and len(calls) == 2


def test_a_shipped_result_is_not_used_for_other_settings_or_other_data(results, monkeypatch, capsys):
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    monkeypatch.setattr(store, "data_sources", _data_in("/a"))
    store.stored("exp", {"lr": 0.1}, run, save_json, load_json)
    store.ship(next(results.iterdir()))
    shutil.rmtree(results)
    assert store.stored("exp", {"lr": 0.2}, run, save_json, load_json) == 2
    shutil.rmtree(results)
    monkeypatch.setattr(store, "data_sources", lambda: {"mnist": {"kind": "sample", "root": "/a",
                                                                  "counts": [3000, 500]}})
    assert store.stored("exp", {"lr": 0.1}, run, save_json, load_json) == 3
    assert "ships with the course" not in capsys.readouterr().out


def test_a_damaged_shipped_result_trains_here_and_ship_refuses_half_results(results, monkeypatch, capsys):
    run = lambda: {"acc": 0.5}  # noqa: E731
    store.stored("exp", {}, run, save_json, load_json)
    shipped = store.ship(next(results.iterdir()))
    shutil.rmtree(results)
    (shipped / "value.json").write_text("{}")
    assert store.stored("exp", {}, run, save_json, load_json) == {"acc": 0.5}
    assert "The shipped exp" in capsys.readouterr().out
    (results / "half").mkdir(parents=True)
    with pytest.raises(ValueError, match="not a whole stored result"):
        store.ship(results / "half")


def test_a_save_cut_short_or_a_damaged_file_is_run_again(results, capsys):
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert store.stored("exp", {}, run, save_json, load_json) == 1
    (next(results.iterdir()) / "meta.json").unlink()  # a folder whose save was killed before its end
    assert store.stored("exp", {}, run, save_json, load_json) == 2
    assert "its save was cut short" in capsys.readouterr().out, "no meta.json: nothing was taken for a result"
    (next(results.iterdir()) / "value.json").write_text("{not json")
    assert store.stored("exp", {}, run, save_json, load_json) == 3
    out = capsys.readouterr().out
    assert "could not be read (value.json has 9 bytes where 1 were saved)" in out


def test_an_empty_meta_json_trains_again(results, capsys):
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    store.stored("exp", {}, run, save_json, load_json)
    (next(results.iterdir()) / "meta.json").write_text("{}")
    assert store.stored("exp", {}, run, save_json, load_json) == 2
    assert "meta.json lacks its fields" in capsys.readouterr().out
    assert store.stored("exp", {}, run, save_json, load_json) == 2, "the new save is whole again"


class NotATensor:
    """Pickled by a careless save: ``torch.load(weights_only=True)`` refuses it."""


def test_an_unloadable_weights_file_gets_the_packages_message_not_torchs(results, capsys):
    def save_object(value, folder):
        torch.save({"w": NotATensor()}, folder / "net.pt")

    def load_weights(folder):
        return torch.load(folder / "net.pt", weights_only=True)

    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    store.stored("exp", {}, run, save_object, load_weights)
    store.stored("exp", {}, run, save_object, load_weights)
    out = capsys.readouterr().out
    assert len(calls) == 2 and "loading it failed with UnpicklingError" in out
    assert "weights_only" not in out and "training it again" in out


def test_a_results_folder_it_cannot_write_warns_and_keeps_the_result(tmp_path, monkeypatch):
    (tmp_path / "results").write_text("a file where the results folder should be")
    monkeypatch.setenv(store.RESULTS_ENV, str(tmp_path / "results"))
    with pytest.warns(UserWarning, match="Could not save the exp to .*LENET_RESULTS_DIR"):
        assert store.stored("exp", {}, lambda: 42, save_json, load_json) == 42


def run_cell(namespace: dict, source: str) -> dict:
    """Run ``source`` in ``namespace`` as a cell would: what it defines belongs to the module
    ``namespace["__name__"]``, by default ``__main__`` (a notebook)."""
    namespace.setdefault("__name__", "__main__")
    exec(source, namespace)
    return namespace


def test_editing_a_notebook_function_trains_again(results):
    cell = run_cell({}, "def run_ladder():\n    return 'old rungs'\n")
    run = run_cell(cell, "run = lambda: run_ladder()")["run"]
    assert store.stored("ladder", {}, run, save_json, load_json) == "old rungs"
    run_cell(cell, "def run_ladder():\n    \"\"\"Now documented.\"\"\"\n    return 'old rungs'\n")
    assert store.stored("ladder", {}, run, save_json, load_json) == "old rungs"
    assert len(list(results.iterdir())) == 1, "a docstring is not code: the same key"
    run_cell(cell, "def run_ladder():\n    return 'new rungs'\n")  # the learner edits the cell
    assert store.stored("ladder", {}, run, save_json, load_json) == "new rungs"


def test_editing_a_package_function_it_calls_trains_again(results, monkeypatch):
    calls = []
    run = lambda: calls.append(1) or (run_ladder and len(calls))  # noqa: E731
    assert store.stored("ladder", {}, run, save_json, load_json) == 1
    assert store.stored("ladder", {}, run, save_json, load_json) == 1
    edited = run_cell({"__name__": "lenet_utils.device"}, "def hardware_summary(device):\n    return 'edited'\n")
    monkeypatch.setattr(ladder_module, "hardware_summary", edited["hardware_summary"])  # run_ladder calls it
    assert store.stored("ladder", {}, run, save_json, load_json) == 2


def test_a_function_in_the_settings_reloads_after_a_restart(results):
    source = "def make_net():\n    return 'lenet'\n"
    before, after = run_cell({}, source), run_cell({}, source)  # the kernel restarted
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    store.stored("exp", {"model": before["make_net"]}, run, save_json, load_json)
    assert store.stored("exp", {"model": after["make_net"]}, run, save_json, load_json) == 1
    run_cell(after, "def make_net():\n    return 'resnet'\n")
    assert store.stored("exp", {"model": after["make_net"]}, run, save_json, load_json) == 2


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """No LENET_DATA_DIR and an empty project data folder: the bundled sample is what is found."""
    monkeypatch.delenv(sources.DATA_ENV, raising=False)
    monkeypatch.delenv(sources.STRICT_ENV, raising=False)
    monkeypatch.setattr(sources, "default_data_dir", lambda: tmp_path / "project-data")
    return tmp_path / "full-data"


def write_idx_header(path, count, shape=(28, 28)):
    """A gzipped IDX file of unsigned bytes promising ``count`` items (the key reads only headers)."""
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 1 + len(shape)]) + struct.pack(f">{1 + len(shape)}I", count, *shape))


def test_switching_from_the_sample_to_full_data_trains_again(results, data_dir, monkeypatch):
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    settings = {"num_epochs": 1, "quick": True}  # chapter 6's LeNet-5 key: no data source in it
    assert store.stored("LeNet-5 run", settings, run, save_json, load_json) == 1  # on the sample
    for folder in ("MNIST", "FashionMNIST"):  # the full sets arrive, same counts as quick mode uses
        shutil.copytree(SAMPLE_DIR / folder, data_dir / folder)
    monkeypatch.setenv(sources.DATA_ENV, str(data_dir))
    assert store.stored("LeNet-5 run", settings, run, save_json, load_json) == 2
    assert store.stored("LeNet-5 run", settings, run, save_json, load_json) == 2


def test_a_data_set_with_other_counts_trains_again(results, data_dir, monkeypatch):
    shutil.copytree(SAMPLE_DIR / "MNIST", data_dir / "MNIST")
    monkeypatch.setenv(sources.DATA_ENV, str(data_dir))
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert store.stored("exp", {}, run, save_json, load_json) == 1
    write_idx_header(data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", 60000)  # replaced
    assert store.stored("exp", {}, run, save_json, load_json) == 2


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


def test_ladder_round_trip_gives_the_same_table_and_predictions(sample, tmp_path):
    rungs = [ladder()[0], ladder()[3]]  # classic, and a rung with batch norm
    result = run_ladder(rungs, {"mnist": sample}, seeds=(0, 1), num_epochs=1, device="cpu", verbose=False)
    assert set(result.predictions) == {("classic", "mnist"), ("+ batch norm", "mnist")}
    assert all(len(p) == sample[1].num_examples for p in result.predictions.values())
    result.save(tmp_path)
    assert not list(tmp_path.glob("*.pt"))  # no weights: the shipped results stay small
    back = LadderResult.load(tmp_path)
    assert back.table() == result.table() and back.settings["seeds"] == [0, 1]
    assert back.gaps() == result.gaps()
    for key, labels in result.predictions.items():
        assert torch.equal(back.predictions[key], labels)


def test_paper_run_round_trip_gives_the_same_figures_without_weights(tmp_path):
    out = train_lenet5_paper(num_epochs=1, batch_size=32, device="cpu", train_size=128, test_size=64,
                             root=SAMPLE_DIR, verbose=False)
    save_paper_run(out, tmp_path)
    back = load_paper_run(tmp_path)
    assert back["test_error"] == out["test_error"] and back["history"].test_acc == out["history"].test_acc
    assert "LeNet-5 test error" in compare_with_paper(back) and "net" not in back
    assert [p.name for p in tmp_path.iterdir()] == ["lenet5.json"]


@pytest.fixture(scope="module")
def sweep(sample):
    return run_sweep(*sample, make_grid(lr=[0.1, 0.3], num_epochs=1, batch_size=64), verbose=False)


def test_sweep_round_trip_keeps_rows_and_histories(sweep, tmp_path):
    sweep.save(tmp_path)
    back = SweepResult.load(tmp_path)
    assert back.rows == sweep.rows and [h.test_acc for h in back.histories] == [h.test_acc for h in sweep.histories]


def test_a_sweep_csv_missing_its_last_row_trains_again(sweep, results, capsys):
    calls = []
    run = lambda: calls.append(1) or sweep  # noqa: E731
    store.stored("sweep", {}, run, SweepResult.save, SweepResult.load)
    csv = next(results.iterdir()) / "sweep.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:-1]))
    back = store.stored("sweep", {}, run, SweepResult.save, SweepResult.load)
    assert len(calls) == 2 and len(back.rows) == 2
    assert "sweep.csv has" in capsys.readouterr().out


# ---------------------------------------------------------------- issue 32: names that leave their folder


@pytest.mark.parametrize("escape", ["../../escaped", "ABSOLUTE"])
def test_a_name_that_leaves_the_results_folder_writes_and_deletes_nothing_outside(results, tmp_path, escape):
    outside = tmp_path / "elsewhere"
    name = str(outside / "escaped") if escape == "ABSOLUTE" else escape
    for folder in (tmp_path / "escaped", outside):  # what `name-<key>` would land beside
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "keep.txt").write_text("mine")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="plain folder name"):
        store.stored(name, {}, lambda: 1, save_json, load_json)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def _stored_folder(results):
    store.stored("exp", {"lr": 0.1}, lambda: {"acc": 0.9}, save_json, load_json)
    return next(results.iterdir())


def _plant_meta(folder, **changes):
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, **changes}))


def test_ship_refuses_a_meta_whose_name_leaves_the_shipped_folder(results, tmp_path):
    folder = _stored_folder(results)
    _plant_meta(folder, name="../../../../x")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="plain folder name"):
        store.ship(folder)
    assert sorted(tmp_path.rglob("*")) == before


def test_ship_and_stored_refuse_a_file_entry_that_leaves_its_folder(results, tmp_path):
    victim = tmp_path / "__init__.py"  # stands for lenet_utils/__init__.py, two folders up
    victim.write_text("import os  # the package\n")
    folder = _stored_folder(results)
    planted = folder / "__init__.py"
    planted.write_text("raise SystemExit('planted code ran')\n")
    meta = json.loads((folder / "meta.json").read_text())
    meta["files"]["../../__init__.py"] = {"size": planted.stat().st_size, "sha256": store._sha256(planted)}
    (folder / "meta.json").write_text(json.dumps(meta))
    shutil.copy(planted, tmp_path / "__init__.py.planted")  # what a `../../__init__.py` entry would read
    with pytest.raises(ValueError, match="leads out of its folder"):
        store.ship(folder)
    assert victim.read_text() == "import os  # the package\n"
    assert not store.SHIPPED_DIR.exists() or not any(store.SHIPPED_DIR.iterdir())


def test_a_planted_shipped_folder_is_not_loaded_and_nothing_outside_changes(results, tmp_path, capsys):
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    store.stored("exp", {}, run, save_json, load_json)
    shipped = store.ship(next(results.iterdir()))
    shutil.rmtree(results)
    outside = tmp_path / "outside.json"
    outside.write_text("1")
    meta = json.loads((shipped / "meta.json").read_text())
    meta["files"] = {"../../outside.json": meta["files"]["value.json"]}
    (shipped / "meta.json").write_text(json.dumps(meta))
    assert store.stored("exp", {}, run, save_json, load_json) == 2, "trained here, not loaded"
    assert "leads out of its folder" in capsys.readouterr().out
    assert outside.read_text() == "1"


# ---------------------------------------------------------------- Ctrl-C: nothing half-done is stored


def interrupt_at(module, monkeypatch, call: int):
    """Make ``module.train_ch6`` get a callback that presses Ctrl-C after the first epoch of its
    ``call``-th run (1-based)."""
    real, runs = module.train_ch6, []

    def press_ctrl_c(history, *net):
        if len(runs) == call and history.num_epochs:
            raise KeyboardInterrupt

    def train_ch6(*args, **kwargs):
        runs.append(1)
        hook = "hook" if "hook" in inspect.signature(real).parameters else "callback"
        return real(*args, **{**kwargs, hook: press_ctrl_c})
    monkeypatch.setattr(module, "train_ch6", train_ch6)
    return runs


def test_ctrl_c_in_a_stored_sweep_stops_the_sweep_and_stores_nothing(sample, results, monkeypatch, capsys):
    from lenet_utils import sweep as sweep_module
    grid = make_grid(lr=[0.1, 0.2, 0.3], num_epochs=2, batch_size=64)
    run = lambda: run_sweep(*sample, grid, verbose=False)  # noqa: E731
    runs = interrupt_at(sweep_module, monkeypatch, call=2)
    cut = store.stored("sweep", {"grid": grid}, run, SweepResult.save, SweepResult.load)
    assert len(runs) == 2, "Ctrl-C ends the whole sweep, not only its current run"
    assert [r["status"] for r in cut.rows] == ["completed", "interrupted"] and not cut.complete
    out = capsys.readouterr().out
    assert "nothing was stored" in out and "Saved" not in out
    assert not any(results.glob("*/meta.json"))
    monkeypatch.undo()
    monkeypatch.setenv(store.RESULTS_ENV, str(results))
    monkeypatch.setattr(store, "SHIPPED_DIR", results.parent / "shipped")
    whole = store.stored("sweep", {"grid": grid}, run, SweepResult.save, SweepResult.load)
    assert whole.complete and len(whole.rows) == 3 and "Saved the sweep" in capsys.readouterr().out

    def save_cut_by_ctrl_c(result, folder):
        result.to_csv(folder / "sweep.csv")
        raise KeyboardInterrupt  # before histories.json
    again = store.stored("sweep", {"grid": grid}, run, save_cut_by_ctrl_c, SweepResult.load, retrain=True)
    assert again.complete and len(again.rows) == 3, "the finished sweep is handed back"
    assert "nothing was stored" in capsys.readouterr().out
    back = store.stored("sweep", {"grid": grid}, run, SweepResult.save, SweepResult.load)
    assert "Loaded the stored sweep" in capsys.readouterr().out and back.rows == whole.rows
    assert [h.test_acc for h in back.histories] == [h.test_acc for h in whole.histories]
    assert [p.name for p in results.iterdir()] == [next(results.iterdir()).name], "no half folder left"


def test_ctrl_c_in_the_paper_run_stores_nothing(results, monkeypatch, capsys):
    from lenet_utils import lenet5_run as paper_module
    interrupt_at(paper_module, monkeypatch, call=1)
    run = lambda: train_lenet5_paper(num_epochs=3, batch_size=64, device="cpu", train_size=128,  # noqa: E731
                                     test_size=64, root=SAMPLE_DIR, verbose=False)
    out = store.stored("LeNet-5 run", {"num_epochs": 3}, run, save_paper_run, load_paper_run)
    assert out["history"].num_epochs == 1 and out["complete"] is False
    assert "nothing was stored" in capsys.readouterr().out and not any(results.glob("*/meta.json"))


def test_ctrl_c_in_the_ladder_stops_it_whole_and_stores_nothing(sample, results, monkeypatch, capsys):
    runs = interrupt_at(ladder_module, monkeypatch, call=1)
    run = lambda: run_ladder(ladder()[:2], {"mnist": sample}, seeds=(0, 1), num_epochs=2,  # noqa: E731
                             device="cpu", verbose=False)
    out = store.stored("ladder", {}, run, LadderResult.save, LadderResult.load)
    assert len(runs) == 1 and len(out.runs) == 1 and not out.complete
    assert "nothing was stored" in capsys.readouterr().out and not any(results.glob("*/meta.json"))


def test_ctrl_c_during_save_keeps_the_previous_result_whole_and_returns_the_new_one(results, capsys):
    calls = []
    run = lambda: calls.append(1) or {"run": len(calls)}  # noqa: E731
    assert store.stored("exp", {}, run, save_json, load_json) == {"run": 1}

    def interrupted_save(value, folder):
        (folder / "value.json").write_text('{"run": ')  # half written ...
        raise KeyboardInterrupt  # ... when Ctrl-C arrives

    assert store.stored("exp", {}, run, interrupted_save, load_json, retrain=True) == {"run": 2}
    assert "nothing was stored" in capsys.readouterr().out
    assert store.stored("exp", {}, run, save_json, load_json) == {"run": 1}, "the previous result, whole"
    assert len(calls) == 2 and [p.name for p in results.iterdir()] == [next(results.iterdir()).name]


# ---------------------------------------------------------------- keys that mean what they say


def test_the_key_holds_the_data_passed_in_not_the_settings_word_for_it(results):
    def loaders(values):
        X = torch.full((8, 1, 28, 28), float(values))
        return TensorLoader(X, torch.arange(8) % 10, 4, seed=0)

    fashion, digits = loaders(1), loaders(2)
    settings = {"data": "fashion-mnist"}
    assert store.stored("sweep", settings, (lambda: fashion.X[0, 0, 0, 0].item()), save_json, load_json) == 1.0
    train_iter = digits  # the cell now loads MNIST, its settings unchanged
    assert store.stored("sweep", settings, (lambda: train_iter.X[0, 0, 0, 0].item()), save_json, load_json) == 2.0


class Recipe:
    def __init__(self, lr):
        self.lr = lr


@pytest.mark.parametrize("first, second", [
    (functools.partial(torch.optim.SGD, momentum=0.9), functools.partial(torch.optim.SGD, momentum=0.5)),
    (torch.arange(5000), torch.arange(5000).index_put_((torch.tensor([2500]),), torch.tensor(0))),
    (Recipe(0.1), Recipe(0.2)),
])
def test_settings_are_keyed_by_their_content_not_their_text(results, first, second):
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert store.stored("exp", {"x": first}, run, save_json, load_json) == 1
    assert store.stored("exp", {"x": second}, run, save_json, load_json) == 2
    assert store.stored("exp", {"x": first}, run, save_json, load_json) == 1


def test_a_set_in_the_settings_gives_the_same_key_whatever_its_order(results):
    # A set iterates in hash order, which PYTHONHASHSEED changes for text from kernel to kernel;
    # 0 and 8 share a slot, so these two equal sets iterate in two orders in this very kernel.
    first, second = {0, 8}, {8, 0}
    assert first == second and list(first) != list(second)
    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    store.stored("exp", {"s": first}, run, save_json, load_json)
    assert store.stored("exp", {"s": second}, run, save_json, load_json) == 1
    assert len(list(results.iterdir())) == 1


def test_settings_the_key_cannot_hold_are_refused_by_name_and_mixed_keys_work(results):
    with pytest.raises(TypeError, match=r"settings\['batches'\] is a generator"):
        store.stored("exp", {"batches": (i for i in range(3))}, lambda: 1, save_json, load_json)
    assert store.stored("p", {1: "a", "b": 2}, lambda: 3, save_json, load_json) == 3
    assert store.stored("p", {"1": "a", "b": 2}, lambda: 4, save_json, load_json) == 4, "1 is not '1'"


def test_retrain_must_be_true_or_false(results):
    with pytest.raises(TypeError, match="retrain is True or False"):
        store.stored("exp", {}, lambda: 1, save_json, load_json, retrain="False")


def test_a_method_redefined_on_a_new_instance_or_a_function_swapped_in_a_dict_trains_again(results):
    cell = run_cell({}, "class Model:\n    def fit(self):\n        return 'old fit'\nmodel = Model()\n"
                        "steps = {'fit': lambda: 'old step'}\n")
    fit = run_cell(cell, "run = lambda: model.fit()")["run"]
    step = run_cell(cell, "run2 = lambda: steps['fit']()")["run2"]
    assert store.stored("fit", {}, fit, save_json, load_json) == "old fit"
    assert store.stored("step", {}, step, save_json, load_json) == "old step"
    run_cell(cell, "class Model:\n    def fit(self):\n        return 'new fit'\nmodel = Model()\n")
    run_cell(cell, "steps['fit'] = lambda: 'new step'\n")
    assert store.stored("fit", {}, fit, save_json, load_json) == "new fit"
    assert store.stored("step", {}, step, save_json, load_json) == "new step"


def test_a_shipped_result_made_by_other_code_trains_here(results, capsys):
    source = inspect.getsource(ladder_results.epochs_to_target)
    notebook = run_cell({"Sequence": ladder_results.Sequence}, source)  # a #@save cell, as written
    run = run_cell(notebook, "run = lambda: epochs_to_target([0.5, 0.9], 0.8)")["run"]
    store.stored("exp", {}, lambda: ladder_results.epochs_to_target([0.5, 0.9], 0.8), save_json, load_json)
    store.ship(next(results.iterdir()))  # made by the package's function
    shutil.rmtree(results)
    assert store.stored("exp", {}, run, save_json, load_json) == 2
    assert "ships with the course" in capsys.readouterr().out, "the cell's copy is the package's code"
    shutil.rmtree(results, ignore_errors=True)
    run_cell(notebook, source.replace("return next(", "return 1 + next("))  # the learner edits it
    assert store.stored("exp", {}, run, save_json, load_json) == 3
    out = capsys.readouterr().out
    assert "Loaded the exp that ships" not in out and "made by other code" in out


# ---------------------------------------------------------------- restamping shipped results


ROOT = Path(__file__).resolve().parents[1]


def ship_results_script():
    spec = importlib.util.spec_from_file_location("ship_results", ROOT / "scripts" / "ship_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chapter6_cell(*texts: str) -> str:
    """The source of chapter 6's code cell that holds every one of ``texts``."""
    cells = json.loads((ROOT / "notebooks" / "06_classic_vs_modern.ipynb").read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return next(s for s in sources if all(t in s for t in texts))


@pytest.fixture
def chapter6(results, data_dir, capsys):
    """Chapter 6's namespace after its imports, its rungs and its run_ladder cell (as a kernel)."""
    namespace = run_cell({}, chapter6_cell("from lenet_utils.store import stored"))
    run_cell(namespace, chapter6_cell("rungs = ladder()"))
    run_cell(namespace, chapter6_cell("#@save", "def run_ladder("))
    run_cell(namespace, chapter6_cell("NUM_EPOCHS ="))
    capsys.readouterr()
    return namespace


def unstamp(folder):
    """What the shipped results of before issue 32 hold: no fingerprints."""
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k not in ("code", "tensors")}))


@pytest.mark.slow  # retrains first epochs: a minute or more each
@pytest.mark.parametrize("cell, name", [(("stored(\"ladder\"",), "ladder"), (("stored(\"LeNet-5 run\"",), "LeNet-5 run")])
def test_restamp_checks_a_shipped_result_then_chapter_6_loads_it(chapter6, results, capsys, cell, name):
    chapter6.update(NUM_EPOCHS=1, SEEDS=(0,), rungs=chapter6["rungs"][:1])  # a tiny ladder
    source = chapter6_cell(*cell)
    run_cell(chapter6, source)  # trains and stores, as the chapter does
    shipped = store.ship(next(results.iterdir()))
    unstamp(shipped)
    shutil.rmtree(results)
    run_cell(chapter6, source)
    assert "carries no fingerprint of the code that made it" in capsys.readouterr().out
    shutil.rmtree(results)

    threads = str(torch.get_num_threads())  # as it trained here (a thread count changes the last digits)
    ship_results_script().main(["--restamp", str(shipped), "--threads", threads])
    out = capsys.readouterr().out
    assert "DIFFERENT" not in out and out.count("identical") == (2 if name == "ladder" else 1)
    assert "stamped with today's code" in out
    run_cell(chapter6, source)
    out = capsys.readouterr().out
    assert f"Loaded the {name} that ships with the course" in out and "Saved" not in out


def shipped_lenet5_one_image_off(chapter6, results) -> Path:
    """Chapter 6's LeNet-5 run, shipped unstamped with its first test accuracy one test image
    higher than the code gives (as if trained on another CPU), its meta.json kept consistent."""
    run_cell(chapter6, chapter6_cell("stored(\"LeNet-5 run\""))
    shipped = store.ship(next(results.iterdir()))
    unstamp(shipped)
    saved = json.loads((shipped / "lenet5.json").read_text())
    saved["history"]["test_acc"][0] += 1 / saved["test_size"]
    (shipped / "lenet5.json").write_text(json.dumps(saved))
    meta = json.loads((shipped / "meta.json").read_text())
    meta["files"]["lenet5.json"] = {"size": (shipped / "lenet5.json").stat().st_size,
                                    "sha256": store._sha256(shipped / "lenet5.json")}
    (shipped / "meta.json").write_text(json.dumps(meta))
    return shipped


@pytest.mark.slow  # retrains first epochs: a minute or more each
def test_restamp_refuses_a_result_todays_code_does_not_reproduce(chapter6, results, capsys):
    shipped = shipped_lenet5_one_image_off(chapter6, results)
    with pytest.raises(SystemExit, match="today's code does not reproduce the stored history"):
        ship_results_script().main(["--restamp", str(shipped), "--threads", str(torch.get_num_threads())])
    assert "code" not in json.loads((shipped / "meta.json").read_text()), "nothing stamped"


@pytest.mark.slow  # retrains first epochs: a minute or more each
def test_restamp_against_a_commit_compares_todays_code_with_that_commits_on_this_machine(chapter6, results, capsys):
    shipped = shipped_lenet5_one_image_off(chapter6, results)
    ship_results_script().main(["--restamp", str(shipped), "--against", "HEAD", "--threads", str(torch.get_num_threads())])
    out = capsys.readouterr().out
    assert "with the code of HEAD" in out and "LeNet-5: identical" in out and "stamped with today's code" in out
    assert json.loads((shipped / "meta.json").read_text())["code"]


def test_a_notebook_global_named_like_an_attribute_leaves_the_fingerprints_alone():
    """run_ladder reads `rung.name`: a notebook global called `name` is not what it reads."""
    cell = {"__name__": "__main__"}
    exec("def run(rung):\n    return rung.name\n", cell)
    run = cell["run"]
    code, package = store.code_fingerprint(run), store.package_fingerprint(lambda: run(None))
    exec("def name():\n    return 'a notebook function that shares the attribute\\'s name'\n", cell)
    assert store.code_fingerprint(run) == code
    assert store.package_fingerprint(lambda: run(None)) == package
