"""The slider panel driven from Python: each move trains through train_ch6 with live curves, runs
stay in view, a move cancels the run in progress before its next batch, errors leave the controls
working. Runs on the bundled sample (hermetic)."""

import base64
import io
import math
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from lenet_utils.data import SAMPLE_DIR, load_data
from lenet_utils.history import History, Point
from lenet_utils.models import make_lenet
from lenet_utils.train import divergence_message, make_optimizer
from lenet_utils.widgets import panel as panel_module
from lenet_utils.widgets.panel import (DEFAULTS, RUNS_SHOWN, LivePicture, PanelRun, TrainingPanel, draw_runs,
                                       interval_losses, run_label)

PNG = b"\x89PNG"


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


@pytest.fixture(scope="module")
def data():
    return load_data("fashion-mnist", 32, train_size=640, test_size=200, device="cpu", root=SAMPLE_DIR,
                     verbose=False)


@pytest.fixture
def panel(data):
    p = TrainingPanel(data, background=False)
    yield p
    p.close()


def test_the_starting_setting_trains_with_a_test_score_at_every_point(panel, data):
    assert len(panel.runs) == 1 and panel.history is panel.runs[0].history
    run = panel.runs[0]
    assert run.settings == {**DEFAULTS, "examples": run.settings["examples"]}
    assert panel.history.status == "completed"
    points = panel.history.points
    assert len(points) >= 10, "the curves need a point every few batches"
    assert [p.examples for p in points] == sorted({p.examples for p in points})
    assert points[-1].examples == data[0].num_examples  # the budget is capped by the data there is
    assert all(p.test_acc is not None and 0 <= p.test_acc <= 1 for p in points)
    assert run.test_acc == points[-1].test_acc == panel.history.final_test_acc
    assert "test acc" in panel.result.value and "ReLU" in panel.result.value
    assert "200 held-out images" in panel.result.value
    assert f"{data[0].num_examples:,} training images" in panel.data_info.value
    assert panel.curves.value[:4] == PNG and "<td" in panel.table.value


def test_every_control_retrains_with_its_setting(panel, data, monkeypatch):
    calls, nets = [], []
    real, real_net = panel_module.train_ch6, panel_module.fresh_lenet

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    def spy_net(generator, **kwargs):
        nets.append(kwargs)
        return real_net(generator, **kwargs)

    monkeypatch.setattr(panel_module, "train_ch6", spy)
    monkeypatch.setattr(panel_module, "fresh_lenet", spy_net)
    png = panel.curves.value
    panel.lr.value = 0.3
    assert panel.runs[-1].settings["lr"] == pytest.approx(0.3) and panel.curves.value != png
    panel.activation.value = "tanh"
    panel.optimizer.value = "adam"
    assert calls[-1]["optimizer"] is panel_module.FUSED["adam"] and "Adam" in panel.result.value
    panel.init.value = "pytorch"
    assert nets[-1]["xavier"] is False and nets[-2]["xavier"] is True
    panel.pool.value = "max"
    panel.batch_size.value = 64
    panel.examples.value = 5_000
    assert len(panel.runs) == 8 and len(calls) == 7
    assert panel.runs[-1].settings == {"lr": pytest.approx(0.3), "activation": "tanh", "optimizer": "adam",
                                       "init": "pytorch", "pool": "max", "batch_size": 64, "examples": 5_000}
    assert all(c["stop"] is not None and c["on_point"] is not None and c["init"] is False for c in calls)
    assert nets[-1]["activation"] == "tanh" and nets[-1]["pool"] == "max"


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_fused_optimizers_take_the_same_steps_as_the_plain_ones(name):
    nets = []
    for make in (lambda params, lr: make_optimizer(name, params, lr), panel_module.FUSED[name]):
        torch.manual_seed(0)
        net = make_lenet("relu", "avg")
        opt = make(net.parameters(), lr=0.01)
        for step in range(3):
            X, y = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(step)), torch.arange(8)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(X), y).backward()
            opt.step()
        nets.append(net)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.allclose(a, b, atol=1e-5)  # steps are 0.01; fused kernels round differently


def test_the_curves_redraw_while_a_run_trains():
    sample = load_data("fashion-mnist", 32, train_size=3000, test_size=200, device="cpu", root=SAMPLE_DIR,
                       verbose=False)
    p = TrainingPanel(sample, background=False, start=False, redraw_every=0, examples=5_000)
    pictures, results = [], []
    p.curves.observe(lambda change: pictures.append(change["new"]), names="value")
    p.result.observe(lambda change: results.append(change["new"]), names="value")
    p.retrain()
    assert len(p.runs) == 1
    during = [r for r in results if r.startswith("Training run 1")]
    assert len(during) >= 5 and "examples ..." in during[-1]
    assert len(set(pictures)) >= 3, "the curves must move while the run trains, not only at its end"


def test_earlier_runs_stay_in_view_until_cleared(panel):
    for lr in (0.2, 0.3, 0.5, 1.0, 2.0):
        panel.lr.value = lr
    assert len(panel.runs) == 6
    assert panel.table.value.count("<tr>") == RUNS_SHOWN + 1  # the header and the last five runs
    assert "lr 2" in panel.table.value and ">1<" not in panel.table.value  # run 1 has left the view
    text = panel.picture_bundle()["text/plain"]
    assert all(f"lr {lr:.2g}" in text for lr in (0.3, 0.5, 1.0, 2.0))
    panel.clear()
    assert panel.runs == [] and panel.table.value == ""
    panel.lr.value = 0.1
    assert [r.number for r in panel.runs] == [7]  # numbering goes on after a clear


def test_the_same_setting_gives_the_same_curves(panel):
    first = panel.history
    panel.lr.value = 0.5
    panel.lr.value = DEFAULTS["lr"]
    again = panel.history
    assert [(p.train_loss, p.test_acc) for p in again.points] == [(p.train_loss, p.test_acc) for p in first.points]


def test_a_too_large_learning_rate_is_drawn_and_labelled_as_diverged(panel):
    panel.lr.value = 10.0
    run = panel.runs[-1]
    assert run.history.status == "diverged" and run.diverged_at > 0
    how = "became NaN/inf" if "loss became" in run.history.message else "exploded"
    assert f"checkpoint after {run.diverged_at:,} examples (the loss {how})" in panel.result.value
    assert math.isnan(run.test_acc)
    assert "training" not in panel.result.value.lower()  # the browser test waits for it to go
    assert run_label(run, ["lr"]) == f"run {run.number}: lr 10 (diverged)"
    assert "diverged" in panel.table.value


def test_the_diverged_line_names_the_rule_that_fired():
    """It used to say "NaN/inf" also when the loss exploded to a finite value past the limit."""
    history = History(label="x", device="cpu", status="diverged",
                      message=divergence_message(1e5, 10, 10.0, "in epoch 1"))
    run = PanelRun(1, dict(DEFAULTS), history, seconds=0.1, diverged_at=64)
    assert "(the loss exploded)" in run.result() and "NaN" not in run.result()


def test_set_moves_several_controls_with_one_run(panel):
    panel.set(lr=0.2, activation="sigmoid", optimizer="adam")
    assert len(panel.runs) == 2
    assert panel.runs[-1].settings["activation"] == "sigmoid"
    with pytest.raises(ValueError, match="Unknown control momentum"):
        panel.set(momentum=0.9)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        panel.set(optimizer="rmsprop")
    assert len(panel.runs) == 2


def test_an_error_is_shown_and_the_controls_keep_working(panel, monkeypatch):
    real = panel_module.fresh_lenet

    def broken_for_tanh(generator, activation, **kwargs):
        if activation == "tanh":
            raise RuntimeError("no tanh today")
        return real(generator, activation=activation, **kwargs)

    monkeypatch.setattr(panel_module, "fresh_lenet", broken_for_tanh)
    panel.activation.value = "tanh"
    assert "failed" in panel.result.value and "no tanh today" in panel.result.value
    assert len(panel.runs) == 2 and panel.runs[-1].history.status == "failed"
    with pytest.raises(RuntimeError, match="no tanh today"):
        panel.wait()
    panel.activation.value = "sigmoid"
    assert len(panel.runs) == 3 and "test acc" in panel.result.value
    panel.wait()  # the latest run trained: nothing to raise


def test_a_burst_of_moves_trains_only_the_last_setting_in_the_background(data):
    p = TrainingPanel(data, start=False, debounce=0.2)
    try:
        p.lr.value = 0.2
        p.lr.value = 0.4
        p.activation.value = "tanh"
        assert "Training" in p.result.value
        p.wait(timeout=120)
        assert not p.busy
        assert [(r.settings["activation"], round(r.settings["lr"], 3)) for r in p.runs] == [("tanh", 0.4)]
        assert "test acc" in p.result.value and "Training" not in p.result.value
    finally:
        p.close()


def test_a_move_cancels_the_run_in_progress_before_its_next_batch(data, monkeypatch):
    """The first run reaches its 3rd batch, a control moves, and no further batch of it trains."""
    reached, calls, histories = threading.Event(), [], []
    real = panel_module.train_ch6

    def watched(*args, stop, **kwargs):
        run = len(histories)

        def counting_stop():
            calls.append(run)
            if run == 0 and calls.count(0) == 3:
                reached.set()
                for _ in range(600):  # hold this batch until the move has been seen
                    if stop():
                        break
                    threading.Event().wait(0.05)
            return stop()

        histories.append(None)
        histories[run] = real(*args, stop=counting_stop, **kwargs)
        return histories[run]

    monkeypatch.setattr(panel_module, "train_ch6", watched)
    p = TrainingPanel(data, debounce=0)
    try:
        assert reached.wait(60)
        p.lr.value = 0.3
        p.wait(timeout=120)
        assert histories[0].status == "stopped" and calls.count(0) == 3
        assert histories[0].points == [] or histories[0].points[-1].examples <= 2 * 32
        assert p.cancelled == 1 and len(p.runs) == 1
        assert p.runs[0].settings["lr"] == pytest.approx(0.3) and p.runs[0].number == 1
        assert p.runs[0].history is histories[1] and histories[1].status == "completed"
        assert "Run 1" in p.result.value and "Training" not in p.result.value
    finally:
        p.close()


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "swish"}, "activation must be one of"),
    ({"init": "kaiming"}, "init must be one of"),
    ({"batch_size": 100}, "batch_size must be one of"),
    ({"lr": 50.0}, "between 0.001 and 10"),
    ({"num_epochs": 3}, "Unknown setting num_epochs"),
])
def test_bad_starting_values_are_rejected(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingPanel(data, start=False, **kwargs)


def test_the_live_picture_redraws_only_the_new_points_and_ends_as_the_full_picture():
    earlier = PanelRun(1, dict(DEFAULTS), History(points=[Point(0.5, 5_000, 2.0, 0.3), Point(1.0, 10_000, 1.0, 0.6)]))
    current = PanelRun(2, {**DEFAULTS, "lr": 0.3}, History())
    live = LivePicture([earlier], current, budget=10_000)
    empty = live.png()
    assert np.array_equal(pixels(live.png()), pixels(empty))  # nothing new, nothing changes
    current.history.points.append(Point(0.5, 5_000, 1.5, 0.5))
    assert not np.array_equal(pixels(live.png()), pixels(empty))  # the new point is drawn
    current.history.points.append(Point(1.0, 10_000, 0.5, 0.8))
    assert np.abs(pixels(live.png()) - pixels(draw_runs([earlier], current))).mean() < 0.1


def test_the_loss_curve_follows_the_batches_between_points():
    run = PanelRun(1, dict(DEFAULTS), History(points=[Point(0.25, 100, 2.0, 0.1), Point(0.5, 200, 1.5, 0.3),
                                                       Point(1.0, 400, 1.0, 0.5)]))
    assert interval_losses(run) == [(100, 2.0), (200, 1.0), (400, 0.5)]


def test_the_saved_output_holds_a_picture_and_the_runs(panel):
    bundle = panel.picture_bundle()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ""  # hidden in JupyterLab
    saved, shown = pixels(base64.b64decode(bundle["image/png"])), pixels(panel.curves.value)
    assert saved.shape == shown.shape and np.abs(saved - shown).mean() < 0.1  # 0.6 with a run missing
    assert "ReLU, SGD, lr 0.1" in bundle["text/plain"] and "completed" in bundle["text/plain"]


def test_wait_refreshes_the_saved_picture_and_runs_alone_do_not(data, monkeypatch):
    import IPython.display

    updates = []
    monkeypatch.setattr(IPython.display, "update_display",
                        lambda bundle, raw, display_id: updates.append((bundle, display_id)))
    p = TrainingPanel(data, start=False, debounce=0)
    try:
        p._picture_id = "panel-output"  # as show() sets it in a notebook
        p.lr.value = 0.2
        while p.busy:
            threading.Event().wait(0.05)
        assert updates == [], "a worker thread's refresh may miss the output a notebook run saves"
        p.wait()
        bundle, display_id = updates[-1]
        assert display_id == "panel-output" and "lr 0.2" in bundle["text/plain"]
        assert base64.b64decode(bundle["image/png"]) == p.snapshot()
    finally:
        p.close()


def test_css_classes_for_browser_tests(panel):
    assert "lenet-panel" in panel.ui._dom_classes
    for widget, css in ((panel.lr, "lenet-lr"), (panel.activation, "lenet-activation"),
                        (panel.optimizer, "lenet-optimizer"), (panel.init, "lenet-init"),
                        (panel.note, "lenet-note"), (panel.result, "lenet-result"), (panel.curves, "lenet-curves"),
                        (panel.table, "lenet-runs"), (panel.clear_button, "lenet-clear")):
        assert css in widget._dom_classes
    assert [label for label, _ in panel.activation.options] == ["sigmoid", "tanh", "ReLU"]
    assert panel.lr.readout_format == ".2g" and (panel.lr.min, panel.lr.max) == (-3, 1)


# ---------------------------------------------------------------- the notebook's torch state stays its own

def test_a_panel_run_leaves_the_learners_random_numbers_alone(data):
    torch.manual_seed(123)
    torch.rand(3)
    expected = torch.rand(3)
    torch.manual_seed(123)
    torch.rand(3)
    p = TrainingPanel(data, background=False)  # made, and one run trained, in between
    p.close()
    assert len(p.runs) == 1 and torch.equal(torch.rand(3), expected)


def test_the_same_setting_gives_the_same_curves_whatever_the_learner_draws(data, monkeypatch):
    p = TrainingPanel(data, background=False)
    first = p.history
    real = panel_module.train_ch6

    def learner_draws_meanwhile(*args, **kwargs):  # as a notebook cell may while a run trains
        torch.rand(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(panel_module, "train_ch6", learner_draws_meanwhile)
    torch.manual_seed(7)
    p.retrain()
    p.close()
    assert [(q.train_loss, q.test_acc) for q in p.history.points] == [(q.train_loss, q.test_acc) for q in first.points]


def _thread_count_of_a_new_thread() -> int:
    counts = []
    thread = threading.Thread(target=lambda: counts.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return counts[0]


def test_a_background_run_uses_its_threads_and_leaves_every_other_threads_count(data, monkeypatch):
    seen, real = [], panel_module.train_ch6

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(panel_module, "train_ch6", counting)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        p = TrainingPanel(data, threads=1, debounce=0)
        p.wait(timeout=120)
        p.close()
        assert seen == [1], "the run trains on the panel's one thread"
        assert torch.get_num_threads() == 3, "the notebook's thread keeps its count"
        assert _thread_count_of_a_new_thread() == 3, "threads started later get the notebook's count"
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- nothing fails silently

def test_wait_raises_the_error_of_a_background_run_and_its_history_stays_in_view(data, monkeypatch):
    real, scored = panel_module.evaluate, []

    def fails_on_the_third_score(*args, **kwargs):
        if len(scored) == 2:
            raise RuntimeError("disk full")
        scored.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(panel_module, "evaluate", fails_on_the_third_score)
    p = TrainingPanel(data, debounce=0)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            p.wait(timeout=120)
        run = p.runs[-1]
        assert run.history.status == "failed" and len(run.history.points) >= 2
        assert "disk full" in p.result.value and "failed" in p.table.value
        monkeypatch.setattr(panel_module, "evaluate", real)
        p.lr.value = 0.2
        p.wait(timeout=120)  # a run that trains again clears the error
        assert p.runs[-1].history.status == "completed"
    finally:
        p.close()


def test_a_learning_rate_off_the_slider_is_clamped_with_a_note(panel):
    panel.lr.value = 100
    assert panel.runs[-1].settings["lr"] == pytest.approx(10.0)
    note = panel.note.value
    assert "100" in note and "10" in note and "train_ch6" in note
    panel.lr.value = 1e-5  # clamped at the other end
    assert "1e-05" in panel.note.value and "0.001" in panel.note.value
    runs = len(panel.runs)
    panel.lr.value = 1e-6  # clamped to the value it has: no run, but a note
    assert len(panel.runs) == runs and "1e-06" in panel.note.value
    panel.lr.value = 0.2
    assert panel.note.value == ""
