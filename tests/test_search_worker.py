"""One Optuna study shared by worker processes: the runner starts, watches and stops them, and
refuses a study or storage the workers could not share."""

import optuna
import pytest

from lenet_utils.data import SAMPLE_DIR
from lenet_utils.search_worker import open_storage, run_workers

TRAIN, VAL = 200, 100


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


DIE_IN_A_TRIAL = """
import os, signal, sys, time
import optuna
import lenet_utils.search_worker as worker

def dying(trial, data, num_epochs, seed):  # once B trains a trial of its own, die as if killed
    study = optuna.load_study(study_name="lenet", storage=worker.open_storage(sys.argv[2]))
    while not any(t.state.name == "RUNNING" and t.user_attrs.get("worker") == "B" for t in study.trials):
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)

worker.objective = dying
worker.main(sys.argv[1:])
"""


def test_a_killed_worker_stops_the_other_cleanly_and_leaves_no_trial_running(tmp_path, monkeypatch):
    from lenet_utils import search_worker

    real = search_worker.worker_command

    def command(storage, study, trials, worker, *args, **kwargs):
        line = real(storage, study, trials, worker, *args, **kwargs)
        if worker == "A":  # A dies in its trial; B trains long trials
            return [line[0], "-c", DIE_IN_A_TRIAL, *line[3:]]
        return [*line[:line.index("--epochs")], "--epochs", "500", *line[line.index("--epochs") + 2:]]

    monkeypatch.setattr(search_worker, "worker_command", command)
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
