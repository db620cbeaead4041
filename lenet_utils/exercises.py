"""Checks for the chapters' exercises: ``check(name, answer)`` says whether an answer is right.

Every check works the right answer out from the course's own code or from the results the chapter
just produced (never from a number typed in here), prints one line (what was right, or what to look
at again) and returns True or False, so a learner's own ``assert`` can use it too.
"""

import inspect
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EXERCISES", "check"]

Verdict = tuple[bool, str]


def _dense_vs_conv(answer: object) -> Verdict:
    dense = sum(p.numel() for p in nn.Linear(3 * 32 * 32, 1000).parameters())
    conv = sum(p.numel() for p in nn.Conv2d(3, 6, kernel_size=5).parameters())
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return False, "answer with a pair: (dense parameters, convolution parameters)."
    if answer == (dense, conv):
        return True, f"the dense layer learns {dense:,} numbers, the convolution {conv:,}: {dense // conv:,}x fewer."
    hints = []
    if answer[0] != dense:
        hints.append("dense: every one of the 3x32x32 inputs meets every unit, plus one bias per unit")
    if answer[1] != conv:
        hints.append("convolution: one 3x5x5 kernel per output map, plus one bias per map")
    return False, "; ".join(hints) + "."


def _same_padding(answer: object) -> Verdict:
    from .shapes import conv_out

    right = [p for p in range(10) if conv_out(28, 3, P=p, allow_floor=True) == 28]
    if answer in right:
        return True, f"conv_out(28, 3, P={answer}) = 28: (28 - 3 + 2*{answer}) / 1 + 1 = 28."
    return False, "solve (28 - 3 + 2P) / 1 + 1 = 28 for P."


def _c3_parameters(answer: object) -> Verdict:
    from .models import PartialConv2d, c3_connection_mask

    mask = c3_connection_mask()
    right = sum(p.numel() for p in PartialConv2d(mask).parameters())
    if answer == right:
        return True, f"{int(mask.sum())} connections x 25 weights + 16 biases = {right:,}, as in the paper."
    if answer == 16 * 6 * 25 + 16:
        return False, "that is a fully connected C3; count only the table's connections."
    return False, "count the table's crosses (connected pairs), 25 weights each, and add one bias per C3 map."


def _evaluate_loss(answer: object) -> Verdict:
    if not callable(answer):
        return False, "answer with your function itself: evaluate_loss (no brackets)."
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    X, y = torch.rand(70, 1, 28, 28), torch.randint(0, 10, (70,))
    batches = [(X[i:i + 32], y[i:i + 32]) for i in range(0, 70, 32)]  # 32, 32, 6: uneven
    with torch.no_grad():
        right = float(F.cross_entropy(net(X), y))
    got = answer(net, batches)
    if got is None:
        return False, "your evaluate_loss returns None: write its body, then run the cell again."
    got = float(got)
    if math.isclose(got, right, rel_tol=1e-4):
        return True, f"mean loss {got:.4f} over all 70 examples, whatever the batch sizes."
    with torch.no_grad():
        unweighted = sum(float(F.cross_entropy(net(a), b)) for a, b in batches) / len(batches)
    if math.isclose(got, unweighted, rel_tol=1e-4):
        return False, "you averaged the batch means: weight each batch's mean loss by its number of examples."
    return False, f"got {got:.4f}, expected {right:.4f}: sum loss x batch size over batches, divide by examples."


def _best_relu_lr(answer: object, *, sweep: object) -> Verdict:
    rows = [r for r in sweep.rows if r["activation"] == "relu" and math.isfinite(r["best_test_acc"])]
    means: dict[float, list[float]] = {}
    for r in rows:
        means.setdefault(r["lr"], []).append(r["best_test_acc"])
    best = max(means, key=lambda lr: sum(means[lr]) / len(means[lr]))
    if isinstance(answer, (int, float)) and math.isclose(answer, best):
        return True, f"lr {best:g} gives ReLU its best mean best-epoch test accuracy in this sweep."
    return False, "average best_test_acc over the seeds for each ReLU learning rate, then take the largest."


def _largest_gain(answer: object, *, result: object) -> Verdict:
    gaps = [g for g in result.gaps() if g["dataset"] == "fashion-mnist"]
    best = max(gaps, key=lambda g: g["gap"])
    if answer == best["rung"]:
        return True, (f"{best['rung']}: {best['gap'] * 100:+.2f} points; "
                      f"{'more' if best['exceeds_spread'] else 'not more'} than the seed spread.")
    return False, "look at the gap column for Fashion-MNIST and take the rung with the largest gap."


#: name -> the check behind it (some also need the chapter's results: its keyword-only arguments)
EXERCISES: dict[str, Callable[..., Verdict]] = {
    "ch01-dense-vs-conv": _dense_vs_conv,
    "ch02-same-padding": _same_padding,
    "ch03-c3-parameters": _c3_parameters,
    "ch04-evaluate-loss": _evaluate_loss,
    "ch05-best-relu-lr": _best_relu_lr,
    "ch06-largest-gain": _largest_gain,
}


def check(name: str, answer: object, **results: object) -> bool:
    """Print whether ``answer`` solves exercise ``name`` and return True when it does.

    Some exercises are checked against the chapter's results, passed by name, e.g.
    ``check("ch05-best-relu-lr", answer, sweep=sweep)``. True and False are never answers.
    """
    if name not in EXERCISES:
        raise ValueError(f"No exercise called {name!r}; the exercises are {', '.join(EXERCISES)}.")
    exercise = EXERCISES[name]
    needs = [arg for arg, spec in inspect.signature(exercise).parameters.items()
             if spec.kind is spec.KEYWORD_ONLY]
    if sorted(results) != sorted(needs):
        call = ", ".join([repr(name), "answer"] + [f"{arg}={arg}" for arg in needs])
        wants = (f"needs the chapter's results: check({call}), with the {' and '.join(needs)} the chapter "
                 f"made above" if needs else f"takes no results: check({call})")
        got = ", ".join(f"{key}={type(value).__name__}" for key, value in results.items()) or "none"
        raise TypeError(f"Exercise {name!r} {wants}; got {got}.")
    if answer is None:
        print("Not answered yet: replace None with your answer and run the cell again "
              "(or open the solution cell below).")
        return False
    if isinstance(answer, bool):  # True == 1 in Python: it must not pass for the number 1
        print(f"Not yet: {answer} is a yes/no; answer with the value the exercise asks for, not True or "
              f"False.")
        return False
    ok, why = exercise(answer, **results)
    print(("Right: " if ok else "Not yet: ") + why)
    return ok
