"""The classic-to-modern ladder: one change per rung, every rung builds, one definition of spread,
and a run that diverges in its first epoch never crashes the ladder."""

import math

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from lenet_utils.data import SAMPLE_DIR, load_data  # noqa: E402
from lenet_utils.history import History  # noqa: E402
from lenet_utils.ladder import run_ladder  # noqa: E402
from lenet_utils.ladder_results import LadderResult, LadderRun, epochs_to_target  # noqa: E402
from lenet_utils.rungs import Rung, ladder  # noqa: E402
from lenet_utils.plot import plot_ladder  # noqa: E402

RECIPE = ("activation", "pool", "batch_norm", "dropout", "augment", "optimizer", "weight_decay")


def test_ladder_goes_from_classic_to_modern():
    rungs = ladder()
    first, last = rungs[0], rungs[-1]
    assert (first.activation, first.pool, first.batch_norm, first.augment) == ("tanh", "avg", False, False)
    assert (last.activation, last.pool, last.batch_norm, last.augment) == ("relu", "max", True, True)
    assert {(r.optimizer, r.lr, r.weight_decay, r.dropout) for r in rungs} == {("adam", 3e-3, 0.2, 0.0)}
    assert len({r.name for r in rungs}) == len(rungs) == 5
    assert "AdamW, lr 0.003, weight decay 0.2" in first.change
    assert "(SGD, lr 0.1)" in ladder(optimizer="sgd", lr=0.1, weight_decay=0)[0].change


@pytest.mark.parametrize("optimizer, kind", [("adam", torch.optim.AdamW), ("sgd", torch.optim.SGD)])
def test_weight_decay_shrinks_each_weight_by_lr_times_decay(optimizer, kind):
    rung = ladder(optimizer=optimizer, lr=0.01, weight_decay=0.5)[0]
    weight = nn.Parameter(torch.ones(3))
    opt = rung.training_optimizer()([weight], lr=rung.lr)
    assert isinstance(opt, kind)
    weight.grad = torch.zeros(3)
    opt.step()
    assert torch.allclose(weight.detach(), torch.full((3,), 1 - 0.01 * 0.5))
    assert ladder(optimizer=optimizer, weight_decay=0)[0].training_optimizer() == optimizer


def test_an_optimizer_train_ch6_cannot_name_is_refused_at_once():
    # It used to be accepted, with the advice to set weight_decay=0, which train_ch6 then refused.
    for weight_decay in (0.1, 0):
        with pytest.raises(ValueError, match="optimizer='rmsprop' is not valid: choose one of sgd, adam"):
            ladder(optimizer="rmsprop", weight_decay=weight_decay)
    with pytest.raises(ValueError, match="choose one of sgd, adam"):
        Rung("odd", "RMSprop", optimizer="rmsprop").training_optimizer()


def test_each_rung_changes_exactly_one_thing():
    rungs = ladder()
    for below, above in zip(rungs, rungs[1:]):
        changed = [k for k in RECIPE if getattr(below, k) != getattr(above, k)]
        assert len(changed) == 1, (above.name, changed)
        assert above.lr == below.lr


def test_augmentation_ranges_are_part_of_the_rung():
    rungs = ladder(max_degrees=20, max_shift=3)
    assert all((r.max_degrees, r.max_shift) == (20, 3) for r in rungs)
    assert "±20°" in rungs[4].change and rungs[4].augment and not rungs[3].augment


@pytest.mark.parametrize("rung", ladder(), ids=lambda r: r.name)
def test_every_rung_builds_the_network_it_describes(rung):
    net = rung.build()
    kinds = {type(m) for m in net.modules()}
    assert (nn.ReLU in kinds) == (rung.activation == "relu")
    assert (nn.Tanh in kinds) == (rung.activation == "tanh")
    assert (nn.MaxPool2d in kinds) == (rung.pool == "max")
    assert (nn.AvgPool2d in kinds) == (rung.pool == "avg")
    assert (nn.BatchNorm2d in kinds) == rung.batch_norm
    assert (nn.Dropout in kinds) == (rung.dropout > 0)
    net.eval()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_rungs_differ_only_in_batch_norm_parameters():
    counts = {r.name: sum(p.numel() for p in r.build().parameters()) for r in ladder()}
    plain = counts["classic"]
    assert counts["+ ReLU"] == counts["+ max pool"] == plain  # 61,706 for the 28x28 LeNet
    assert counts["+ batch norm"] - plain == 2 * (6 + 16 + 120 + 84)  # gamma and beta per channel
    assert counts["+ augmentation"] == counts["+ batch norm"]


def test_epochs_to_target():
    assert epochs_to_target([0.5, 0.97, 0.99, 0.98], 0.98) == 3
    assert epochs_to_target([0.5, 0.6], 0.98) is None


def _run(rung, seed, test_acc, status="completed", dataset="mnist"):
    h = History(test_acc=list(test_acc), train_loss=[1.0] * len(test_acc), seconds=[5.0] * len(test_acc),
                status=status)
    return LadderRun(rung, dataset, seed, h, 0.98)


def test_table_uses_one_spread_best_minus_worst_seed():
    classic, relu = ladder()[:2]
    runs = [_run(classic, 0, [0.90, 0.97, 0.985]), _run(classic, 1, [0.92, 0.981, 0.975]),
            _run(classic, 2, [0.92, 0.95, 0.980])]
    row, = LadderResult(runs).table()
    assert row["test_acc_mean"] == pytest.approx(0.98)
    assert row["spread"] == pytest.approx(0.010)
    assert (row["test_acc_min"], row["test_acc_max"]) == (0.975, 0.985)
    assert row["epochs_to_target"] == pytest.approx(8 / 3) and row["reached"] == 3
    assert row["seconds"] == 15.0 and row["diverged"] == 0
    text = LadderResult(runs).to_markdown()
    assert "| classic |" in text and "98.00% (1.00)" in text and "| 2.7 |" in text
    assert "best minus worst seed" in text


def test_gaps_are_paired_by_seed_with_a_95_percent_interval():
    classic, relu, maxpool = ladder()[:3]
    runs = [_run(classic, 0, [0.970]), _run(classic, 1, [0.974]), _run(classic, 2, [0.972]),
            _run(relu, 0, [0.975]), _run(relu, 1, [0.973]), _run(relu, 2, [0.977]),    # +0.005, -0.001, +0.005
            _run(maxpool, 0, [0.985]), _run(maxpool, 1, [0.983]), _run(maxpool, 2, [0.987])]  # +0.01 each
    relu_gap, maxpool_gap = LadderResult(runs).gaps()
    assert relu_gap["gap"] == pytest.approx(0.003) and relu_gap["seeds"] == 3
    low, high = relu_gap["low"], relu_gap["high"]
    assert low < 0 < high and relu_gap["verdict"] == "not shown"  # the seeds disagree
    assert (low + high) / 2 == pytest.approx(0.003)
    assert maxpool_gap["gap"] == pytest.approx(0.010) and maxpool_gap["verdict"] == "likely"
    assert maxpool_gap["low"] == pytest.approx(0.010) and maxpool_gap["high"] == pytest.approx(0.010)
    one_seed, = LadderResult([_run(classic, 0, [0.970]), _run(relu, 0, [0.990])]).gaps()
    assert one_seed["low"] is None and one_seed["verdict"] == "not shown"  # one seed: no interval


def test_gaps_pair_only_the_seeds_both_rungs_finished():
    classic, relu = ladder()[:2]
    runs = [_run(classic, 0, [0.970]), _run(classic, 1, [0.970]), _run(classic, 2, [], status="diverged"),
            _run(relu, 0, [0.980]), _run(relu, 1, [0.982]), _run(relu, 2, [0.999])]
    gap, = LadderResult(runs).gaps()
    assert gap["seeds"] == 2 and gap["gap"] == pytest.approx(0.011)


def test_a_run_without_any_epoch_is_counted_not_crashed():
    classic = ladder()[0]
    runs = [_run(classic, 0, [0.97]), _run(classic, 1, [], status="diverged")]
    row, = LadderResult(runs).table()
    assert row["diverged"] == 1 and row["test_acc_mean"] == pytest.approx(0.97) and row["spread"] == 0
    assert "1/2 diverged" in LadderResult(runs).to_markdown()
    alone, = LadderResult([_run(classic, 1, [], status="diverged")]).table()
    assert math.isnan(alone["test_acc_mean"])
    assert "diverged (1/1)" in LadderResult([_run(classic, 1, [], status="diverged")]).to_markdown()


@pytest.fixture(scope="module")
def mnist():
    return load_data("mnist", 32, train_size=400, test_size=300, device="cpu", verbose=False,
                     root=SAMPLE_DIR)


def test_tiny_ladder_learns_and_survives_a_first_epoch_divergence(mnist):
    modern = ladder()[3]  # + batch norm: the quickest learner on a few hundred images
    wild = Rung("wild", "ReLU with SGD at lr 50", activation="relu", pool="max", lr=50.0)
    result = run_ladder([modern, wild], {"mnist": mnist}, seeds=(0, 1), num_epochs=3, device="cpu",
                        verbose=False)
    assert len(result.runs) == 4
    rows = {r["rung"]: r for r in result.table()}
    assert rows["+ batch norm"]["test_acc_mean"] > 0.7  # chance is 0.1; 3 epochs on 400 images
    assert rows["wild"]["diverged"] == 2 and math.isnan(rows["wild"]["test_acc_mean"])
    assert all(r.history.num_epochs == 0 for r in result.runs if r.rung.name == "wild")
    assert set(result.predictions) == {("+ batch norm", "mnist"), ("wild", "mnist")}
    assert "diverged (2/2)" in result.to_markdown()
    fig = plot_ladder(result, titles={"mnist": "MNIST"})
    ax, = fig.axes
    assert ax.get_title() == "MNIST" and [t.get_text() for t in ax.get_legend().get_texts()] == ["+ batch norm"]
