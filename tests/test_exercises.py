"""The exercises' checks accept the right answer, refuse wrong ones with a hint, and say when
nothing was answered yet."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from lenet_utils.exercises import EXERCISES, check
from lenet_utils.models import c3_connection_mask


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


SWEEP = SimpleNamespace(rows=[
    {"activation": "relu", "lr": 0.1, "best_test_acc": 0.80}, {"activation": "relu", "lr": 0.1, "best_test_acc": 0.70},
    {"activation": "relu", "lr": 0.3, "best_test_acc": 0.78}, {"activation": "relu", "lr": 0.3, "best_test_acc": 0.77},
    {"activation": "relu", "lr": 3.0, "best_test_acc": math.nan},
    {"activation": "sigmoid", "lr": 1.0, "best_test_acc": 0.90}])
LADDER = SimpleNamespace(gaps=lambda: [
    {"rung": "+ ReLU", "dataset": "fashion-mnist", "gap": 0.004, "exceeds_spread": False},
    {"rung": "+ batch norm", "dataset": "fashion-mnist", "gap": 0.021, "exceeds_spread": True},
    {"rung": "+ augmentation", "dataset": "mnist", "gap": 0.05, "exceeds_spread": True}])
CASES = {  # name -> (right answer, a wrong answer, the results the check needs)
    "ch01-dense-vs-conv": ((3 * 32 * 32 * 1000 + 1000, 6 * 3 * 25 + 6), (3 * 32 * 32 * 1000, 456), {}),
    "ch02-same-padding": (1, 2, {}),
    "ch03-c3-parameters": (int(c3_connection_mask().sum()) * 25 + 16, 16 * 6 * 25 + 16, {}),
    "ch04-evaluate-loss": (evaluate_loss, mean_of_batch_means, {}),
    "ch05-best-relu-lr": (0.3, 0.1, {"sweep": SWEEP}),  # 0.775 beats 0.75 on the mean over seeds
    "ch06-largest-gain": ("+ batch norm", "+ augmentation", {"result": LADDER}),  # Fashion-MNIST only
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


def test_c3_parameters_is_the_papers_1516():
    assert check("ch03-c3-parameters", 1516)


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
    ("ch06-largest-gain", {}, r"check\('ch06-largest-gain', answer, result=result\)"),
    ("ch05-best-relu-lr", {"sweeps": SWEEP},  # a misspelt name
     r"check\('ch05-best-relu-lr', answer, sweep=sweep\), with the sweep .*; got sweeps=SimpleNamespace\."),
    ("ch02-same-padding", {"sweep": SWEEP},
     r"takes no results: check\('ch02-same-padding', answer\); got sweep=SimpleNamespace\."),
])
def test_missing_or_unknown_results_say_what_to_pass(name, results, message):
    with pytest.raises(TypeError, match=message):
        check(name, CASES[name][0], **results)
