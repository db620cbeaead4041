"""The slider panel driven from Python: each move trains through train_ch6 with live curves, runs
stay in view, a move cancels the run in progress before its next batch, errors leave the controls
working. Runs on the bundled sample (hermetic)."""

import base64
import io
import math
import re
import threading

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import rgb_to_hsv, to_hex, to_rgb
from matplotlib.text import Text
from PIL import Image

from lenet_utils.data import SAMPLE_DIR, load_data
from lenet_utils.history import History, Point
from lenet_utils.quick_mode import QUICK_TRAIN_SIZE
from lenet_utils.models import make_lenet
from lenet_utils.endings import divergence_message
from lenet_utils.optimizers import make_optimizer
from lenet_utils import plot
from lenet_utils.plot import MIN_TEXT_PX, PICTURE_MIN_PX, PICTURE_PX, LivePicture, interval_means, run_style
from lenet_utils.widgets import panel as panel_module
from lenet_utils.widgets.panel import (DEFAULTS, RUNS_SHOWN, PanelRun, TrainingPanel, example_sizes, legend_label,
                                       run_curves)

PNG = b"\x89PNG"


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def draw_runs(earlier: list[PanelRun], current: PanelRun | None) -> bytes:
    """The panel's picture of these runs, as its snapshot draws it."""
    return plot.draw_runs(run_curves([*earlier, *([current] if current is not None else [])]))


def live_png(live: LivePicture, run: PanelRun) -> bytes:
    """The live picture with ``run``'s curves as they are now, as the panel redraws it."""
    now = run_curves([run])[0]
    return live.png(now.loss, now.acc)


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
    assert run.settings == {**DEFAULTS, "examples": run.settings["examples"], "seed": 0}
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


@pytest.mark.slow  # 61 s on the shared 2-core machine
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
    panel.examples.value = 500
    assert len(panel.runs) == 8 and len(calls) == 7
    assert panel.runs[-1].settings == {"lr": pytest.approx(0.3), "activation": "tanh", "optimizer": "adam",
                                       "init": "pytorch", "pool": "max", "batch_size": 64, "examples": 500,
                                       "seed": 0}
    assert panel.runs[-1].examples == 500
    assert all(c["hook"] is not None and c["init"] is False for c in calls)
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
    p = TrainingPanel(sample, background=False, start=False, redraw_every=0, examples=2_500)
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
    assert legend_label(run, panel.runs[-2:]) == f"run {run.number}: lr 10, seed 0 (diverged)"
    assert "diverged" in panel.table.value


def test_run_again_trains_the_next_seed_and_draws_a_different_curve(panel):
    first = panel.runs[-1]
    panel.rerun_button.click()
    panel.run_again()
    runs = panel.runs[-3:]
    assert [r.seed for r in runs] == [0, 1, 2] and all(r.describe() == first.describe() for r in runs)
    curves = [run_curves([r])[0] for r in runs]
    assert len({tuple(c.loss[1]) for c in curves}) == 3, "each seed trains another curve"
    assert len({tuple(c.acc[1]) for c in curves}) > 1
    assert [legend_label(r, runs) for r in runs] == [f"run {r.number}: ReLU, SGD, lr 0.1, seed {r.seed}" for r in runs]
    assert "), seed 2: test acc" in panel.result.value
    assert runs[-1].row()["seed"] == 2 and re.search(r"<th[^>]*>seed</th>", panel.table.value)
    assert re.search(r"examples 640</td><td[^>]*>2</td>", panel.table.value), "the newest row names seed 2"
    panel.lr.value = 0.2  # a move trains the panel's seed again: settings compare from the same start
    assert panel.runs[-1].seed == 0


def test_a_run_that_diverges_at_once_is_drawn_on_top_and_labelled_where_it_ends():
    runs = chance_runs(2)
    for number, at in ((3, 64), (4, 96), (5, 128)):  # three runs diverge within their first batches
        runs.append(PanelRun(number, {**runs[0].settings, "lr": 10.0}, History(status="diverged"), diverged_at=at))
    fig, renderer = drawn(runs[:-1], runs[-1])
    ax_loss = fig.axes[0]
    marks = [line for line in ax_loss.get_lines() if line.get_marker() == "X"]
    assert len(marks) == 3 and all(m.get_zorder() > max(line.get_zorder() for line in ax_loss.get_lines()
                                                        if line.get_marker() != "X") for m in marks), \
        "the X marks are drawn over every run's line"
    assert all(m.get_markersize() >= 12 and not m.get_clip_on() for m in marks)
    assert [tuple(m.get_xydata()[0]) for m in marks] == [(64, plot.LOSS_TOP), (96, plot.LOSS_TOP), (128, plot.LOSS_TOP)]
    labels = [t for t in ax_loss.texts if t.get_visible() and "diverged" in t.get_text()]
    assert [t.get_text() for t in labels] == ["runs 3, 4 and 5 diverged"], "one label for marks side by side"
    box, last = labels[0].get_window_extent(renderer), max(m.get_window_extent(renderer).x1 for m in marks)
    assert box.x0 >= last - 1, "the label starts right of the last X, covering none"
    assert abs(box.y1 - ax_loss.get_window_extent(renderer).y1) < 20, "it sits where the curves end, at the top"
    others = [t.get_window_extent(renderer) for t in ax_loss.texts if t.get_visible() and t is not labels[0]]
    assert not [o for o in others if o.overlaps(box)]
    # a run that diverged later: its line goes on from its last point up to its X
    late = PanelRun(6, runs[0].settings, History(status="diverged", points=runs[0].history.points[:3]),
                    diverged_at=20_000)
    fig, _ = drawn(runs[:1], late)
    line = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("run 6")][0]
    assert tuple(line.get_xydata()[-1]) == (20_000, plot.LOSS_TOP) and len(line.get_xydata()) == 4
    assert [t.get_text() for t in fig.axes[0].texts if t.get_visible() and "diverged" in t.get_text()] == \
        ["run 6 diverged"]


def test_the_text_saved_before_any_run_claims_nothing_the_picture_may_contradict(data):
    p = TrainingPanel(data, background=False, start=False)
    try:
        assert "no run" not in p.summary() and "run" not in p.summary().split(":")[1].replace("train", "")
        p.retrain()
        assert "ReLU, SGD, lr 0.1" in p.summary() and "completed" in p.summary()
    finally:
        p.close()


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

    def watched(*args, hook, **kwargs):
        run = len(histories)

        def counting_hook(history, net):
            calls.append(run)
            if run == 0 and calls.count(0) == 3:
                reached.set()
                for _ in range(600):  # hold this batch until the move has been seen
                    if hook(history, net):
                        break
                    threading.Event().wait(0.05)
            return hook(history, net)

        histories.append(None)
        histories[run] = real(*args, hook=counting_hook, **kwargs)
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
    ({"lr": "0.1"}, r"lr='0.1' is not valid: a learning rate is a positive number"),
    ({"lr": 0}, r"lr=0 is not valid: a learning rate is a positive number"),
    ({"debounce": -1}, r"debounce=-1 is not valid: it must be a number of seconds >= 0"),
    ({"redraw_every": "fast"}, r"redraw_every='fast' is not valid: it must be a number of seconds"),
    ({"threads": "2"}, r"threads='2' is not valid: give a whole number of CPU threads >= 1, or None"),
    ({"threads": 0}, r"threads=0 is not valid: give a whole number of CPU threads >= 1, or None"),
    ({"examples": 5_000}, r"examples must be one of 500, 640 \(sizes up to the 640 training images"),
    ({"num_epochs": 3}, "Unknown setting num_epochs"),
])
def test_bad_starting_values_are_rejected(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingPanel(data, start=False, **kwargs)


def test_a_bad_learning_rate_given_to_set_is_refused_before_any_control_moves(panel):
    runs = len(panel.runs)
    with pytest.raises(ValueError, match=r"lr='0.5' is not valid: a learning rate is a positive number"):
        panel.set(lr="0.5", activation="tanh")
    assert len(panel.runs) == runs and panel.activation.value == "relu"


def test_a_starting_learning_rate_off_the_slider_is_clamped_with_a_note(data):
    p = TrainingPanel(data, start=False, lr=50.0)
    try:
        assert p.settings["lr"] == pytest.approx(10.0)
        assert "50" in p.note.value and "train_ch6" in p.note.value
    finally:
        p.close()


def test_the_learning_rate_is_checked_in_checks_learning_rate_alone(data, monkeypatch):
    asked = []
    real = panel_module.learning_rate

    def spy(value, name="lr"):
        asked.append(value)
        return real(value, name)

    monkeypatch.setattr(panel_module, "learning_rate", spy)
    TrainingPanel(data, start=False, lr=0.3).close()
    assert asked == [0.3]


def test_the_live_picture_redraws_only_the_new_points_and_ends_as_the_full_picture():
    earlier = PanelRun(1, dict(DEFAULTS), History(points=[Point(0.5, 5_000, 2.0, 0.3), Point(1.0, 10_000, 1.0, 0.6)]))
    current = PanelRun(2, {**DEFAULTS, "lr": 0.3}, History())
    live = LivePicture(run_curves([earlier, current]), budget=10_000)
    empty = live_png(live, current)
    assert np.array_equal(pixels(live_png(live, current)), pixels(empty))  # nothing new, nothing changes
    current.history.points.append(Point(0.5, 5_000, 1.5, 0.5))
    assert not np.array_equal(pixels(live_png(live, current)), pixels(empty))  # the new point is drawn
    current.history.points.append(Point(1.0, 10_000, 0.5, 0.8))
    assert np.abs(pixels(live_png(live, current)) - pixels(draw_runs([earlier], current))).mean() < 0.1


def test_the_loss_curve_follows_the_batches_between_points():
    run = PanelRun(1, dict(DEFAULTS), History(points=[Point(0.25, 100, 2.0, 0.1), Point(0.5, 200, 1.5, 0.3),
                                                       Point(1.0, 400, 1.0, 0.5)]))
    assert interval_means(run.history.points) == [(100, 2.0), (200, 1.0), (400, 0.5)]


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
                        (panel.table, "lenet-runs"), (panel.clear_button, "lenet-clear"),
                        (panel.examples, "lenet-examples"), (panel.rerun_button, "lenet-rerun")):
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


# ---------------------------------------------------------------- a picture a learner can read

def chance_runs(count: int = RUNS_SHOWN, first: int = 96) -> list[PanelRun]:
    """``count`` runs that sit on the guessing line the whole way (as sigmoid at lr 0.1 and a dead
    ReLU do) and end at the same point, every setting differing between them (the longest legend)."""
    settings = [dict(activation="sigmoid", optimizer="adam", lr=0.001, init="pytorch", pool="avg", batch_size=256),
                dict(activation="tanh", optimizer="sgd", lr=0.0013, init="xavier", pool="max", batch_size=128),
                dict(activation="relu", optimizer="adam", lr=10.0, init="pytorch", pool="avg", batch_size=16),
                dict(activation="sigmoid", optimizer="sgd", lr=0.9, init="xavier", pool="max", batch_size=32),
                dict(activation="tanh", optimizer="adam", lr=1.0, init="pytorch", pool="avg", batch_size=64)]
    return [PanelRun(first + i, {**s, "examples": 60_000 - i}, seconds=1.0,
                     history=History(points=[Point(k / 12, 5_000 * k, math.log(10), 0.1, 0.1) for k in range(1, 13)]))
            for i, s in zip(range(count), settings)]


def drawn(earlier: list[PanelRun], current: PanelRun | None):
    """The panel's figure for these runs, drawn, and its renderer (for sizes in pixels)."""
    fig, _ = plot._runs_figure(run_curves([*earlier, *([current] if current is not None else [])]))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return fig, canvas.get_renderer()


def shown_texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_the_guessing_lines_are_named_in_the_legend_where_no_curve_covers_them():
    runs = chance_runs()
    fig, renderer = drawn(runs[:-1], runs[-1])
    ax_loss, ax_acc = fig.axes
    assert not [t.get_text() for ax in fig.axes for t in ax.texts if "guess" in t.get_text()], \
        "a label inside the axes sits under the curves on the guessing line"
    legend = ax_acc.get_legend()
    assert any("guessing" in t.get_text() and "ln 10" in t.get_text() for t in legend.get_texts())
    box = legend.get_window_extent(renderer)
    assert all(not box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
    assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1), \
        "the longest legend (every setting differs) must fit in the picture"


@pytest.mark.parametrize("case", ["no run", "five runs on the guessing line", "a diverged run"])
def test_every_text_of_the_picture_is_at_least_11_px_at_1_to_1(case):
    runs = chance_runs()
    if case == "a diverged run":
        runs[-1].history.status, runs[-1].diverged_at = "diverged", 320
    earlier, current = ([], None) if case == "no run" else (runs[:-1], runs[-1])
    fig, _ = drawn(earlier, current)
    texts = shown_texts(fig)
    assert len(texts) >= 10  # titles, axis labels, ticks (and the legend, the end labels)
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() * fig.dpi / 72 < MIN_TEXT_PX]
    assert not small, f"text under {MIN_TEXT_PX} px: {small}"
    png = draw_runs(earlier, current)
    assert Image.open(io.BytesIO(png)).size == PICTURE_PX == tuple(round(v) for v in fig.bbox.size), \
        "the PNG holds the figure at its own dpi, so a point of text is dpi/72 pixels of it"


def test_the_picture_scales_down_only_as_far_as_its_text_stays_legible_and_the_controls_wrap(panel):
    width, height = Image.open(io.BytesIO(panel.curves.value)).size
    assert (width, height) == PICTURE_PX and Image.open(io.BytesIO(panel.snapshot())).size == (width, height)
    layout = panel.curves.layout
    assert (layout.width, layout.max_width, layout.height) == ("100%", f"{width}px", "auto"), \
        "as wide as the output area, never wider than the PNG (never stretched)"
    assert layout.min_width == f"{PICTURE_MIN_PX}px"
    fig, _ = drawn(*(lambda runs: (runs[:-1], runs[-1]))(chance_runs()))
    smallest = min(t.get_fontsize() for t in shown_texts(fig)) * fig.dpi / 72  # pixels of the PNG
    assert smallest * PICTURE_MIN_PX / width >= MIN_TEXT_PX, "at its narrowest its text is still 11 px"
    assert PICTURE_MIN_PX <= 800, "a notebook about 900 px wide (1280 px window, file browser open) holds it"
    controls = panel.ui.children[1]
    assert controls.layout.flex_flow == "row wrap", "the control columns wrap instead of scrolling"
    assert all(column.layout.flex == "0 0 auto" for column in controls.children), "a column never shrinks"

    def px(widget) -> int:  # the width a widget asks for: its own, or its children's side by side or stacked
        if (widget.layout.width or "").endswith("px"):
            return int(widget.layout.width[:-2])
        widths = [px(child) for child in getattr(widget, "children", ())]
        return sum(widths) if isinstance(widget, widgets.HBox) else max(widths, default=0)

    assert sum(px(c) for c in controls.children) <= int(panel.ui.layout.max_width[:-2]), \
        "at full width the three columns fit side by side"
    assert max(px(c) for c in controls.children) <= 800, "at 800 px each column fits on its own"


def test_runs_on_top_of_each_other_keep_their_own_look_and_label():
    runs = chance_runs()
    fig, renderer = drawn(runs[:-1], runs[-1])
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if line.get_label().startswith("run")]
        assert len(lines) == RUNS_SHOWN
        assert len({line.get_marker() for line in lines}) == len({to_hex(line.get_color()) for line in lines}) \
            == len({str(run_style(r.number, r is runs[-1])["ls"]) for r in runs}) == RUNS_SHOWN, \
            "each run needs a marker and dashes of its own, not only a colour"
        labels = [t for t in ax.texts if t.get_visible() and t.get_text().startswith("run ")]
        assert sorted(t.get_text() for t in labels) == sorted(f"run {r.number}" for r in runs)
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)], \
            "runs ending at the same point need end labels that do not cover each other"
        assert all(ax.get_window_extent(renderer).contains(b.x1 - 1, b.y1 - 1) for b in boxes)


def test_the_newest_run_is_drawn_in_a_strong_colour_and_older_ones_lighter():
    runs = chance_runs()
    fig, _ = drawn(runs[:-1], runs[-1])
    lines = {line.get_label().split(":")[0]: line for line in fig.axes[0].get_lines()
             if line.get_label().startswith("run")}
    newest = lines.pop(f"run {runs[-1].number}")
    h, saturation, value = rgb_to_hsv(to_rgb(newest.get_color()))
    assert saturation >= 0.6 and value >= 0.5, f"the newest run is {to_hex(newest.get_color())}, not a strong colour"
    assert newest.get_linewidth() > max(line.get_linewidth() for line in lines.values())
    older = [rgb_to_hsv(to_rgb(line.get_color())) for line in lines.values()]
    assert all(0.2 <= s < saturation and v >= value for _, s, v in older), "older runs: lighter, but not grey"
    hues = sorted([h, *(hh for hh, _, _ in older)])
    assert min(b - a for a, b in zip(hues, hues[1:])) > 0.04, "every run shown has a hue of its own"
    colour = (np.array(to_rgb(newest.get_color())) * 255).round()
    assert (np.abs(pixels(draw_runs(runs[:-1], runs[-1])) - colour).max(axis=2) < 2).sum() > 300, \
        "the PNG shows the newest run in its colour"


def test_the_live_picture_labels_the_running_run_where_it_ends_now():
    earlier, current = chance_runs(2)
    current.history.points, points = [], current.history.points
    live = LivePicture(run_curves([earlier, current]), budget=60_000)
    live_png(live, current)
    current.history.points.extend(points[:6])
    half = live_png(live, current)
    _, label, _ = live._parts[0]
    assert label.get_visible() and label.get_text() == f"run {current.number}"
    assert label.get_position()[0] == points[5].examples
    current.history.points.extend(points[6:])
    assert np.abs(pixels(live_png(live, current)) - pixels(draw_runs([earlier], current))).mean() < 0.1
    assert not np.array_equal(pixels(half), pixels(live_png(live, current)))


def test_examples_per_run_offers_what_the_training_set_holds():
    assert list(example_sizes(60_000).items())[-1] == ("60,000 (all)", 60_000)
    assert list(example_sizes(60_000).values())[:-1] == [500, 1_000, 2_500, 5_000, 7_500, 10_000, 20_000]
    assert example_sizes(640) == {"500": 500, "640 (all)": 640}


def test_quick_mode_offers_only_the_examples_a_run_uses_and_says_how_many_it_used(monkeypatch):
    monkeypatch.setenv("LENET_QUICK", "1")
    monkeypatch.setenv("LENET_DATA_DIR", str(SAMPLE_DIR))  # the bundled sample, as quick mode's 2,000 images
    p = TrainingPanel("fashion-mnist", background=False, device="cpu")
    try:
        n_train = p.train_iter.num_examples
        assert n_train == QUICK_TRAIN_SIZE
        offered = [value for _, value in p.examples.options]
        assert max(offered) == n_train and p.examples.value == n_train
        assert f"{n_train:,} training images (quick mode" in p.data_info.value
        for examples in (n_train, offered[0]):
            if examples != p.examples.value:
                p.set(examples=examples)
            run = p.runs[-1]
            said = re.search(r"examples ([\d,]+)\), seed 0: test acc .* after ([\d,]+) examples", p.result.value)
            assert said, p.result.value
            assert said.group(1) == said.group(2) == f"{examples:,}" == f"{run.examples:,}"
        with pytest.raises(ValueError, match=r"examples must be one of 500, 1,000, 2,000 \(.*LENET_QUICK"):
            p.set(examples=2_500)
    finally:
        p.close()


def _all_widgets(widget) -> list:
    return [widget, *(w for child in getattr(widget, "children", ()) for w in _all_widgets(child))]


def test_after_a_finished_run_the_panel_can_run_again_and_start_afresh(data):
    p = TrainingPanel(data, debounce=0)
    try:
        p.wait(timeout=120)
        inside = _all_widgets(p.ui)
        assert p.rerun_button in inside and p.clear_button in inside
        assert not any(w.disabled for w in inside if hasattr(w, "disabled")), "every control stays usable"
        p.rerun_button.click()
        p.wait(timeout=120)
        assert [r.number for r in p.runs] == [1, 2]
        assert p.runs[1].settings == {**p.runs[0].settings, "seed": 1}, "run again: the same setting, the next seed"
        p.clear_button.click()
        assert p.runs == [] and p.table.value == "" and "cleared" in p.result.value
        assert p.curves.value == p.snapshot() == plot.draw_runs([])
        p.rerun_button.click()
        p.wait(timeout=120)
        assert [r.number for r in p.runs] == [3] and "test acc" in p.result.value
    finally:
        p.close()


def test_the_saved_picture_is_what_the_panel_shows_after_a_diverged_run(panel):
    panel.set(lr=0.9, activation="sigmoid")
    panel.set(lr=10.0, activation="relu")
    assert panel.runs[-1].history.status == "diverged"
    assert np.array_equal(pixels(panel.snapshot()), pixels(panel.curves.value))
