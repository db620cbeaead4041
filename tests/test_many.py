"""Many same-shaped models at once: the stacked (vmap) trainer keeps train_ch6's rules (optimizer,
checkpoints, divergence, History) and matches one train_ch6 run per model."""

import math

import pytest
import torch

from lenet_utils.data import SAMPLE_DIR, TensorLoader, load_data
from lenet_utils.many import train_many, vmap_blocker
from lenet_utils.models import make_lenet
from lenet_utils.train import train_ch6


@pytest.fixture(scope="module")
def data():
    return load_data("fashion-mnist", 64, train_size=500, test_size=300, device="cpu", verbose=False,
                     root=SAMPLE_DIR)


def _nets(activation, n, seed=0, **kwargs):
    nets = []
    for _ in range(n):
        torch.manual_seed(seed)
        nets.append(make_lenet(activation, **kwargs))
    return nets


def _train_ch6_runs(data, lrs, num_epochs, optimizer, seed=0):
    """What a sweep does without train_many: one train_ch6 per lr, same seed, same batches."""
    train, test = data
    histories = []
    for lr in lrs:
        torch.manual_seed(seed)
        net = make_lenet("relu")
        batches = TensorLoader(train.X, train.y, train.batch_size, device="cpu", seed=seed)
        torch.manual_seed(seed)
        histories.append(train_ch6(net, batches, test, num_epochs, lr, optimizer=optimizer,
                                   animate=False, verbose=False))
    return histories


@pytest.mark.parametrize("optimizer, lrs", [("sgd", [0.1, 0.3, 30.0]), ("adam", [1e-3, 3e-3, 1.0])])
def test_stacked_trainer_matches_train_ch6_including_a_diverging_lr(data, optimizer, lrs):
    train, test = data
    stacked = train_many(_nets("relu", len(lrs)), lrs, train, test, 2, optimizer=optimizer, parallel=True)
    assert stacked.trainer == "vmap"
    reference = _train_ch6_runs(data, lrs, 2, optimizer)
    assert [h.status for h in stacked.histories] == [h.status for h in reference] \
        == ["completed", "completed", "diverged"]
    for s, r in zip(stacked.histories, reference):
        assert s.num_epochs == r.num_epochs and len(s.points) == len(r.points)
        assert [p.examples for p in s.points] == [p.examples for p in r.points]
        assert s.train_loss == pytest.approx(r.train_loss, rel=2e-3)
        assert all(abs(a - b) <= 0.02 for a, b in zip(s.test_acc, r.test_acc))
    good, _, bad = stacked.histories
    assert max(good.test_acc) > 0.2  # chance is 0.1: these runs really trained
    assert bad.num_epochs == 0 and bad.message.startswith("Stopped: the training loss")
    assert bad.message.split(" in epoch")[1][:2] == reference[2].message.split(" in epoch")[1][:2]


def test_a_diverged_model_is_frozen_and_the_others_train_on(data):
    train, test = data
    after = {}
    for epochs in (1, 2):
        nets = _nets("relu", 2)
        runs = train_many(nets, [0.1, 30.0], train, test, epochs, parallel=True)
        after[epochs] = [n.fc3.weight.detach().clone() for n in nets]
    ok, bad = runs.histories
    assert ok.status == "completed" and ok.num_epochs == 2 and ok.lr == [0.1, 0.1]
    assert all(math.isfinite(v) for v in ok.train_loss)
    assert bad.status == "diverged" and bad.num_epochs == 0 and "lr=30" in bad.message
    # lr 30 explodes the loss while the weights are still finite; from then on they stay put
    assert torch.isfinite(after[2][1]).all() and torch.equal(after[1][1], after[2][1])
    assert not torch.equal(after[1][0], after[2][0])  # the healthy model kept learning


def test_stacked_trainer_updates_the_nets_in_place(data):
    train, test = data
    nets = _nets("relu", 2)
    before = [n.fc3.weight.detach().clone() for n in nets]
    train_many(nets, [0.05, 0.2], train, test, 1, parallel=True)
    assert not torch.equal(before[0], nets[0].fc3.weight)
    assert not torch.equal(nets[0].fc3.weight, nets[1].fc3.weight)  # different lrs, different weights
    assert not any(n.training for n in nets)


def test_checkpoints_are_train_ch6_points(data):
    train, test = data
    h, = train_many(_nets("relu", 1), [0.1], train, test, 2, parallel=True, points_per_epoch=4).histories
    assert [p.epoch for p in h.points] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert h.points[3].examples == 500 and h.points[-1].examples == 1000
    assert [p.test_acc for p in h.points if p.test_acc is not None] == h.test_acc


@pytest.mark.parametrize("kwargs, reason", [
    ({"batch_norm": True}, "batch norm"),
    ({"dropout": 0.5}, "dropout"),
])
def test_unsupported_models_fall_back_to_sequential_runs(data, kwargs, reason):
    train, test = data
    nets = _nets("relu", 2, **kwargs)
    assert reason in vmap_blocker(nets)
    with pytest.warns(UserWarning, match=reason):
        runs = train_many(nets, [0.05, 0.1], train, test, 1, parallel=True)
    assert runs.trainer == "sequential" and reason in runs.reason
    assert all(h.status == "completed" for h in runs.histories)


def test_models_of_different_shapes_are_not_stacked():
    assert "differ" in vmap_blocker([make_lenet("relu"), make_lenet("sigmoid")])
    assert "differ" in vmap_blocker([make_lenet("relu"), make_lenet("relu", in_channels=3, image_size=32)])
    assert vmap_blocker(_nets("relu", 3)) is None
    assert "no models" in vmap_blocker([])


def test_train_many_rejects_bad_arguments(data):
    train, test = data
    with pytest.raises(ValueError, match="one lr per net"):
        train_many(_nets("relu", 2), [0.1], train, test, 1)
    with pytest.raises(ValueError, match="positive number"):
        train_many(_nets("relu", 1), [0.0], train, test, 1)
    with pytest.raises(ValueError, match="parallel must be"):
        train_many(_nets("relu", 1), [0.1], train, test, 1, parallel="yes")
    with pytest.raises(ValueError, match="choose one of sgd, adam"):
        train_many(_nets("relu", 1), [0.1], train, test, 1, optimizer="rmsprop")
    with pytest.raises(TypeError, match="TensorLoader"):
        train_many(_nets("relu", 1), [0.1], [(train.X, train.y)], test, 1, parallel=True)
