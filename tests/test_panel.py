"""The slider panel driven from Python: moving a control retrains and redraws, a run in progress
is cancelled cleanly, errors leave the controls working."""

import threading

import pytest

from lenet_utils import widgets
from lenet_utils.data import load_data
from lenet_utils.train import History
from lenet_utils.widgets.panel import PanelRun, TrainingPanel


@pytest.fixture(scope="module")
def data():
    return load_data("fashion-mnist", 64, train_size=256, test_size=200, device="cpu", verbose=False)


@pytest.fixture
def panel(data):
    p = TrainingPanel(data, lr=0.1, activation="sigmoid", num_epochs=1, background=False)
    yield p
    p.close()


def test_panel_trains_the_starting_setting_and_shows_it(panel, data):
    assert len(panel.runs) == 1 and panel.history is panel.runs[0].history
    assert panel.runs[0].settings == {"lr": 0.1, "activation": "sigmoid", "pool": "avg",
                                      "num_epochs": 1, "batch_size": 64}
    assert panel.history.num_epochs == 1 and panel.history.status == "completed"
    assert "test acc" in panel.result.value and "sigmoid" in panel.result.value
    sizes = f"{data[0].num_examples:,} training and {data[1].num_examples:,} test images"
    assert sizes in panel.subset_info.value
    assert panel.curves.value[:4] == b"\x89PNG"


def test_moving_a_control_retrains_and_redraws(panel):
    before_png, before_text = panel.curves.value, panel.result.value
    panel.lr.value = 0.3
    assert len(panel.runs) == 2 and panel.runs[-1].settings["lr"] == pytest.approx(0.3)
    assert panel.history.num_epochs == 1
    assert panel.curves.value != before_png
    assert panel.result.value != before_text and "Run 2" in panel.result.value
    assert "Previous, run 1" in panel.result.value  # the previous setting stays on screen
    panel.activation.value = "relu"
    assert panel.runs[-1].settings["activation"] == "relu" and "ReLU" in panel.result.value
    panel.epochs.value = 2
    assert panel.history.num_epochs == 2
    panel.batch_size.value = 128
    panel.pool.value = "max"
    assert [r.settings["pool"] for r in panel.runs][-2:] == ["avg", "max"]
    assert len(panel.runs) == 6


def test_same_setting_gives_the_same_curves(panel):
    first = panel.history
    panel.lr.value = 0.5
    panel.lr.value = 0.1
    assert panel.history.train_loss == first.train_loss and panel.history.test_acc == first.test_acc


def test_set_moves_several_controls_with_one_retrain(panel):
    panel.set(lr=0.2, activation="tanh", num_epochs=2)
    assert len(panel.runs) == 2
    assert panel.runs[-1].settings == {"lr": pytest.approx(0.2), "activation": "tanh", "pool": "avg",
                                       "num_epochs": 2, "batch_size": 64}
    with pytest.raises(ValueError, match="Unknown control momentum"):
        panel.set(momentum=0.9)


def test_an_error_is_shown_and_the_controls_keep_working(panel, monkeypatch):
    real = widgets.make_lenet

    def broken_for_tanh(activation, *args, **kwargs):
        if activation == "tanh":
            raise RuntimeError("no tanh today")
        return real(activation, *args, **kwargs)

    monkeypatch.setattr(widgets, "make_lenet", broken_for_tanh)
    panel.activation.value = "tanh"
    assert "Error" in panel.result.value and "no tanh today" in panel.result.value
    assert len(panel.runs) == 1
    panel.activation.value = "relu"
    assert len(panel.runs) == 2 and "test acc" in panel.result.value


def test_a_diverged_run_is_reported_not_crashed(panel, monkeypatch):
    def diverging(net, train_iter, test_iter, num_epochs, lr, device, **kwargs):
        return History(label=kwargs["label"], train_loss=[1.9], train_acc=[0.3], test_acc=[0.28],
                       seconds=[0.1], lr=[lr], status="diverged", message="loss became nan")

    monkeypatch.setattr(widgets, "train_ch6", diverging)
    panel.set(lr=10.0, activation="relu")
    assert panel.history.status == "diverged" and len(panel.runs) == 2
    assert "test acc 0.280" in panel.result.value and "Diverged after 1 epoch" in panel.result.value
    run = PanelRun(3, panel.settings, History(status="diverged", message="loss became nan"))
    assert run.result().startswith("Run 3 (lr 10, ReLU, average pooling, 1 epoch, batch 64): test acc n/a")
    # the browser test waits until the word "training" has gone from the result line
    assert "diverged" in run.result() and "training" not in run.result().lower()


def test_background_panel_trains_the_last_of_several_quick_moves(data):
    p = TrainingPanel(data, lr=0.1, num_epochs=1, start=False, debounce=0.2)
    try:
        assert p.runs == []
        p.lr.value = 0.2
        p.lr.value = 0.4
        p.activation.value = "relu"
        assert "Training" in p.result.value
        p.wait(timeout=120)
        assert not p.busy
        assert [r.settings["activation"] for r in p.runs] == ["relu"]
        assert p.runs[0].settings["lr"] == pytest.approx(0.4)
        assert "test acc" in p.result.value and "Training" not in p.result.value
    finally:
        p.close()


def test_moving_a_control_cancels_the_run_in_progress(data, monkeypatch):
    started, calls = threading.Event(), []
    real = widgets.train_ch6

    def held_first_run(net, train_iter, *args, **kwargs):
        calls.append(kwargs.get("label"))
        if len(calls) == 1:  # hold the first run until the control moves, then let it go on
            started.set()
            assert train_iter.cancel.wait(60)
        return real(net, train_iter, *args, **kwargs)

    monkeypatch.setattr(widgets, "train_ch6", held_first_run)
    p = TrainingPanel(data, lr=0.1, num_epochs=3, debounce=0)
    try:
        assert started.wait(60)
        p.lr.value = 0.3
        p.wait(timeout=120)
        assert len(calls) == 2 and p.cancelled == 1
        assert len(p.runs) == 1 and p.runs[0].settings["lr"] == pytest.approx(0.3)
        assert p.runs[0].history.num_epochs == 3 and p.runs[0].number == 1
        assert "Run 1" in p.result.value and "Training" not in p.result.value
    finally:
        p.close()


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "swish"}, "activation must be one of"),
    ({"pool": "median"}, "pool must be one of"),
    ({"batch_size": 100}, "batch_size must be one of"),
    ({"lr": 50.0}, "between 0.001 and 10"),
    ({"num_epochs": 0}, "between 1 and 10"),
])
def test_bad_starting_values_are_rejected(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingPanel(data, start=False, **kwargs)


def test_css_classes_for_browser_tests(panel):
    assert "lenet-panel" in panel.ui._dom_classes
    for widget, css in ((panel.lr, "lenet-lr"), (panel.activation, "lenet-activation"),
                        (panel.result, "lenet-result"), (panel.curves, "lenet-curves")):
        assert css in widget._dom_classes
    assert [label for label, _ in panel.activation.options] == ["sigmoid", "tanh", "ReLU"]
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
