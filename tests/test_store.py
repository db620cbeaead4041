"""Stored experiments: run once, load after a restart, retrain on request, never half-load."""

import gzip
import json
import shutil
import struct

import pytest
import torch

from lenet_utils import ladder as ladder_module
from lenet_utils import sources, store
from lenet_utils.data import SAMPLE_DIR, load_data
from lenet_utils.history import History, Point
from lenet_utils.ladder import LadderResult, ladder, run_ladder
from lenet_utils.paper import compare_with_paper, load_paper_run, save_paper_run, train_lenet5_paper
from lenet_utils.sweep import SweepResult, make_grid, run_sweep


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
    def broken_save(value, folder):
        raise KeyboardInterrupt  # the kernel was interrupted while saving

    calls = []
    run = lambda: calls.append(1) or len(calls)  # noqa: E731
    with pytest.raises(KeyboardInterrupt):
        store.stored("exp", {}, run, broken_save, load_json)
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
    run = lambda: calls.append(run_ladder) or len(calls)  # noqa: E731
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
