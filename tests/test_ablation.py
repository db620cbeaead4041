"""The classic-to-modern ladder: one change per rung, every rung builds, a tiny run works."""

import pytest
import torch
from torch import nn

from lenet_utils.ablation import (
    LadderResult, LadderRun, epochs_to_target, hardware_summary, ladder, paper_input_scale, paper_lr_factor,
    run_ladder, train_lenet5_paper,
)

RECIPE = ("activation", "pool", "batch_norm", "dropout", "augment", "optimizer")


def test_ladder_goes_from_classic_to_modern():
    rungs = ladder()
    first, last = rungs[0], rungs[-1]
    assert (first.activation, first.pool, first.batch_norm, first.dropout, first.augment, first.optimizer) \
        == ("tanh", "avg", False, 0.0, False, "sgd")
    assert (last.activation, last.pool, last.batch_norm, last.augment, last.optimizer) \
        == ("relu", "max", True, True, "adam")
    assert last.dropout > 0
    assert len({r.name for r in rungs}) == len(rungs) == 7


def test_each_rung_changes_exactly_one_thing():
    rungs = ladder()
    for below, above in zip(rungs, rungs[1:]):
        changed = [k for k in RECIPE if getattr(below, k) != getattr(above, k)]
        assert len(changed) == 1, (above.name, changed)
        if changed != ["optimizer"]:  # the optimizer change carries its own learning rate
            assert above.lr == below.lr


def test_augmentation_ranges_are_part_of_the_rung():
    rungs = ladder(max_degrees=20, max_shift=3)
    assert all((r.max_degrees, r.max_shift) == (20, 3) for r in rungs)
    assert "±20°" in rungs[5].change and rungs[5].augment and not rungs[4].augment


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
    assert counts["+ Adam"] == counts["+ batch norm"]


def test_epochs_to_target():
    assert epochs_to_target([0.5, 0.97, 0.99, 0.98], 0.98) == 3
    assert epochs_to_target([0.5, 0.6], 0.98) is None


class FakeHistory:
    def __init__(self, test_acc):
        self.test_acc = test_acc


def test_table_aggregates_over_seeds():
    rung = ladder()[0]
    runs = [LadderRun(rung, "mnist", 0, FakeHistory([0.90, 0.97, 0.985]), 10.0, 0.98),
            LadderRun(rung, "mnist", 1, FakeHistory([0.92, 0.981, 0.975]), 12.0, 0.98)]
    row, = LadderResult(runs).table()
    assert row["test_acc_mean"] == pytest.approx(0.98)
    assert row["test_acc_std"] == pytest.approx(0.00707, abs=1e-5)
    assert (row["test_acc_min"], row["test_acc_max"]) == (0.975, 0.985)
    assert row["epochs_to_target"] == 2.5 and row["reached"] == 2
    assert row["seconds"] == 11.0
    text = LadderResult(runs).to_markdown()
    assert "| classic |" in text and "98.00% ± 0.71%" in text and "| 2.5 |" in text


def test_paper_input_scale_and_schedule():
    X = paper_input_scale(torch.tensor([0.0, 1.0]))
    assert torch.allclose(X, torch.tensor([-0.1, 1.175]))
    factors = [paper_lr_factor(e, 20) for e in range(20)]
    assert factors[:2] == [1.0, 1.0] and factors[2:5] == [0.4] * 3 and factors[-1] == 0.02
    assert factors == sorted(factors, reverse=True)
    assert paper_lr_factor(0, 4) == 1.0 and paper_lr_factor(3, 4) == 0.02


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="num_epochs"):
        run_ladder(num_epochs=0)
    with pytest.raises(ValueError, match="at least one"):
        run_ladder(seeds=())


def test_tiny_ladder_runs_on_a_few_hundred_images():
    rungs = [ladder()[0], ladder()[-1]]  # classic and fully modern (augmentation, Adam)
    result = run_ladder(rungs, datasets=("mnist",), seeds=(0,), num_epochs=1, batch_size=64,
                        device="cpu", train_size=300, test_size=200, verbose=False)
    assert len(result.runs) == 2
    for run in result.runs:
        assert len(run.test_acc) == 1 and 0.0 <= run.final_test_acc <= 1.0 and run.seconds > 0
    assert set(result.models) == {("classic", "mnist"), ("+ Adam", "mnist")}
    rows = result.table()
    assert [r["rung"] for r in rows] == ["classic", "+ Adam"]
    assert result.settings["mnist_sizes"] == (300, 200)


def test_tiny_faithful_lenet5_run():
    out = train_lenet5_paper(num_epochs=1, batch_size=64, device="cpu", train_size=300, test_size=200,
                             verbose=False)
    assert out["train_size"] == 300 and out["test_size"] == 200
    assert 0.0 <= out["test_error"] <= 1.0 and out["paper_test_error"] == 0.0095
    assert out["net"](torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_hardware_summary_names_threads_and_device():
    line = hardware_summary("cpu")
    assert f"{torch.get_num_threads()} threads" in line and "training device: cpu" in line
