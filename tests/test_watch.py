"""Watch it learn: pause holds training, step trains exactly one batch, resume carries on, and the
pictures are redrawn; the model and its history survive a pause."""

import base64
import io
import time

import pytest
import torch
from PIL import Image

from lenet_utils.data import load_data
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
    assert watch.step() == 1
    assert not same(before, weights(watch)), "a step trains one batch"
    assert watch.renders > renders, "a step redraws the pictures"
    assert "batch 1 of 40" in watch.status.value
    after_step = weights(watch)
    time.sleep(0.5)
    assert watch.batches_done == 1 and same(after_step, weights(watch)), "after a step the run stays paused"

    for k in range(2, 7):
        assert watch.step() == k
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


def test_close_stops_a_paused_run_and_keeps_its_history(data):
    watch = WatchItLearn(data, num_epochs=EPOCHS, redraw_every=4, slow_motion=0, start=False)
    watch.pause()
    watch.start()
    for _ in range(BATCHES + 2):  # into the second epoch
        watch.step()
    with pytest.raises(RuntimeError, match="paused"):
        watch.wait()
    watch.close()
    assert watch.finished and watch.history.status == "stopped"
    assert watch.history.num_epochs == 1 and watch.batches_done == BATCHES + 2


def test_starting_a_new_run_stops_the_previous_one(data):
    first = WatchItLearn(data, num_epochs=EPOCHS, slow_motion=0, start=False)
    first.pause()
    first.start()
    first.step()
    second = WatchItLearn(data, num_epochs=EPOCHS, slow_motion=0, start=False)
    second.pause()
    second.start()  # as when a learner runs the widget's cell again
    assert first.finished and first.history.status == "stopped" and first.batches_done == 1
    assert not second.finished and second.step() == 1
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
    with pytest.raises(ValueError, match="image_index must lie in 0..63"):
        WatchItLearn(data, image_index=64, start=False)
    with pytest.raises(ValueError, match="slow_motion must lie on its slider"):
        WatchItLearn(data, slow_motion=2, start=False)
    with pytest.raises(ValueError, match="not a Conv2d layer.*conv1"):
        WatchItLearn(data, kernels="fc1", start=False)
    watch = WatchItLearn(data, num_epochs=1, start=False)
    with pytest.raises(RuntimeError, match="call start"):
        watch.step()


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

    def broken_callback(history):
        raise RuntimeError("disk full")

    watch._on_epoch = broken_callback
    watch.start()
    with pytest.raises(RuntimeError, match="disk full"):
        watch.wait(timeout=120)
    assert watch.history.status == "failed" and watch.history.num_epochs == 1
    assert "disk full" in watch.status.value


@pytest.mark.parametrize("bad", [{"train_size": 0}, {"test_size": 0}, {"num_epochs": 0}])
def test_zero_sizes_are_refused_not_replaced_by_the_defaults(bad):
    with pytest.raises(ValueError, match=f"{next(iter(bad))}=0 is not valid"):
        WatchItLearn("mnist", start=False, **bad)
