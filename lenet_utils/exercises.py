"""Checks for the chapters' exercises: ``check(name, answer)`` says whether an answer is right.

Every check works the right answer out from the course's own code or from the results the chapter
just produced (never from a number typed in here), prints one line (what was right, or what to look
at again) and returns True or False, so a learner's own ``assert`` can use it too. The chapters'
solution cells call ``assert check(..., quiet=True)``: it prints only "Solution checked.", so a
solution's output never gives the answer away.
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
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        return False, "answer with a pair: (dense parameters, convolution parameters)."
    answer = tuple(answer)
    if answer == (dense, conv):
        return True, f"the dense layer learns {dense:,} numbers, the convolution {conv:,}: {dense // conv:,}x fewer."
    hints = []
    if answer[0] != dense:
        hints.append("dense: every one of the 3x32x32 inputs meets every unit, plus one bias per unit")
    if answer[1] != conv:
        hints.append("convolution: one 3x5x5 kernel per output map, plus one bias per map")
    return False, "; ".join(hints) + "."


def _mlp2_parameters(answer: object) -> Verdict:
    from .models import mlp, small_cnn
    from .parameters import count_parameters, linear_params

    layers = [(28 * 28, 256), (256, 128), (128, 10)]  # the question's mlp2: 784 -> 256 -> 128 -> 10
    right = sum(linear_params(n, m) for n, m in layers)
    if answer == right:
        return True, (f"mlp2 learns {right:,} numbers, {right / count_parameters(small_cnn()):.1f} times "
                      f"the CNN's.")
    if answer == sum(linear_params(n, m, bias=False) for n, m in layers):
        return False, "those are the weights only: add one bias per unit of each dense layer."
    if answer == count_parameters(mlp()):
        return False, "that is the one-hidden-layer mlp(); mlp2 has a 256 -> 128 layer in between."
    return False, ("count each dense layer as inputs x outputs + outputs, for 784 -> 256, 256 -> 128 "
                   "and 128 -> 10, and add them up.")


def _diagonal_pool(answer: object) -> Verdict:
    size = 28
    starts = [(r, c) for r in range(size - 1) for c in range(size - 1)]
    here, moved = torch.zeros(len(starts), 1, size, size), torch.zeros(len(starts), 1, size, size)
    for i, (r, c) in enumerate(starts):
        here[i, 0, r, c], moved[i, 0, r + 1, c + 1] = 1.0, 1.0
    pool = nn.MaxPool2d(2)
    kept = int((pool(here) == pool(moved)).flatten(1).all(dim=1).sum())
    if answer == kept:
        return True, (f"{kept} of the {len(starts)} starting positions: only from the top-left pixel of "
                      f"its 2x2 window does the move keep the bright pixel inside the same window.")
    one_way = sum(1 for c in range(size - 1) if c // 2 == (c + 1) // 2)
    if answer == one_way:
        return False, (f"{one_way} is the count for a move to the right only; moving diagonally, the row "
                       f"must stay in its window too.")
    return False, ("the pooled map stays the same only if the move keeps the pixel inside its 2x2 window "
                   "in both directions: count the starting rows that allow it, and the starting columns.")


def _same_padding(answer: object) -> Verdict:
    from .shapes import conv_out

    right = [p for p in range(10) if conv_out(28, 3, P=p, allow_floor=True) == 28]
    if answer in right:
        return True, f"conv_out(28, 3, P={answer}) = 28: (28 - 3 + 2*{answer}) / 1 + 1 = 28."
    return False, "solve (28 - 3 + 2P) / 1 + 1 = 28 for P."


def _photo_dense_inputs(answer: object) -> Verdict:
    from .parameters import linear_params
    from .shapes import conv_out, pool_out

    def flattened(width: int, padding: int) -> tuple[int, int]:  # (map side after pool2, fc1 inputs)
        side = pool_out(conv_out(width, 5, P=padding), 2, allow_floor=True)
        side = pool_out(conv_out(side, 5), 2, allow_floor=True)
        return side, 16 * side * side

    side, right = flattened(1000, padding=2)
    if answer == right:
        return True, (f"{side}x{side} after the second pooling, times 16 maps: {right:,} inputs, so d2l's "
                      f"fc1 (120 units) alone would learn {linear_params(right, 120):,} numbers.")
    if answer == side * side:
        return False, "that is one map: the second convolution makes 16 of them, all flattened together."
    if answer == flattened(1000, padding=0)[1]:
        return False, "d2l's first convolution pads by 2 (P=2), which keeps the 1000x1000 size."
    return False, ("follow the side through conv (F=5, P=2), pool (2x2), conv (F=5, P=0), pool (2x2) with "
                   "conv_out and pool_out (allow_floor=True), then multiply side x side by the 16 maps.")


def _stride3_padding(answer: object) -> Verdict:
    from .shapes import ShapeError, conv_out

    def fits(P: int) -> bool:
        try:
            conv_out(28, 5, P=P, S=3)
            return True
        except ShapeError:
            return False

    right = next(P for P in range(10) if fits(P))
    if answer == right:
        return True, (f"conv_out(28, 5, P={right}, S=3) = {conv_out(28, 5, P=right, S=3)}: "
                      f"28 - 5 + 2*{right} = {28 - 5 + 2 * right} is a multiple of 3.")
    if isinstance(answer, int) and answer > right and fits(answer):
        return False, f"P={answer} fits too, but a smaller padding already does: try the ones below it."
    return False, ("S must divide W - F + 2P = 28 - 5 + 2P: try P = 0, 1, 2, ... with conv_out(28, 5, P=P, "
                   "S=3) or the calculator until it gives a whole number.")


def _c3_three_inputs(answer: object) -> Verdict:
    from .lenet import PartialConv2d

    mask = torch.zeros(16, 6, dtype=torch.bool)
    for o in range(16):  # every C3 map reads three neighbouring S2 maps
        mask[o, [(o + k) % 6 for k in range(3)]] = True
    right = sum(p.numel() for p in PartialConv2d(mask).parameters())
    if answer == right:
        return True, f"16 maps x 3 inputs x 25 weights + 16 biases = {right:,} (the paper's table: 1,516)."
    if answer == right - 16:
        return False, "add one bias per C3 map."
    if answer == 16 * 6 * 25 + 16:
        return False, "that is a fully connected C3; each map reads only three S2 maps here."
    return False, "each of the 16 maps has a 5x5 kernel for each S2 map it reads, and one bias."


def _s4_field(answer: object) -> Verdict:
    from .receptive_fields import receptive_field

    box = receptive_field("s4", 0, 2, 1)
    right = (box.top, box.bottom - 1, box.left, box.right - 1)
    if not (isinstance(answer, (tuple, list)) and len(answer) == 4):
        return False, "answer with four numbers: (first row, last row, first column, last column)."
    answer = tuple(answer)
    if answer == right:
        return True, (f"rows {right[0]}-{right[1]}, columns {right[2]}-{right[3]}: {box.size[0]}x{box.size[1]} "
                      f"pixels, starting 4 input pixels further on per step along S4.")
    if answer == (box.top, box.bottom, box.left, box.right):
        return False, "the last row and column are inside the field: last = first + width - 1."
    if (answer[0], answer[2]) == (right[2], right[0]):
        return False, "rows and columns are swapped: row 2 sets the rows, column 1 the columns."
    return False, ("one step along an S4 map moves its field by 4 input pixels (two subsamplings of stride "
                   "2 below it), so its first row is 4 x row; its field is as wide as the S4 unit's "
                   "printed above.")


def _c5_larger_input(answer: object) -> Verdict:
    from .lenet import LeNet5

    up_to_c5 = []
    for name, layer in LeNet5().named_children():
        up_to_c5.append(layer)
        if name == "c5":
            break
    with torch.no_grad():
        right = tuple(nn.Sequential(*up_to_c5)(torch.zeros(1, 1, 36, 36)).shape[1:])
    if not (isinstance(answer, (tuple, list, torch.Size)) and len(answer) == 3):
        return False, "answer with a shape of three numbers: (channels, height, width)."
    answer = tuple(answer)
    if answer == right:
        return True, (f"C5 gives {right[0]} maps of {right[1]}x{right[2]}: it is a dense layer only when its "
                      f"5x5 kernels meet a 5x5 input; here they slide.")
    if answer[0] != right[0]:
        return False, "C5 has as many maps as it has kernels, whatever the input size."
    if answer[1:] == (1, 1):
        return False, "1x1 is what a 32x32 input gives; follow 36 through C1, S2, C3, S4 and C5."
    return False, ("follow the side: C1, C3 and C5 are 5x5 convolutions without padding (O = W - 4), S2 "
                   "and S4 halve it.")


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


def _batches_of_128(answer: object, *, train_iter: object) -> Verdict:
    batch_size, n = 128, train_iter.num_examples
    num_batches = len(train_iter.reshuffled(seed=0, batch_size=batch_size))
    right = (num_batches, n - (num_batches - 1) * batch_size)
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        return False, "answer with a pair: (batches per epoch, images in the last batch)."
    answer = tuple(answer)
    if answer == right:
        return True, (f"{right[0]} batches: {right[0] - 1} full ones of {batch_size} and a last one of "
                      f"{right[1]}, {right[0]} parameter updates an epoch.")
    if answer[0] == n // batch_size and right[0] != n // batch_size:
        return False, ("the last, smaller batch counts too: a TensorLoader keeps it (drop_last=False), "
                       "so round up.")
    if answer[0] == right[0]:
        return False, "the last batch holds what is left: the training images minus the full batches."
    return False, ("divide the number of training images (train_iter.num_examples) by 128 and round up; "
                   "the last batch holds the rest.")


def _called_shirt(answer: object, *, y_test: object, y_pred: object) -> Verdict:
    from .data import text_labels

    classes = text_labels("fashion-mnist", range(10))
    if not isinstance(answer, str) or answer not in classes:
        return False, f"answer with a class name as text_labels writes it: {', '.join(classes)}."
    shirt = classes.index("shirt")
    y_test, y_pred = torch.as_tensor(y_test).cpu(), torch.as_tensor(y_pred).cpu()
    called = torch.bincount(y_test[(y_pred == shirt) & (y_test != shirt)], minlength=10)
    taken_for = torch.bincount(y_pred[(y_test == shirt) & (y_pred != shirt)], minlength=10)
    if not called.any():
        return True, "the model called no other class a shirt, so every class ties at 0: nothing to find."
    right = {classes[i] for i in range(10) if called[i] == called.max()}
    if answer in right:
        i = classes.index(answer)
        return True, (f"{int(called[i])} of the {int(called.sum())} images wrongly called a shirt are of "
                      f"class {answer!r}: read down the shirt column.")
    row = {classes[i] for i in range(10) if taken_for[i] == taken_for.max()}
    if answer == "shirt":
        return False, "look off the diagonal: the images called shirt that are some other class."
    if answer in row:
        return False, ("that is the shirt row (true shirts called something else); this asks for the shirt "
                       "column: images the model called shirt.")
    return False, ("take the test images the model called shirt (y_pred) that are not shirts (y_test) and "
                   "count their true classes.")


def _best_relu_lr(answer: object, *, sweep: object) -> Verdict:
    rows = [r for r in sweep.rows if r["activation"] == "relu" and math.isfinite(r["best_test_acc"])]
    means: dict[float, list[float]] = {}
    for r in rows:
        means.setdefault(r["lr"], []).append(r["best_test_acc"])
    best = max(means, key=lambda lr: sum(means[lr]) / len(means[lr]))
    if isinstance(answer, (int, float)) and math.isclose(answer, best):
        return True, f"lr {best:g} gives ReLU its best mean best-epoch test accuracy in this sweep."
    return False, "average best_test_acc over the seeds for each ReLU learning rate, then take the largest."


def _mean_by_lr(sweep: object, activation: str, metric: str) -> dict[float, float]:
    """lr -> the mean of ``metric`` over the seeds for one activation (NaN when a seed diverged)."""
    values: dict[float, list[float]] = {}
    for r in sweep.rows:
        if r["activation"] == activation:
            values.setdefault(r["lr"], []).append(r[metric])
    return {lr: math.fsum(v) / len(v) for lr, v in values.items()}


def _relu_last_epoch(answer: object, *, sweep: object) -> Verdict:
    last = {lr: m for lr, m in _mean_by_lr(sweep, "relu", "test_acc").items() if math.isfinite(m)}
    best = {lr: m for lr, m in _mean_by_lr(sweep, "relu", "best_test_acc").items() if math.isfinite(m)}
    right = max(last, key=last.get)
    by_best = max(best, key=best.get)
    if isinstance(answer, (int, float)) and math.isclose(answer, right):
        same = ("the same pick as by best epoch" if math.isclose(right, by_best)
                else f"by best epoch the pick is lr {by_best:g}")
        return True, f"lr {right:g}: mean last-epoch test accuracy {last[right]:.3f}; {same}."
    if isinstance(answer, (int, float)) and math.isclose(answer, by_best):
        return False, "that is the pick by best_test_acc; this time average test_acc, the last epoch's."
    return False, ("for each ReLU learning rate, average test_acc (the last epoch) over the seeds, leave "
                   "out the NaN ones (diverged), and take the largest.")


def _relu_cliff(answer: object, *, sweep: object) -> Verdict:
    chance = 1 / 10
    relu = [r for r in sweep.rows if r["activation"] == "relu"]

    def failed(r: dict) -> bool:  # chapter 5's rule: diverged, or never 2 points above chance
        return r["status"] == "diverged" or not r["best_test_acc"] > chance + 0.02

    lrs = sorted({r["lr"] for r in relu})
    bad = [lr for lr in lrs if any(failed(r) for r in relu if r["lr"] == lr)]
    if not bad:
        if answer == "none":
            return True, "no ReLU run of this sweep failed: the cliff lies above its largest learning rate."
        return False, "no ReLU run of this sweep failed: answer 'none'."
    right = bad[0]
    if isinstance(answer, (int, float)) and math.isclose(answer, right):
        runs = [r for r in relu if r["lr"] == right]
        how = ", ".join(f"seed {r['seed']} {'diverged' if r['status'] == 'diverged' else 'at chance'}"
                        for r in runs if failed(r))
        return True, f"lr {right:g} ({how}); every ReLU run below it learned."
    if isinstance(answer, (int, float)) and answer > right:
        return False, "a smaller learning rate already failed on at least one seed: look at every seed's row."
    if isinstance(answer, (int, float)) and any(math.isclose(answer, lr) for lr in lrs):
        return False, f"at lr {answer:g} every ReLU run got off chance: go up the learning rates."
    return False, (f"answer with one of the sweep's learning rates ({', '.join(f'{lr:g}' for lr in lrs)}): "
                   f"the smallest with a ReLU run that diverged or ended its best epoch at chance.")


def _largest_gain_last_seed(answer: object, *, result: object) -> Verdict:
    seed = max(r.seed for r in result.runs)
    final = {r.rung.name: r.final_test_acc for r in result.runs
             if r.dataset == "fashion-mnist" and r.seed == seed}
    names = list(dict.fromkeys(r.rung.name for r in result.runs))
    gains = {above: final[above] - final[below] for below, above in zip(names, names[1:])
             if above in final and below in final}
    best = max(gains, key=gains.get)
    if answer == best:
        return True, (f"{best}: {gains[best] * 100:+.2f} points on seed {seed} alone. One seed can rank "
                      f"the changes differently from the mean over the seeds in the gap table.")
    if answer in gains:
        return False, (f"{answer} gained {gains[answer] * 100:+.2f} points on seed {seed}; compare every "
                       f"rung with the one below it on that seed (result.runs).")
    return False, f"answer with a rung's name as the table writes it: {', '.join(map(repr, gains))}."


def _batch_norm_parameters(answer: object) -> Verdict:
    from .models import make_lenet
    from .parameters import count_parameters

    wide = {"activation": "relu", "channels": (16, 32), "kernel_size": 3, "hidden": (256, 128)}
    with_norm = make_lenet(batch_norm=True, **wide)
    right = count_parameters(with_norm) - count_parameters(make_lenet(**wide))
    statistics = sum(b.numel() for name, b in with_norm.named_buffers() if name.endswith(("_mean", "_var")))
    if answer == right:
        return True, (f"{right:,}: a scale and a shift for every channel or unit that batch norm follows "
                      f"(conv1, conv2, fc1, fc2); its {statistics:,} running means and variances are "
                      f"buffers, not trained.")
    if answer == right // 2:
        return False, "each channel or unit gets two trained numbers: a scale (weight) and a shift (bias)."
    if answer in (right + statistics, statistics):
        return False, "running_mean and running_var are buffers: updated in training, but not trained."
    return False, ("batch norm follows conv1 (16 channels), conv2 (32), fc1 (256 units) and fc2 (128): "
                   "count what it learns per channel or unit.")


def _max_vs_average(answer: object, *, patch: object) -> Verdict:
    from .models import POOLS

    x = torch.as_tensor(patch, dtype=torch.float32)
    x = x.reshape(1, 1, *x.shape[-2:])
    with torch.no_grad():
        right = [POOLS[kind](1)(x)[0, 0] for kind in ("max", "avg")]
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        return False, "answer with a pair: (max pooled, average pooled), each a 2x2 list of lists."
    try:
        got = [torch.as_tensor(a, dtype=torch.float32).reshape(right[0].shape) for a in answer]
    except (TypeError, ValueError, RuntimeError):
        return False, f"each half of the pair is a {'x'.join(map(str, right[0].shape))} list of lists."
    ok = [torch.allclose(g, r, atol=1e-4) for g, r in zip(got, right)]
    if all(ok):
        same = int((right[0] == right[1]).sum())
        return True, (f"they agree in {same} of {right[0].numel()} windows: only where a window's four "
                      f"values are all equal; elsewhere max keeps the strongest response.")
    if torch.allclose(got[0], right[1], atol=1e-4) and torch.allclose(got[1], right[0], atol=1e-4):
        return False, "swapped: the first of the pair is max pooling, the second average pooling."
    if not ok[0]:
        return False, ("max pooling: the largest of each 2x2 window; the windows do not overlap (rows 0-1 "
                       "and 2-3, columns 0-1 and 2-3).")
    return False, "average pooling: the sum of each window's four values, divided by 4."


#: name -> the check behind it (some also need the chapter's results: its keyword-only arguments)
EXERCISES: dict[str, Callable[..., Verdict]] = {
    "ch01-dense-vs-conv": _dense_vs_conv,
    "ch01-mlp2-parameters": _mlp2_parameters,
    "ch01-diagonal-pool": _diagonal_pool,
    "ch02-same-padding": _same_padding,
    "ch02-photo-dense-inputs": _photo_dense_inputs,
    "ch02-stride3-padding": _stride3_padding,
    "ch03-c3-three-inputs": _c3_three_inputs,
    "ch03-s4-field": _s4_field,
    "ch03-c5-larger-input": _c5_larger_input,
    "ch04-evaluate-loss": _evaluate_loss,
    "ch04-batches-of-128": _batches_of_128,
    "ch04-called-shirt": _called_shirt,
    "ch05-best-relu-lr": _best_relu_lr,
    "ch05-relu-last-epoch": _relu_last_epoch,
    "ch05-relu-cliff": _relu_cliff,
    "ch06-largest-gain-last-seed": _largest_gain_last_seed,
    "ch06-batch-norm-parameters": _batch_norm_parameters,
    "ch06-max-vs-average": _max_vs_average,
}


def check(name: str, answer: object, *, quiet: bool = False, **results: object) -> bool:
    """Print whether ``answer`` solves exercise ``name`` and return True when it does.

    Some exercises are checked against the chapter's results, passed by name, e.g.
    ``check("ch05-best-relu-lr", answer, sweep=sweep)``. True and False are never answers.
    ``quiet=True`` (the solution cells) prints only "Solution checked." for a right answer, so that
    nothing in the output gives the answer away; a wrong one still gets its hint.
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
    if isinstance(answer, str):  # '1' == 1 is False: a number in quotes would get the arithmetic hint
        try:
            float(answer)
        except ValueError:
            pass
        else:
            print(f"Not yet: {answer!r} is text: answer with the number itself, {answer.strip()}, without quotes.")
            return False
    ok, why = exercise(answer, **results)
    print("Solution checked." if ok and quiet else ("Right: " if ok else "Not yet: ") + why)
    return ok
