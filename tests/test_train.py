"""Training: d2l's metrics, train_ch6's argument checks, divergence, interruption, and learning."""

import functools
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from constant_model import AlwaysZero
from lenet_utils import checks, data, endings, optimizers, train
from lenet_utils.train import CudaGraphStep, DeviceAccumulator, channels_last, correct_count
from lenet_utils.models import make_lenet
from lenet_utils.train import train_ch6


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def blobs(n=256, num_classes=3, dim=8, seed=0):
    """An easy synthetic problem: Gaussian blobs around fixed class centres; ``seed`` draws the noise."""
    centers = 3 * torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    X = centers[y] + torch.randn(n, dim, generator=g)
    return X, y


def loaders(n=256, batch_size=32, **kw):
    X, y = blobs(n, **kw)
    Xt, yt = blobs(n // 2, seed=1, **kw)
    return (data.TensorLoader(X, y, batch_size, device="cpu", seed=0),
            data.TensorLoader(Xt, yt, batch_size, shuffle=False, device="cpu"))


def small_net(dim=8, num_classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(dim, 16), nn.ReLU(), nn.Linear(16, num_classes))


QUIET = dict(animate=False, verbose=False)


# ---------------------------------------------------------------- metrics and shared rules


def test_correct_count_counts_on_the_device_and_checks_shapes():
    logits = torch.tensor([[5.0, 1.0, 0.0],   # predicts 0
                           [0.0, 0.1, 3.0],   # predicts 2
                           [0.2, 0.9, 0.1],   # predicts 1
                           [2.0, 0.0, 1.0]])  # predicts 0
    y = torch.tensor([0, 1, 1, 2])
    count = correct_count(logits, y)
    assert torch.is_tensor(count) and float(count) == 2.0
    assert float(correct_count(torch.tensor([0, 1, 1, 2]), y)) == 4.0  # labels instead of logits
    with pytest.raises(ValueError, match="do not match"):
        correct_count(logits, y[:3])


def test_device_accumulator_sums_on_the_device_and_reads_all_sums_at_once():
    sums = DeviceAccumulator(2, "cpu")
    sums.add(torch.tensor(0.5), 3)
    sums.add(torch.tensor(0.25), correct_count(torch.tensor([1, 0]), torch.tensor([1, 0])))
    assert torch.is_tensor(sums.data) and sums.read() == [0.75, 5.0]
    sums.reset()
    assert sums.read() == [0.0, 0.0]


def test_channels_last_converts_nets_and_image_batches_and_leaves_other_tensors():
    X = torch.randn(2, 3, 5, 5)
    assert channels_last(X).is_contiguous(memory_format=torch.channels_last)
    assert channels_last(channels_last(X), on=False).is_contiguous()
    y, flat = torch.arange(2), torch.randn(2, 8)
    assert channels_last(y) is y and channels_last(flat) is flat
    net = nn.Sequential(nn.Conv2d(3, 4, 3))
    assert channels_last(net) is net and net[0].weight.is_contiguous(memory_format=torch.channels_last)
    channels_last(net, on=False)
    assert net[0].weight.is_contiguous()


def test_device_batches_yields_every_batch_on_the_device():
    loader = data.TensorLoader(torch.zeros(5, 2), torch.arange(5), 2, shuffle=False, device="cpu")
    batches = list(train.device_batches(loader, torch.device("cpu")))
    assert [y.tolist() for _, y in batches] == [[0, 1], [2, 3], [4]]
    assert all(X.device.type == "cpu" for X, _ in batches)


def test_evaluate_counts_and_restores_mode():
    y = torch.tensor([0, 0, 0, 1, 1, 0, 1, 0, 0, 0])  # 7 zeros out of 10
    it = data.TensorLoader(torch.zeros(10, 1), y, 3, device="cpu")
    net = AlwaysZero().train()
    assert train.evaluate(net, it) == pytest.approx(0.7)
    assert net.training
    with pytest.raises(ValueError, match="empty"):
        train.evaluate(net, [])


@pytest.mark.parametrize("loss, classes, expected", [
    (2.3, 10, False), (229.0, 10, False), (231.0, 10, True), (float("nan"), 10, True),
    (float("inf"), 3, True), (109.0, 3, False), (110.0, 3, True)])
def test_diverged_is_nan_inf_or_a_hundred_times_a_uniform_guess(loss, classes, expected):
    assert endings.diverged(loss, classes) is expected


def test_make_optimizer_takes_param_groups_with_their_own_rates():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    for name in ("sgd", "adam"):
        opt = optimizers.make_optimizer(name, [{"params": a.parameters(), "lr": 0.1},
                                          {"params": b.parameters(), "lr": 0.2}], lr=0.5)
        assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2]
    assert isinstance(optimizers.make_optimizer("adam", a.parameters(), 1e-3), torch.optim.Adam)
    with pytest.raises(ValueError, match="choose one of sgd, adam, or pass a factory"):
        optimizers.make_optimizer("rmsprop", a.parameters(), 0.1)


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_learning_rates_are_rejected(lr):
    train_iter, test_iter = loaders()
    with pytest.raises(ValueError, match=r"lr=.* is not valid: a learning rate is a positive number"):
        train_ch6(small_net(), train_iter, test_iter, 1, lr, **QUIET)


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_bad_epoch_counts_are_rejected(epochs):
    train_iter, test_iter = loaders()
    with pytest.raises(ValueError, match=r"num_epochs=.* is not valid: it must be a whole number >= 1"):
        train_ch6(small_net(), train_iter, test_iter, epochs, 0.1, **QUIET)


def test_empty_data_is_rejected():
    train_iter, test_iter = loaders()
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 8)), batch_size=4)
    with pytest.raises(ValueError, match="train_iter yields no batches"):
        train_ch6(small_net(), empty, test_iter, 1, 0.1, **QUIET)
    with pytest.raises(ValueError, match="test_iter yields no batches"):
        train_ch6(small_net(), train_iter, [], 1, 0.1, **QUIET)
    with pytest.raises(ValueError, match="must have a length"):
        train_ch6(small_net(), iter(train_iter), test_iter, 1, 0.1, **QUIET)


def test_bad_optimizer_and_scheduler_are_rejected():
    train_iter, test_iter = loaders()
    with pytest.raises(ValueError, match="optimizer='rmsprop' is not valid: choose one of sgd, adam, or pass a factory"):
        train_ch6(small_net(), train_iter, test_iter, 1, 0.1, optimizer="rmsprop", **QUIET)
    with pytest.raises(ValueError, match="scheduler='linear' is not valid: pass None, 'cosine' or a function"):
        train_ch6(small_net(), train_iter, test_iter, 1, 0.1, scheduler="linear", **QUIET)


# ---------------------------------------------------------------- robustness


class NaNAfter(nn.Module):
    """A linear model whose output turns NaN after ``steps`` forward passes in training mode."""

    def __init__(self, steps):
        super().__init__()
        self.linear = nn.Linear(8, 3)
        self.steps, self.calls = steps, 0

    def forward(self, X):
        if self.training:
            self.calls += 1
        out = self.linear(X)
        return out * float("nan") if self.training and self.calls > self.steps else out


def test_nan_loss_stops_with_a_message_and_the_history_so_far(capsys):
    train_iter, test_iter = loaders()  # 8 batches per epoch
    net = NaNAfter(steps=10)  # NaN from the 3rd batch of epoch 2
    history = train_ch6(net, train_iter, test_iter, 5, 0.1, animate=False)
    assert history.status == "diverged"
    assert history.num_epochs == 1 and all(math.isfinite(v) for v in history.train_loss)
    assert net.calls < 2 * len(train_iter)  # stopped inside epoch 2, not after 5 epochs
    out = capsys.readouterr().out
    assert "diverged" in out and "smaller" in out and "epoch 2" in out
    assert out.count("nan") == 1  # one clear message, not a page of NaN


def test_a_huge_learning_rate_really_diverges():
    train_iter, test_iter = loaders()
    history = train_ch6(small_net(), train_iter, test_iter, 3, 1e30, **QUIET)
    assert history.status == "diverged"
    assert "lr=1e+30" in history.message


def test_an_exploding_but_finite_loss_counts_as_divergence():
    train_iter, test_iter = loaders()
    net = nn.Sequential(small_net(), nn.Linear(3, 3))
    with torch.no_grad():
        net[1].weight.mul_(1e5)  # logits of order 1e5: a finite loss far above chance (ln 3)
    history = train_ch6(net, train_iter, test_iter, 3, 1e-9, init=False, **QUIET)
    assert history.status == "diverged" and "exploded to" in history.message


class InterruptAt:
    """A data iterator that raises KeyboardInterrupt (like Jupyter's 'interrupt kernel')."""

    def __init__(self, loader, epoch, batch):
        self.loader, self.epoch, self.batch = loader, epoch, batch
        self.epochs_started = 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epochs_started += 1
        for i, batch in enumerate(self.loader):
            if self.epochs_started == self.epoch and i == self.batch:
                raise KeyboardInterrupt
            yield batch


def test_interrupt_keeps_the_model_and_the_completed_epochs(capsys):
    train_iter, test_iter = loaders()
    net = small_net()
    before = [p.detach().clone() for p in net.parameters()]
    history = train_ch6(net, InterruptAt(train_iter, epoch=3, batch=2), test_iter, 10, 0.1,
                        animate=False)
    assert history.status == "interrupted"
    assert history.num_epochs == 2 and len(history.test_acc) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))  # trained weights kept
    assert "Interrupted in epoch 3" in capsys.readouterr().out


def test_the_hook_sees_the_history_and_can_stop_or_interrupt():
    train_iter, test_iter = loaders()  # 8 batches per epoch

    def stop_after_two(history, net):  # early stopping: asked before every batch
        return history.num_epochs == 2

    history = train_ch6(small_net(), train_iter, test_iter, 6, 0.1, hook=stop_after_two, **QUIET)
    assert history.status == "stopped" and history.num_epochs == 2 and len(history.points) == 10
    assert "Stopped by the hook in epoch 3/6, batch 1/8" in history.message

    def interrupt(history, net):
        if history.num_epochs == 1:
            raise KeyboardInterrupt

    history = train_ch6(small_net(), train_iter, test_iter, 6, 0.1, hook=interrupt, **QUIET)
    assert history.status == "interrupted" and history.num_epochs == 1


@pytest.mark.parametrize("answer, stops", [
    (True, True), ("yes", True), (np.True_, True), (1, True), (torch.tensor(True), True),
    (None, False), (False, False), (np.False_, False), (0, False), ("", False)])
def test_a_true_value_from_the_hook_stops_the_run_whatever_its_type(answer, stops):
    """Issue 32: a hook that answered "yes" or numpy's True did not stop the run (the check was
    ``is True``); the contract is Python's truth: a true value stops, a false one goes on."""
    train_iter, test_iter = loaders()
    history = train_ch6(small_net(), train_iter, test_iter, 2, 0.1,
                        hook=lambda history, net: answer if history.num_epochs == 1 else None, **QUIET)
    assert (history.status, history.num_epochs) == (("stopped", 1) if stops else ("completed", 2))


# ---------------------------------------------------------------- hooks


class CountingLoader:
    """Wraps a loader and counts the batches handed out."""

    def __init__(self, loader):
        self.loader, self.served = loader, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.served += 1
            yield batch


def test_the_stop_hook_ends_the_run_before_the_next_batch():
    train_iter, test_iter = loaders()  # 8 batches per epoch
    counting = CountingLoader(train_iter)
    asked = []

    def stop(history, net):
        asked.append(counting.served)
        return counting.served == 11  # the 11th batch is fetched: stop before training it

    net = small_net()
    steps = []
    net.register_forward_pre_hook(lambda module, inputs: steps.append(1) if module.training else None)
    history = train_ch6(net, counting, test_iter, 5, 0.1, hook=stop, **QUIET)
    assert history.status == "stopped" and "Stopped by the hook in epoch 2/5, batch 3/8" in history.message
    assert asked == list(range(1, 12))  # asked before every batch
    assert len(steps) == 10  # nothing trained once it said True
    assert history.num_epochs == 1  # epoch 2 stopped after its 2nd batch, its one point so far kept
    assert [p.examples for p in history.points] == [64, 96, 160, 192, 256, 320]
    assert not net.training


def test_the_hook_sees_each_new_point_before_the_next_batch_and_can_stop():
    train_iter, test_iter = loaders()  # 8 batches per epoch
    seen = []

    def hook(history, net):  # what the widgets do: draw each point taken since the last batch
        for point in history.points[len(seen):]:
            was_training = net.training
            seen.append((point.epoch, point.examples, train.evaluate(net, test_iter)))
            assert was_training and net.training  # evaluating inside the hook keeps training mode
        return len(seen) == 6

    net = small_net()
    history = train_ch6(net, train_iter, test_iter, 4, 0.5, hook=hook, points_per_epoch=4, **QUIET)
    assert history.status == "stopped" and history.num_epochs == 1
    assert [e for e, _, _ in seen] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
    assert [n for _, n, _ in seen] == [64, 128, 192, 256, 320, 384]
    assert seen[-1][2] > 0.9  # easy blobs: the hook evaluates a net that really learns
    assert len(history.points) == 6


def test_points_per_epoch_is_checked():
    train_iter, test_iter = loaders()
    with pytest.raises(ValueError, match="points_per_epoch"):
        train_ch6(small_net(), train_iter, test_iter, 1, 0.1, points_per_epoch=0, **QUIET)
    every = train_ch6(small_net(), train_iter, test_iter, 1, 0.1, points_per_epoch=100, **QUIET)
    assert [p.examples for p in every.points] == [32 * k for k in range(1, 9)]  # at most one per batch
    train_iter, test_iter = loaders(n=320)  # 10 batches
    two = train_ch6(small_net(), train_iter, test_iter, 1, 0.1, points_per_epoch=2, **QUIET)
    assert [p.examples for p in two.points] == [160, 320]


def test_a_run_that_diverges_in_its_first_epoch_has_no_epochs_and_a_nan_final_accuracy():
    train_iter, test_iter = loaders()
    history = train_ch6(small_net(), train_iter, test_iter, 3, 1e30, **QUIET)
    assert history.status == "diverged" and history.num_epochs == 0
    assert math.isnan(history.final_test_acc)
    assert "no completed epoch" in history.summary()


def test_asking_for_a_missing_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    train_iter, test_iter = loaders()
    with pytest.raises(ValueError, match="try_gpu"):
        train_ch6(small_net(), train_iter, test_iter, 1, 0.1, device="cuda", **QUIET)


# ---------------------------------------------------------------- training


def test_history_records_every_epoch_and_converts_to_rows():
    train_iter, test_iter = loaders()
    history = train_ch6(small_net(), train_iter, test_iter, 3, 0.5, label="blobs", **QUIET)
    assert history.status == "completed" and history.num_epochs == 3
    assert history.examples_per_sec > 0 and all(s > 0 for s in history.seconds)
    assert history.train_loss[-1] < history.train_loss[0]
    rows = history.to_rows()
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["test acc"] == history.final_test_acc
    assert "blobs: 3 epochs" in history.summary()
    assert len(history.points) == 3 * 5  # five checkpoints per epoch by default
    assert [p.examples for p in history.points][4::5] == [256, 512, 768]
    assert [p.test_acc for p in history.points][4::5] == history.test_acc  # epoch ends carry it
    assert all(p.test_acc is None for i, p in enumerate(history.points) if i % 5 != 4)


def test_schedules_set_the_learning_rate():
    train_iter, test_iter = loaders()
    history = train_ch6(small_net(), train_iter, test_iter, 3, 0.5, scheduler=lambda e: 0.1 / (e + 1), **QUIET)
    assert history.lr == pytest.approx([0.1, 0.05, 0.1 / 3])
    history = train_ch6(small_net(), train_iter, test_iter, 2, 0.5, scheduler="cosine", **QUIET)
    assert 0 < history.lr[-1] < 0.01 and history.lr[0] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 16)) / 2)


def test_optimizer_factories_and_dataloaders_work():
    X, y = blobs()
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    factory = functools.partial(torch.optim.SGD, momentum=0.9)
    history = train_ch6(small_net(), dl, dl, 2, 0.05, optimizer=factory, **QUIET)
    assert history.status == "completed" and history.final_test_acc > 0.9


def test_short_run_on_the_bundled_sample_learns():
    train_iter, test_iter = data.load_data("fashion-mnist", 128, device="cpu", root=data.SAMPLE_DIR,
                                           train_size=2000, test_size=1000, verbose=False)
    torch.manual_seed(0)
    net = make_lenet("relu", pool="max")
    history = train_ch6(net, train_iter, test_iter, 2, 2e-3, optimizer="adam", **QUIET)
    assert history.status == "completed"
    assert history.final_test_acc > 0.5  # chance is 0.1
    assert net[0].weight.is_contiguous()  # the CPU's channels-last layout is undone afterwards
    assert not net.training


def test_predict_returns_aligned_examples():
    train_iter, test_iter = loaders()
    net = small_net()
    train_ch6(net, train_iter, test_iter, 2, 0.5, **QUIET)
    X, y, y_pred = train.predict(net, test_iter)
    assert X.shape == (128, 8) and y.shape == y_pred.shape == (128,)
    assert torch.equal(y_pred, net(X).argmax(dim=1))
    assert (y_pred == y).float().mean().item() == pytest.approx(train.evaluate(net, test_iter))


def test_cuda_graph_step_dispatch_with_a_fake_cuda(monkeypatch):
    """The GPU path's logic, checked without a GPU: warm-up steps are real steps on the first
    batches, capture records without training twice, replays see each new batch, and a batch of
    another shape runs eagerly."""
    import contextlib

    where = []  # "warmup" while on the side stream, the graph while capturing

    class FakeStream:
        def wait_stream(self, other):
            pass

    class FakeGraph:
        def replay(self):
            self.recorded()

    @contextlib.contextmanager
    def on(stack, value):
        stack.append(value)
        yield
        stack.pop()

    monkeypatch.setattr(torch.cuda, "Stream", FakeStream)
    monkeypatch.setattr(torch.cuda, "current_stream", FakeStream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: on(where, "warmup"))
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", lambda g: on(where, g))

    calls = []

    def step(X, y):
        if where and isinstance(where[-1], FakeGraph):  # capture: record, do not run
            where[-1].recorded = lambda: calls.append(("replay", X.clone(), y.clone()))
        else:
            calls.append((where[-1] if where else "eager", X.clone(), y.clone()))

    run = CudaGraphStep(step, verbose=False)
    batches = [(torch.full((4, 2), float(i)), torch.full((4,), i)) for i in range(6)]
    batches.append((torch.full((2, 2), 6.0), torch.full((2,), 6)))  # the smaller last batch
    for X, y in batches:
        run(X, y)
    assert [kind for kind, _, _ in calls] == ["warmup"] * 3 + ["replay"] * 3 + ["eager"]
    assert [int(y[0]) for _, _, y in calls] == list(range(7))  # each batch trained exactly once
    assert all(torch.equal(X, b[0]) for (_, X, _), b in zip(calls, batches))


# ---------------------------------------------------------------- failures keep the history


def test_an_error_in_a_hook_ends_the_run_as_failed_with_the_history_attached():
    train_iter, test_iter = loaders()

    def broken_after_two(history, net):
        if history.num_epochs == 2:
            raise RuntimeError("the hook broke")

    net = small_net()
    with pytest.raises(RuntimeError, match="the hook broke") as caught:
        train_ch6(net, train_iter, test_iter, 5, 0.5, hook=broken_after_two, **QUIET)
    history = caught.value.history
    assert history.status == "failed" and history.num_epochs == 2 and len(history.points) == 10
    assert "epoch 3/5" in history.message and "RuntimeError: the hook broke" in history.message
    assert "train_ch6 failed in epoch 3/5, batch 1/8" in caught.value.__notes__[0]
    assert not net.training  # left in eval mode, as after any other ending


def test_an_error_in_the_model_keeps_the_points_of_the_unfinished_epoch():
    class BreaksAfter(nn.Module):
        def __init__(self, steps):
            super().__init__()
            self.linear, self.steps, self.calls = nn.Linear(8, 3), steps, 0

        def forward(self, X):
            self.calls += self.training
            if self.calls > self.steps:
                raise ZeroDivisionError("inside forward")
            return self.linear(X)

    train_iter, test_iter = loaders()  # 8 batches per epoch, points after batches 2, 3, 5, 6 and 8
    with pytest.raises(ZeroDivisionError) as caught:
        train_ch6(BreaksAfter(steps=12), train_iter, test_iter, 3, 0.1, **QUIET)
    history = caught.value.history  # broke in the 5th batch of epoch 2: 5 + 2 points
    assert history.status == "failed" and history.num_epochs == 1 and len(history.points) == 7
    assert "Failed in epoch 2/3, batch 5/8 with ZeroDivisionError: inside forward" in history.message


def test_failed_is_one_of_the_statuses():
    from lenet_utils.history import STATUSES
    assert "failed" in STATUSES


# ---------------------------------------------------------------- the first batch is checked


class Outputs(nn.Module):
    """A linear model with ``k`` outputs."""

    def __init__(self, k):
        super().__init__()
        self.linear = nn.Linear(8, k)

    def forward(self, X):
        return self.linear(X)


@pytest.mark.parametrize("net, labels, message", [
    (Outputs(2), None, r"labels go up to 2 but the net has 2 outputs.*nn.Linear\(\.\.\., 3\)"),
    (Outputs(1), "zeros", r"output shape \(32, 1\).*at least 2"),
    (nn.Sequential(Outputs(3), nn.Flatten(0)), None, r"output shape \(96,\).*N x K"),
    (Outputs(3), "float", r"labels are torch.float32.*y.long\(\)"),
    (Outputs(3), "negative", r"labels must be class indices 0 to 2, got -1"),
    (Outputs(3), "column", r"labels of shape \(32, 1\).*y.view\(-1\)"),
])
def test_the_first_batch_is_checked_with_a_message_that_says_what_to_do(net, labels, message):
    X, y = blobs()
    y = {None: y, "zeros": torch.zeros_like(y), "float": y.float(), "negative": y - 1,
         "column": y[:, None]}[labels]
    train_iter = data.TensorLoader(X, y, 32, device="cpu", seed=0)
    with pytest.raises(ValueError, match=message) as caught:
        train_ch6(net, train_iter, train_iter, 2, 0.1, **QUIET)
    assert caught.value.history.status == "failed" and caught.value.history.num_epochs == 0


def test_the_first_batch_check_neither_trains_nor_draws_random_numbers():
    """It runs the net once in eval mode without gradients: a batch norm's running statistics, the
    weights, the net's mode and torch's random numbers are as they were (train_ch6's figures stay
    those of d2l's loop)."""
    X, y = blobs(32)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Linear(16, 3)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    assert checks.check_first_batch(net, X, y) == 3
    assert torch.equal(torch.rand(2), expected)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and net.training


# ---------------------------------------------------------------- scheduled learning rates


@pytest.mark.parametrize("bad", [-0.5, 0.0, float("nan")])
def test_a_scheduled_learning_rate_is_checked_before_it_is_used(bad):
    train_iter, test_iter = loaders()
    net = small_net()
    with pytest.raises(ValueError, match=r"scheduler\(1\)=.* is not valid: a learning rate is a positive") as caught:
        train_ch6(net, train_iter, test_iter, 3, 0.5, scheduler=lambda e: 0.1 if e == 0 else bad, **QUIET)
    history = caught.value.history
    assert history.status == "failed" and history.num_epochs == 1 and history.lr == [0.1]


# ---------------------------------------------------------------- the divergence message


def test_the_divergence_message_names_the_rule_that_fired():
    nan = endings.divergence_message(float("nan"), 10, lr=3.0, when="in epoch 2 (by batch 3/8)")
    assert "the training loss became nan in epoch 2 (by batch 3/8)" in nan and "lr=3" in nan
    assert "exploded" not in nan and "100 times" not in nan
    big = endings.divergence_message(1234.5, 10, lr=3.0, when="after 640 examples")
    assert "the training loss exploded to 1234 after 640 examples" in big
    assert "more than 100 times the loss of a uniform guess (230)" in big and "NaN" not in big


# ---------------------------------------------------------------- on a CUDA GPU


@pytest.mark.gpu
def test_train_ch6_on_cuda_captures_the_step_as_a_graph_and_trains_like_eager_steps(monkeypatch):
    steps = []

    class RecordedStep(CudaGraphStep):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            steps.append(self)

    monkeypatch.setattr(train, "CudaGraphStep", RecordedStep)
    train_iter, test_iter = data.load_data("fashion-mnist", 64, device="cuda", root=data.SAMPLE_DIR,
                                           train_size=512, test_size=256, verbose=False)
    histories, nets = {}, {}
    for graphed in (True, False):  # the same seeds, batches and LeNet, captured and eager
        torch.manual_seed(0)
        nets[graphed] = make_lenet("relu", pool="max")
        batches = data.TensorLoader(train_iter.X, train_iter.y, 64, device="cuda", seed=0)
        histories[graphed] = train_ch6(nets[graphed], batches, test_iter, 2, 0.1, cuda_graph=graphed,
                                       **QUIET)
    step, = steps  # only the graphed run builds one
    assert step.graph is not None and not step.failed  # captured after the 3 warm-up steps
    history = histories[True]
    assert history.status == "completed" and history.num_epochs == 2 and len(history.points) == 10
    assert history.device.startswith("cuda") and torch.cuda.get_device_name(0) in history.device
    assert all(math.isfinite(p.train_loss) for p in history.points)
    assert history.final_test_acc > 0.3  # chance is 0.1
    # 8 batches of 64 per epoch: 13 of the 16 steps are replays, which must train like eager steps
    assert history.train_loss == pytest.approx(histories[False].train_loss, rel=1e-3)
    assert history.test_acc == pytest.approx(histories[False].test_acc, abs=0.02)
    assert next(nets[True].parameters()).device.type == "cuda" and not nets[True].training
