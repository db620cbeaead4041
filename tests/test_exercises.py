"""The exercises' checks accept the right answer, refuse wrong ones with a hint, and say when
nothing was answered yet."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from lenet_utils.data import TensorLoader
from lenet_utils.exercises import EXERCISES, check
from lenet_utils.lenet import c3_connection_mask


def evaluate_loss(net, data_iter):
    total, count = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            total += float(F.cross_entropy(net(X), y, reduction="sum"))
            count += len(y)
    return total / count


def mean_of_batch_means(net, data_iter):
    with torch.no_grad():
        losses = [float(F.cross_entropy(net(X), y)) for X, y in data_iter]
    return sum(losses) / len(losses)


def sweep_row(activation, lr, seed, best_test_acc, test_acc, status="completed"):
    return {"activation": activation, "lr": lr, "seed": seed, "best_test_acc": best_test_acc,
            "test_acc": test_acc, "status": status}


SWEEP = SimpleNamespace(rows=[
    sweep_row("relu", 0.1, 0, 0.80, 0.79), sweep_row("relu", 0.1, 1, 0.70, 0.69),  # last epoch: 0.1 is best
    sweep_row("relu", 0.3, 0, 0.78, 0.70), sweep_row("relu", 0.3, 1, 0.77, 0.70),  # best epoch: 0.3 is best
    sweep_row("relu", 1.0, 0, math.nan, math.nan, "diverged"), sweep_row("relu", 1.0, 1, 0.11, 0.10),
    sweep_row("relu", 3.0, 0, math.nan, math.nan, "diverged"),
    sweep_row("sigmoid", 1.0, 0, 0.90, 0.90)])


def _run(rung, seed, acc, dataset="fashion-mnist"):
    return SimpleNamespace(rung=SimpleNamespace(name=rung), seed=seed, dataset=dataset, final_test_acc=acc)


# on the last seed (2) batch norm gains most (+0.020), although ReLU gains more on seed 0
LADDER = SimpleNamespace(runs=[
    _run("classic", 0, 0.80), _run("+ ReLU", 0, 0.85), _run("+ batch norm", 0, 0.86),
    _run("classic", 2, 0.80), _run("+ ReLU", 2, 0.81), _run("+ batch norm", 2, 0.83),
    _run("classic", 2, 0.90, dataset="mnist"), _run("+ ReLU", 2, 0.99, dataset="mnist"),
    _run("+ batch norm", 2, 0.99, dataset="mnist")])
# 1,000 training images: 7 full batches of 128 and a last one of 104
TRAIN_ITER = TensorLoader(torch.zeros(1000, 1, 2, 2), torch.zeros(1000, dtype=torch.long), 256)
# Fashion-MNIST: 0 t-shirt, 2 pullover, 4 coat, 6 shirt. Called shirt wrongly: pullover x2, t-shirt x1;
# true shirts called something else: t-shirt x2 (the row's answer, not the column's)
Y_TEST = torch.tensor([2, 2, 0, 6, 6, 6, 6, 4])
Y_PRED = torch.tensor([6, 6, 6, 0, 0, 6, 6, 4])
PATCH = torch.tensor([[0.0, 2.0, 1.0, 1.0], [6.0, 0.0, 1.0, 1.0], [-1.0, 3.0, 0.0, 8.0], [1.0, 1.0, 0.0, 0.0]])
MAX_POOLED, AVG_POOLED = [[6, 1], [3, 8]], [[2, 1], [1, 2]]
CASES = {  # name -> (right answer, a wrong answer, the results the check needs)
    "ch01-dense-vs-conv": ((3 * 32 * 32 * 1000 + 1000, 6 * 3 * 25 + 6), (3 * 32 * 32 * 1000, 456), {}),
    "ch01-mlp2-parameters": (784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10, 203_530, {}),
    "ch01-diagonal-pool": (14 * 14, 14, {}),  # row and column must both start a window
    "ch02-same-padding": (1, 2, {}),
    "ch02-photo-dense-inputs": (16 * 248 * 248, 248 * 248, {}),  # 1000 -> 1000 -> 500 -> 496 -> 248
    "ch02-stride3-padding": (2, 5, {}),  # 28 - 5 + 2*2 = 27; P=5 fits too, but is not the smallest
    "ch03-c3-three-inputs": (16 * 3 * 25 + 16, int(c3_connection_mask().sum()) * 25 + 16, {}),
    "ch03-s4-field": ((8, 23, 4, 19), (8, 24, 4, 20), {}),
    "ch03-c5-larger-input": ((120, 2, 2), (120, 1, 1), {}),  # 36 -> 32 -> 16 -> 12 -> 6 -> 2
    "ch04-evaluate-loss": (evaluate_loss, mean_of_batch_means, {}),
    "ch04-batches-of-128": ((8, 104), (7, 128), {"train_iter": TRAIN_ITER}),
    "ch04-called-shirt": ("pullover", "t-shirt", {"y_test": Y_TEST, "y_pred": Y_PRED}),
    "ch05-best-relu-lr": (0.3, 0.1, {"sweep": SWEEP}),  # 0.775 beats 0.75 on the mean over seeds
    "ch05-relu-last-epoch": (0.1, 0.3, {"sweep": SWEEP}),  # 0.74 beats 0.70 on the last epoch
    "ch05-relu-cliff": (1.0, 3.0, {"sweep": SWEEP}),  # lr 1: one seed diverged, the other at chance
    "ch06-largest-gain-last-seed": ("+ batch norm", "+ ReLU", {"result": LADDER}),  # Fashion-MNIST, seed 2
    "ch06-batch-norm-parameters": (2 * (16 + 32 + 256 + 128), 16 + 32 + 256 + 128, {}),
    "ch06-max-vs-average": ((MAX_POOLED, AVG_POOLED), (AVG_POOLED, MAX_POOLED), {"patch": PATCH}),
}


def test_every_exercise_has_a_case():
    assert set(CASES) == set(EXERCISES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_right_answer_passes_and_wrong_one_gets_a_hint(name, capsys):
    right, wrong, results = CASES[name]
    assert check(name, right, **results) is True
    assert capsys.readouterr().out.startswith("Right: ")
    assert check(name, wrong, **results) is False
    out = capsys.readouterr().out
    assert out.startswith("Not yet: ") and len(out) > 20


@pytest.mark.parametrize("name", sorted(CASES))
def test_quiet_prints_no_answer(name, capsys):
    right, wrong, results = CASES[name]
    assert check(name, right, quiet=True, **results) is True
    assert capsys.readouterr().out == "Solution checked.\n"
    assert check(name, wrong, quiet=True, **results) is False
    assert capsys.readouterr().out.startswith("Not yet: ")


@pytest.mark.parametrize("name", sorted(CASES))
def test_none_is_not_answered_yet(name, capsys):
    assert check(name, None, **CASES[name][2]) is False
    assert capsys.readouterr().out.startswith("Not answered yet")


@pytest.mark.parametrize("name, answer, hint", [
    ("ch01-mlp2-parameters", 784 * 256 + 256 * 128 + 128 * 10, "weights only"),
    ("ch02-photo-dense-inputs", 16 * 247 * 247, "pads by 2"),
    ("ch03-s4-field", (4, 19, 8, 23), "swapped"),
    ("ch03-c5-larger-input", (16, 2, 2), "as many maps as it has kernels"),
    ("ch04-batches-of-128", (8, 128), "what is left"),
    ("ch04-called-shirt", "shirt", "off the diagonal"),
    ("ch04-called-shirt", "t-shirt", "the shirt row"),
    ("ch04-batches-of-128", (7, 128), "round up"),
    ("ch04-called-shirt", "dress", "count their true classes"),
    ("ch04-called-shirt", "jumper", "a class name"),
    ("ch05-relu-cliff", 0.3, "every ReLU run got off chance"),
    ("ch05-relu-cliff", 0.5, "one of the sweep's learning rates"),
    ("ch06-batch-norm-parameters", 4 * (16 + 32 + 256 + 128), "buffers"),
    ("ch06-max-vs-average", (MAX_POOLED, [[2, 1], [1, 3]]), "divided by 4"),
    ("ch06-max-vs-average", ([1, 2], AVG_POOLED), "2x2 list of lists"),
])
def test_specific_hints(name, answer, hint, capsys):
    assert check(name, answer, **CASES[name][2]) is False
    out = capsys.readouterr().out
    assert out.startswith("Not yet: ") and hint in out


def test_called_shirt_accepts_a_tie(capsys):
    y_test, y_pred = torch.tensor([0, 2, 6]), torch.tensor([6, 6, 6])  # one t-shirt, one pullover
    assert check("ch04-called-shirt", "t-shirt", y_test=y_test, y_pred=y_pred)
    assert check("ch04-called-shirt", "pullover", y_test=y_test, y_pred=y_pred)


def test_relu_cliff_without_a_failed_run(capsys):
    sweep = SimpleNamespace(rows=[sweep_row("relu", 0.1, 0, 0.8, 0.8)])
    assert check("ch05-relu-cliff", 0.1, sweep=sweep) is False
    assert "answer 'none'" in capsys.readouterr().out
    assert check("ch05-relu-cliff", "none", sweep=sweep) is True


def test_largest_gain_reads_the_last_seed_of_fashion_mnist_only(capsys):
    assert check("ch06-largest-gain-last-seed", "+ batch norm", result=LADDER)
    assert capsys.readouterr().out == ("Right: + batch norm: +2.00 points on seed 2 alone. One seed can rank "
                                       "the changes differently from the mean over the seeds in the gap table.\n")
    assert check("ch06-largest-gain-last-seed", "+ ReLU", result=LADDER) is False
    assert "+ ReLU gained +1.00 points on seed 2" in capsys.readouterr().out
    assert check("ch06-largest-gain-last-seed", "ReLU", result=LADDER) is False
    assert "'+ ReLU', '+ batch norm'" in capsys.readouterr().out


def test_c3_with_three_inputs_per_map_and_its_hints(capsys):
    assert check("ch03-c3-three-inputs", 16 * 3 * 25 + 16)
    assert check("ch03-c3-three-inputs", 16 * 3 * 25) is False
    assert "one bias per C3 map" in capsys.readouterr().out
    assert check("ch03-c3-three-inputs", 16 * 6 * 25 + 16) is False
    assert "fully connected" in capsys.readouterr().out


def test_unanswered_and_unknown(capsys):
    assert check("ch02-same-padding", None) is False
    assert "Not answered yet" in capsys.readouterr().out
    assert check("ch04-evaluate-loss", lambda net, it: None) is False
    assert "returns None" in capsys.readouterr().out
    with pytest.raises(ValueError, match="ch01-dense-vs-conv"):
        check("ch9-nothing", 1)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("flag", [True, False])
def test_a_bool_is_no_answer(name, flag, capsys):
    # True == 1 in Python: check("ch02-same-padding", True) used to print "Right"
    assert check(name, flag, **CASES[name][2]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"Not yet: {flag} is a yes/no") and "not True or False" in out


def test_a_bool_is_no_learning_rate(capsys):
    sweep = SimpleNamespace(rows=[{"activation": "relu", "lr": 1.0, "best_test_acc": 0.9},
                                  {"activation": "relu", "lr": 0.1, "best_test_acc": 0.8}])
    assert check("ch05-best-relu-lr", 1.0, sweep=sweep) is True
    capsys.readouterr()
    assert check("ch05-best-relu-lr", True, sweep=sweep) is False
    assert capsys.readouterr().out.startswith("Not yet: True is a yes/no")


@pytest.mark.parametrize("name, results, message", [
    ("ch05-best-relu-lr", {}, r"needs the chapter's results: check\('ch05-best-relu-lr', answer, sweep=sweep\)"),
    ("ch06-largest-gain-last-seed", {}, r"check\('ch06-largest-gain-last-seed', answer, result=result\)"),
    ("ch05-best-relu-lr", {"sweeps": SWEEP},  # a misspelt name
     r"check\('ch05-best-relu-lr', answer, sweep=sweep\), with the sweep .*; got sweeps=SimpleNamespace\."),
    ("ch02-same-padding", {"sweep": SWEEP},
     r"takes no results: check\('ch02-same-padding', answer\); got sweep=SimpleNamespace\."),
])
def test_missing_or_unknown_results_say_what_to_pass(name, results, message):
    with pytest.raises(TypeError, match=message):
        check(name, CASES[name][0], **results)


NUMBER_ANSWERS = sorted(name for name, (right, _, _) in CASES.items()
                        if isinstance(right, (int, float)) and not isinstance(right, bool))


@pytest.mark.parametrize("name", NUMBER_ANSWERS)
def test_a_number_written_as_text_is_told_apart_from_a_wrong_number(name, capsys):
    right, _, results = CASES[name]
    assert check(name, str(right), **results) is False
    out = capsys.readouterr().out
    assert out.startswith(f"Not yet: '{right}' is text: answer with the number itself, {right}, "
                          f"without quotes.")


def test_the_right_pair_in_a_list_is_the_right_pair(capsys):
    right, wrong, _ = CASES["ch01-dense-vs-conv"]
    assert check("ch01-dense-vs-conv", list(right)) is True
    assert capsys.readouterr().out.startswith("Right: the dense layer learns 3,073,000 numbers")
    assert check("ch01-dense-vs-conv", list(wrong)) is False
    assert "dense: every one of the 3x32x32 inputs" in capsys.readouterr().out
    assert check("ch01-dense-vs-conv", [1, 2, 3]) is False
    assert "answer with a pair" in capsys.readouterr().out
