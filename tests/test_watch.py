"""Watch it learn: pause holds training, step trains a few batches (one when asked), resume carries
on, restart trains afresh, and the pictures are redrawn, labelled, numbered, with colour scales that
follow training, and fit the notebook; the model and its history survive a pause."""

import base64
import html
import io
import time

import matplotlib.text
from matplotlib.backends.backend_agg import FigureCanvasAgg
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageOps

from lenet_utils.data import load_data
from lenet_utils.features import capture_feature_maps
from lenet_utils.plot import epoch_curves_figure
from lenet_utils.widgets import watch as watch_module
from lenet_utils.widgets.saved_picture import font
from lenet_utils.widgets.watch import WatchItLearn

EPOCHS, BATCHES = 2, 20  # 320 training images in batches of 16


@pytest.fixture(scope="module")
def data():
    return load_data("fashion-mnist", 16, train_size=16 * BATCHES, test_size=64, device="cpu", verbose=False)


def weights(watch):
    return [p.detach().clone() for p in watch.net.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_pause_step_resume(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, redraw_every=4, slow_motion=0, start=False)
    assert watch.total_batches == EPOCHS * BATCHES and watch.renders == 1
    watch.pause()
    watch.start()
    assert watch.pause() == 0  # held before the very first batch
    assert "paused" in watch.status.value and "batch 0 of 40" in watch.status.value
    assert watch.pause_button.disabled and not watch.resume_button.disabled and not watch.step_button.disabled
    before = weights(watch)
    time.sleep(0.5)
    assert watch.batches_done == 0 and same(before, weights(watch)), "a paused run must not train"

    renders = watch.renders
    assert watch.step(1) == 1
    assert not same(before, weights(watch)), "a step trains one batch"
    assert watch.renders > renders, "a step redraws the pictures"
    assert "batch 1 of 40" in watch.status.value
    after_step = weights(watch)
    time.sleep(0.5)
    assert watch.batches_done == 1 and same(after_step, weights(watch)), "after a step the run stays paused"

    for k in range(2, 7):
        assert watch.step(1) == k
    points = list(watch.points)
    assert len(points) == 1 and points[0].examples == 4 * 16  # the checkpoint after batch 4

    watch.resume()
    assert not watch.pause_button.disabled and watch.resume_button.disabled
    deadline = time.monotonic() + 30
    while watch.batches_done < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    held = watch.pause()
    assert held >= 12
    time.sleep(0.3)
    assert watch.batches_done == held, "pause holds a running run"
    assert watch.points[:len(points)] == points, "pausing keeps what was recorded"

    watch.resume()
    watch.wait(timeout=120)
    assert watch.finished and watch.batches_done == EPOCHS * BATCHES
    history = watch.history
    assert history.status == "completed" and history.num_epochs == EPOCHS
    assert history.points == watch.points and history.points[:len(points)] == points
    assert watch.renders >= len(watch.points), "every checkpoint redraws"
    assert len(watch.kernel_distance) == len(watch.points) and watch.kernel_distance[-1] > 0
    assert "finished" in watch.status.value
    assert watch.pause_button.disabled and watch.resume_button.disabled and watch.step_button.disabled
    assert not watch.restart_button.disabled


def test_close_stops_a_paused_run_and_keeps_its_history(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, redraw_every=4, slow_motion=0, start=False)
    watch.pause()
    watch.start()
    for _ in range(BATCHES + 2):  # into the second epoch
        watch.step(1)
    with pytest.raises(RuntimeError, match="paused"):
        watch.wait()
    watch.close()
    assert watch.finished and watch.history.status == "stopped"
    assert watch.history.num_epochs == 1 and watch.batches_done == BATCHES + 2


def test_starting_a_new_run_stops_the_previous_one(data):
    first = WatchItLearn(data, num_epochs=EPOCHS, slow_motion=0, start=False)
    first.pause()
    first.start()
    first.step(1)
    second = WatchItLearn(data, num_epochs=EPOCHS, slow_motion=0, start=False)
    second.pause()
    second.start()  # as when a learner runs the widget's cell again
    assert first.finished and first.history.status == "stopped" and first.batches_done == 1
    assert not second.finished and second.step(1) == 1
    second.close()
    assert second.finished


def test_the_widget_carries_a_picture_of_its_state(data):
    watch = WatchItLearn(data, num_epochs=1, redraw_every=4, slow_motion=0.01, start=False)
    bundle = watch.picture_bundle()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ""  # hidden in JupyterLab
    picture = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert picture.width > 300 and picture.height > 300
    kernels = watch.kernels_view.value
    start = time.monotonic()
    watch.start().wait(timeout=120)
    assert time.monotonic() - start >= BATCHES * 0.01, "slow motion waits before every batch"
    assert watch.kernels_view.value != kernels, "the kernels picture follows training"
    assert base64.b64decode(watch.picture_bundle()["image/png"]) != base64.b64decode(bundle["image/png"])


def test_bad_arguments_say_what_to_do(data):
    with pytest.raises(ValueError, match="redraw_every"):
        WatchItLearn(data, redraw_every=0, start=False)
    with pytest.raises(ValueError, match="image_index=64 is not valid: it must be a whole number from 0 to 63"):
        WatchItLearn(data, image_index=64, start=False)
    with pytest.raises(ValueError, match="slow_motion must lie on its slider"):
        WatchItLearn(data, slow_motion=2, start=False)
    with pytest.raises(ValueError, match="not a Conv2d layer.*conv1"):
        WatchItLearn(data, kernels="fc1", start=False)
    watch = WatchItLearn(data, num_epochs=1, start=False)
    with pytest.raises(RuntimeError, match="call start"):
        watch.step()


@pytest.mark.parametrize("kwargs, message", [
    ({"image_index": "0"}, r"image_index='0' is not valid: it must be a whole number from 0 to 63"),
    ({"image_index": -1}, r"image_index=-1 is not valid: it must be a whole number from 0 to 63"),
    ({"image_index": 1.0}, r"image_index=1.0 is not valid"),
    ({"layers": "act1"}, r"layers='act1' is one name: give a list of layer names, e.g. layers=\['act1'\]"),
    ({"lr": "0.1"}, r"lr='0.1' is not valid: a learning rate is a positive number"),
])
def test_arguments_of_the_wrong_kind_are_refused_with_their_name(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        WatchItLearn(data, start=False, **kwargs)


def test_making_and_training_leaves_the_learners_random_numbers_alone(data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    watch = WatchItLearn(data, num_epochs=1, slow_motion=0, start=False)
    at_start = weights(watch)
    watch.start().wait(timeout=120)
    assert torch.equal(torch.rand(3), expected)
    torch.rand(7)  # the learner's own draws do not change the next widget's weights
    assert same(weights(WatchItLearn(data, num_epochs=1, slow_motion=0, start=False)), at_start)


def test_wait_raises_the_error_of_the_run_and_keeps_its_history(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, slow_motion=0, start=False)

    hook = watch._hook

    def broken_after_an_epoch(history, net):
        if history.num_epochs == 1:
            raise RuntimeError("disk full")
        return hook(history, net)

    watch._hook = broken_after_an_epoch
    watch.start()
    with pytest.raises(RuntimeError, match="disk full"):
        watch.wait(timeout=120)
    assert watch.history.status == "failed" and watch.history.num_epochs == 1
    assert "disk full" in watch.status.value


@pytest.mark.parametrize("bad", [{"train_size": 0}, {"test_size": 0}, {"num_epochs": 0}])
def test_zero_sizes_are_refused_not_replaced_by_the_defaults(bad):
    with pytest.raises(ValueError, match=f"{next(iter(bad))}=0 is not valid"):
        WatchItLearn("mnist", start=False, **bad)


# ---------------------------------------------------------------- what a learner sees

def rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def locate(big: np.ndarray, small: np.ndarray) -> "tuple[int, int] | None":
    """Where ``small`` appears, pixel for pixel, inside ``big`` (x, y of its top-left), or None."""
    h, w = small.shape[:2]
    r = max(range(h), key=lambda i: len(np.unique(small[i], axis=0)))  # its most varied row
    needle = small[r].tobytes()
    for y in range(r, big.shape[0] - h + r + 1):
        row, start = big[y].tobytes(), 0
        while (pos := row.find(needle, start)) >= 0:
            x = pos // 3
            if pos % 3 == 0 and np.array_equal(big[y - r:y - r + h, x:x + w], small):
                return x, y - r
            start = pos + 1
    return None


def text_picture(text: str, size: int = watch_module.FONT_PX, fill=watch_module.LABEL_RGB) -> np.ndarray:
    """``text`` as the widget draws it (its font at ``size`` px, ``fill`` on white; by default a
    row's label), cropped to its ink."""
    img = Image.new("RGB", (int(font(size).getlength(text)) + 4, size + 8), "white")
    ImageDraw.Draw(img).text((0, 0), text, fill=fill, font=font(size))
    return np.asarray(img.crop(ImageOps.invert(img).getbbox()))


def index_picture(k: int) -> np.ndarray:
    """The number ``k`` as the widget draws it under a tile."""
    return text_picture(str(k), watch_module.INDEX_PX)


def bar_label(value: float) -> np.ndarray:
    """A colour bar's number, as saved_picture.colour_bar prints it (12 px, black, 2 decimals)."""
    return text_picture(f"{value:.2f}".replace("-", "−"), 12, "black")


def buttons(watch):
    return {name: not getattr(watch, f"{name}_button").disabled for name in ("pause", "resume", "step", "restart")}


def test_the_buttons_follow_the_state_and_restart_trains_afresh(data):
    watch = WatchItLearn(data, num_epochs=1, redraw_every=4, slow_motion=0, start=False)
    at_start = weights(watch)
    assert watch.state == "not started" and buttons(watch) == dict(pause=True, resume=False, step=False, restart=False)
    watch.pause()
    watch.start()
    assert watch.state in ("pausing", "paused")  # held before the first batch
    watch.pause()  # waits until it is held
    assert watch.state == "paused" and buttons(watch) == dict(pause=False, resume=True, step=True, restart=True)
    watch.resume()
    assert watch.state in ("running", "finished")
    watch.wait(timeout=120)
    assert watch.state == "finished" and buttons(watch) == dict(pause=False, resume=False, step=False, restart=True)
    first_run = watch.points
    assert not same(weights(watch), at_start)

    watch.slow_motion.value = 0.1  # 2 s for the run: time enough to see it running
    watch.restart_button.click()  # a fresh net, from the same starting weights, running
    assert watch.state == "running" and buttons(watch) == dict(pause=True, resume=False, step=True, restart=True)
    assert watch.pause() < BATCHES
    assert watch.state == "paused" and buttons(watch) == dict(pause=False, resume=True, step=True, restart=True)
    watch.slow_motion.value = 0
    watch.restart()  # while paused: stops that run and starts again
    watch.pause()
    assert watch.batches_done == 0 and watch.points == [] and watch.kernel_distance == []
    assert same(weights(watch), at_start), "a restart trains the net from its starting weights"
    assert "batch 0 of 20" in watch.status.value and watch.history is None
    watch.resume()
    watch.wait(timeout=120)
    assert watch.finished and watch.batches_done == BATCHES and watch.history.status == "completed"
    assert len(watch.points) == len(first_run)
    with pytest.raises(RuntimeError, match="restart"):
        watch.start()


def status(watch) -> str:
    return html.unescape(watch.status.value)


def test_restart_step_restart_during_a_run_leave_the_buttons_and_status_matching_the_run(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, redraw_every=4, slow_motion=0.05, start=False).start()
    running = dict(pause=True, resume=False, step=True, restart=True)
    seen, show = [], watch._set_status  # every (status, buttons) the widget shows, from any thread

    def showing():
        with watch._cond:
            show()
            seen.append((status(watch), buttons(watch)))
    watch._set_status = showing
    while watch.batches_done < 3:
        time.sleep(0.01)
    watch.restart_button.click()
    assert watch.state == "running" and buttons(watch) == running
    assert status(watch).endswith("(running)") and watch.batches_done < 3
    watch.step_button.click()  # while running: pauses, trains 8 batches, and says it stays paused
    held = watch.batches_done
    assert watch.state == "paused" and buttons(watch) == dict(pause=False, resume=True, step=True, restart=True)
    assert f"batch {held} of {EPOCHS * BATCHES}" in status(watch)
    assert status(watch).endswith("(paused after a step of 8 batches: Resume runs on)")
    time.sleep(0.3)
    assert watch.batches_done == held, "after the step it holds, as the status says"
    watch.restart_button.click()
    assert watch.state == "running" and buttons(watch) == running
    assert status(watch).startswith("batch 0 of") or watch.batches_done < 3
    assert "paused" not in status(watch) and watch.points == [] or watch.points[0].examples <= 4 * 16
    for text, shown in seen:
        state = text.rsplit("(", 1)[1]
        if state.startswith(("pausing", "paused", "stepping")):
            assert shown["resume"], f"{text!r} shown with Resume disabled: {shown}"
        if state.startswith(("finished", "stopped", "not started")):
            raise AssertionError(f"a restart showed the in-between state {text!r} ({shown})")
        if state.startswith("running"):
            assert shown["pause"] or not shown["resume"], f"{text!r} shown with {shown}"
    watch.slow_motion.value = 0
    watch.wait(timeout=120)
    assert watch.state == "finished" and buttons(watch) == dict(pause=False, resume=False, step=False, restart=True)
    assert status(watch).endswith("(finished)") and f"batch {EPOCHS * BATCHES} of" in status(watch)


def test_the_text_saved_with_the_widget_claims_no_state_until_the_run_has_ended(data):
    watch = WatchItLearn(data, num_epochs=1, redraw_every=4, slow_motion=0, start=False)
    early = watch.summary()
    assert "batch" not in early and "running" not in early and "not started" not in early
    watch.start().wait(timeout=120)
    assert watch.summary() == f"WatchItLearn: {watch._status_text()}" and "(finished)" in watch.summary()


def test_the_table_follows_the_latest_run(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, redraw_every=4, slow_motion=0, start=False, lr=0.02)
    watch.start().wait(timeout=120)
    first = watch.table()
    assert first.startswith(f"run completed: test accuracy {watch.history.final_test_acc:.3f} after 2 epoch(s)")
    watch.lr = 2e-4  # the next run learns more slowly: its table must differ
    watch.restart().wait(timeout=120)
    second = watch.table()
    assert second != first and f"{watch.history.final_test_acc:.3f}" in second.splitlines()[0]
    losses = watch_module.moving_means(watch_module.interval_means(watch.points, "train_loss"), watch._window)
    last = second.splitlines()[-1].split()
    assert last[0] == "2.00" and last[1] == f"{losses[-1]:.3f}" and last[2] == f"{watch.kernel_distance[-1]:.3f}"


@pytest.mark.full_data  # its threshold holds on the full data; on the sample's images a step moved 288 of 720 cells
def test_a_step_trains_several_batches_and_visibly_changes_the_pictures(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, redraw_every=4, slow_motion=0, start=False)
    assert watch.step_batches == 8 and watch.step_button.description == "Step 8 batches"
    assert "8 more batch" in watch.step_button.tooltip and "128 images" in watch.step_button.tooltip
    watch.pause()
    watch.start()
    kernels, curves = rgb(watch.kernels_view.value), watch.curves_view.value
    assert watch.step_button.click() is None and watch.batches_done == 8
    # one colour scale per row, kept over the run (1.5x the starting range): a step of 8 batches moves
    # a kernel cell by some 10-20 of 255 levels, where a scale per kernel exaggerated it
    changed = np.abs(rgb(watch.kernels_view.value).astype(int) - kernels).max(axis=2) > 10
    assert changed.sum() >= 5 * 12 * 12, "a step moves at least five kernel cells by a visible amount"
    assert len(watch.points) == 2 and watch.curves_view.value != curves, "a step adds points to the curves"
    assert watch.step(3) == 11
    with pytest.raises(ValueError, match="batches=0 is not valid"):
        watch.step(0)
    watch.close()
    with pytest.raises(ValueError, match="step_batches"):
        WatchItLearn(data, step_batches=0, start=False)


def test_the_default_pace_makes_a_short_run_last_long_enough_to_watch(data):
    short = WatchItLearn(data, num_epochs=EPOCHS, start=False)  # 40 batches
    waits = short.slow_motion.value * short.total_batches
    assert watch_module.WATCHABLE_RUN_S <= waits <= 1.1 * watch_module.WATCHABLE_RUN_S
    long = WatchItLearn(data, num_epochs=30, start=False)  # 600 batches: LeNet's pace is still slowed
    assert long.slow_motion.value == 0.05


def test_the_maps_rows_are_labelled_with_their_layer_and_input(data):
    watch = WatchItLearn(data, num_epochs=1, slow_motion=0, start=False)
    label = int(data[1].y[0])
    maps = rgb(watch.maps_view.value)
    tops = []
    for text in (f"input: test image 0, class {label}", "act1 = ReLU(conv1): 6 maps of 28×28",
                 "act2 = ReLU(conv2): 16 maps of 10×10"):
        where = locate(maps, text_picture(text))
        assert where is not None, f"the maps picture has no label {text!r}"
        tops.append(where[1])
    assert tops == sorted(tops), "the labels come in the order of the rows"
    named = WatchItLearn("fashion-mnist", train_size=100, test_size=10, image_index=3, start=False)
    shirt = named.class_names[int(named.test_iter.y[3])]
    assert locate(rgb(named.maps_view.value), text_picture(f"input: test image 3, {shirt}")) is not None
    with pytest.raises(ValueError, match="no layer named.*'act9'"):
        WatchItLearn(data, layers=("act1", "act9"), start=False)


def test_a_finished_run_shows_its_test_accuracy_inside_the_axes_and_the_status(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, redraw_every=4, slow_motion=0, start=False).start().wait(120)
    accs = watch.history.test_acc
    assert f"test acc {accs[-1]:.3f} after epoch 2 (finished)" in watch.status.value
    assert f"test acc {accs[-1]:.3f}" in watch.summary()
    fig = epoch_curves_figure(watch.points, watch.num_epochs)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax = fig.axes[0]
    box = ax.get_window_extent()
    tested = [line for line in ax.lines if line.get_label() == "test acc"][0]
    assert list(tested.get_ydata()) == accs
    for line in ax.lines:
        radius = line.get_markersize() / 2 * fig.dpi / 72
        for x, y in ax.transData.transform(line.get_xydata()):
            assert box.x0 + radius <= x <= box.x1 - radius and box.y0 + radius <= y <= box.y1 - radius, \
                f"a {line.get_label()} marker is cut by the axes"
    assert ax.get_ylabel() and ax.get_xlabel() == "epoch"
    renderer = canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text() in {f"{a:.2f}" for a in accs}]
    assert len(labels) == len(accs)
    for label, (x, y) in zip(labels, ax.transData.transform(tested.get_xydata())):
        box, radius = label.get_window_extent(renderer), tested.get_markersize() / 2 * fig.dpi / 72
        assert box.x1 < x - radius or box.y0 > y + radius, f"the label {label.get_text()} sits on its marker"


def test_the_widget_fits_the_notebook_and_its_text_is_legible(data):
    watch = WatchItLearn(data, num_epochs=1, redraw_every=4, slow_motion=0, start=False).start().wait(120)
    kernels, maps, curves = (rgb(v.value) for v in (watch.kernels_view, watch.maps_view, watch.curves_view))
    for view, picture in ((watch.kernels_view, kernels), (watch.maps_view, maps), (watch.curves_view, curves)):
        assert view.layout.width == f"{picture.shape[1]}px", "each picture is shown at its natural size"
    controls_h, status_h, margins = 40, 30, 20  # a row of buttons, the status line, widget margins
    left_w, left_h = max(kernels.shape[1], maps.shape[1]), kernels.shape[0] + maps.shape[0] + watch_module.GAP
    assert left_w + watch_module.GAP + curves.shape[1] + margins <= 1100
    assert controls_h + status_h + max(left_h, curves.shape[0]) + margins <= 760
    snapshot = Image.open(io.BytesIO(watch.snapshot()))
    assert snapshot.width <= 1100 and snapshot.height <= 760
    for size in (watch_module.FONT_PX, watch_module.INDEX_PX):  # labels; tile numbers and colour bars
        left, top, right, bottom = font(size).getbbox("(Ag)")
        assert bottom - top >= 11, "the pictures' text is at least 11 px tall"
    fig = epoch_curves_figure(watch.points, watch.num_epochs)
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_visible() and text.get_text():
            assert text.get_fontsize() * fig.dpi / 72 >= 11, f"{text.get_text()!r} is under 11 px"


def test_the_snapshot_shows_what_the_live_widget_shows(data):
    watch = WatchItLearn(data, num_epochs=1, redraw_every=4, slow_motion=0, start=False).start().wait(120)
    snapshot = rgb(watch.snapshot())
    kernels, maps, curves = (rgb(v.value) for v in (watch.kernels_view, watch.maps_view, watch.curves_view))
    (kx, ky), (mx, my), (cx, cy) = (locate(snapshot, part) for part in (kernels, maps, curves))
    assert kx == mx and ky + kernels.shape[0] < my, "the maps under the kernels, as in the widget"
    assert cx > mx + maps.shape[1] and cy == ky, "the curves to their right, top-aligned"
    status = watch._status_text()
    assert "finished" in status and html.unescape(watch.status.value) == status
    line = np.asarray(Image.open(io.BytesIO(watch.snapshot())).convert("L"))[:ky]
    assert (line < 128).any(), "the status line is above the pictures"


def test_the_grid_numbers_each_tile_centred_under_it():
    rng = np.random.default_rng(0)
    tiles = [Image.fromarray(rng.integers(0, 256, (14, 20, 3), dtype=np.uint8)) for _ in range(12)]
    grid = np.asarray(watch_module._grid(tiles, cols=5))
    for k, tile in enumerate(tiles):
        x, y = locate(grid, np.asarray(tile))
        assert (x, y) == ((k % 5) * 23, (k // 5) * (14 + watch_module.INDEX_H + 3)), f"tile {k} out of place"
        under = grid[y + 14:y + 14 + watch_module.INDEX_H, x:x + 20]
        where = locate(under, index_picture(k))
        assert where is not None, f"tile {k} has no number {k} under it"
        centre = where[0] + index_picture(k).shape[1] / 2
        assert abs(centre - 10) <= 1.5, f"the number {k} is not centred under its tile"


def test_every_kernel_and_map_is_numbered(data):
    watch = WatchItLearn(data, num_epochs=1, slow_motion=0, start=False)
    kernels, maps = rgb(watch.kernels_view.value), rgb(watch.maps_view.value)
    for k in range(6):
        assert locate(kernels, index_picture(k)) is not None, f"kernel {k} is not numbered"
    assert locate(kernels, index_picture(6)) is None, "6 kernels are numbered 0-5"
    found = [locate(maps, index_picture(k)) for k in range(16)]
    assert None not in found, f"maps without a number: {[k for k, at in enumerate(found) if at is None]}"
    assert locate(maps, index_picture(16)) is None, "act2's 16 maps are numbered 0-15"
    assert found[8][1] > found[7][1] and found[8][0] < found[7][0], "act2's map 8 starts its second row"


def test_the_kernels_share_one_scale_from_blue_to_red_with_its_numbers(data):
    watch = WatchItLearn(data, num_epochs=1, slow_motion=0, start=False)
    kernels = rgb(watch.kernels_view.value)
    weight = watch.kernel_layer.weight.detach().mean(dim=1)
    top = watch_module.HEADROOM * float(weight.abs().max())  # room for the kernels to grow
    labels = [locate(kernels, bar_label(v)) for v in (top, 0.0, -top)]
    assert None not in labels, f"the kernels' colour bar is labelled {top:.2f}, 0 and -{top:.2f}"
    (x, high), (_, middle), (_, low) = labels
    assert high < middle < low
    strip = kernels[:, x - 11].astype(int)  # the bar's strip, just left of its labels
    red, white, blue = strip[high + 3], strip[middle + 4], strip[low + 6]
    assert red[0] > red[2] + 80 and blue[2] > blue[0] + 80 and white.min() > 200


def scales(watch) -> dict:
    return dict(watch._scales)


def test_each_row_keeps_one_colour_scale_over_the_run_so_training_shows(data):
    watch = WatchItLearn(data, num_epochs=1, redraw_every=1, slow_motion=0, start=False)
    watch.pause()
    watch.start()
    watch.step(3)
    at_3, maps_3, kernels_3 = scales(watch), rgb(watch.maps_view.value), rgb(watch.kernels_view.value)
    watch.step(11)
    at_14, maps_14, kernels_14 = scales(watch), rgb(watch.maps_view.value), rgb(watch.kernels_view.value)
    assert set(at_3) == {"conv1", "act1", "act2"}
    for row, (lo, hi) in at_3.items():
        now = at_14[row]
        assert now[0] <= lo and now[1] >= hi, f"{row}'s scale never narrows during a run"
        values = (watch.kernel_layer.weight.detach().mean(dim=1) if row == "conv1"
                  else capture_feature_maps(watch.net, watch.image, [row])[row])
        if now != (lo, hi):  # widened: only as far as the values left it
            assert float(values.max()) == pytest.approx(now[1]) or float(values.min()) == pytest.approx(now[0])
    same_scale = [row for row in at_3 if at_3[row] == at_14[row]]
    assert same_scale, "with room to grow, 11 batches leave most rows' scales where they were"
    for row in same_scale:
        lo, hi = at_14[row]
        picture = kernels_14 if row == "conv1" else maps_14
        assert locate(picture, bar_label(hi)) is not None, f"{row}'s bar still reads {hi:.2f}"
    assert np.abs(kernels_14.astype(int) - kernels_3.astype(int)).max() > 15, "batch 3 and batch 14 look different"
    assert np.abs(maps_14.astype(int) - maps_3.astype(int)).max() > 15
    watch.restart()
    watch.pause()
    fresh = {row: watch_module._widened(None, *watch_module._grey_range(values), row == "conv1")
             for row, values in [("conv1", watch.kernel_layer.weight.detach().mean(dim=1)),
                                 *capture_feature_maps(watch.net, watch.image, ["act1", "act2"]).items()]}
    assert all(scales(watch)[row] == pytest.approx(fresh[row], rel=1e-5) for row in fresh), \
        "a restart sets the scales afresh from the starting weights"
    watch.close()


def test_a_row_scale_starts_with_room_and_widens_only_when_values_leave_it():
    assert watch_module._widened(None, 0.0, 2.0, False) == (0.0, 3.0)
    assert watch_module._widened((0.0, 3.0), 0.0, 2.5, False) == (0.0, 3.0)
    assert watch_module._widened((0.0, 3.0), 0.0, 4.0, False) == (0.0, 4.0)
    assert watch_module._widened(None, -0.2, 0.4, True) == pytest.approx((-0.6, 0.6))
    assert watch_module._widened((-0.6, 0.6), -0.7, 0.1, True) == pytest.approx((-0.7, 0.7))
    assert watch_module._widened(None, -1.0, 1.0, False) == (-1.5, 1.5)


def test_a_diverged_net_still_draws_its_maps_and_their_scales(data):
    watch = WatchItLearn(data, num_epochs=1, slow_motion=0, start=False)
    with torch.no_grad():
        watch.kernel_layer.weight[0] = float("nan")  # act1 map 0 and every act2 map: NaN
    renders = watch.renders
    watch._render(curves=False)
    assert watch.renders == renders + 1
    maps = torch.tensor([[[float("nan"), 1.0], [3.0, float("inf")]]])
    assert watch_module._grey_range(maps) == (1.0, 3.0)
    assert watch_module._grey_range(torch.full((2, 3, 3), float("nan"))) == (0.0, 1.0)
    assert watch_module._grey_range(torch.zeros(2, 3, 3)) == (0.0, 1.0), "a flat row gets a scale wider than 0"
