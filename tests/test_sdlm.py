"""LeNet-5 trained the paper's way: the MAP criterion, backpropagated second derivatives against an
explicit Gauss-Newton diagonal, the SDLM step, the distortions, the one-example loop, the networks
stepped side by side, and the shipped runs with their table."""

import copy
import json
import math
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from lenet_utils import sdlm
from lenet_utils.data import SAMPLE_DIR, load_tensors, to_float_images
from lenet_utils.lenet import LeNet5, PartialConv2d, ScaledTanh, Subsampling
from lenet_utils.shapes import ShapeError
from lenet_utils.lenet5_stack import LeNet5Stack, sdlm_runs, train_side_by_side
from lenet_utils.gauss_newton import gauss_newton_diagonal
from lenet_utils.sdlm import (PAPER_ETA, map_loss, paper_distortions, pass_data,
                              second_derivatives, sdlm_step, sdlm_steps, error_rate, train_lenet5_sdlm)
from lenet_utils.sdlm_results import (MU_TRIALS, PAPER_ERRORS, SHIPPED_SETTINGS, chapter6_adam_error, final_errors,
                                      load_runs, paper_table)
from lenet_utils.store import SHIPPED_DIR


@pytest.fixture(scope="module")
def digits():
    X, y = load_tensors("mnist", root=SAMPLE_DIR, verbose=False)
    return to_float_images(X[:300], pad=2), y[:300]


def test_map_loss_is_the_papers_formula():
    torch.manual_seed(0)
    distances = torch.rand(4, 10) * 50
    y = torch.tensor([0, 3, 9, 3])
    for j in (0.5, 1.0, 3.0):
        direct = [float(distances[n, y[n]]) + math.log(math.exp(-j) + sum(math.exp(-float(d)) for d in distances[n]))
                  for n in range(4)]
        assert torch.allclose(map_loss(distances, y, j), torch.tensor(direct), atol=1e-5)
    # the penalty pushes a wrong class whose distance is small: its gradient is negative
    distances = torch.tensor([[5.0, 0.5] + [80.0] * 8], requires_grad=True)
    map_loss(distances, torch.tensor([0])).sum().backward()
    assert distances.grad[0, 0] > 0 and distances.grad[0, 1] < 0


def _chain() -> nn.Sequential:
    """A net of every LeNet-5 layer kind in which no two paths meet: the diagonal backpropagation is
    then exact, and must equal the explicit Gauss-Newton diagonal."""
    torch.manual_seed(1)
    mask = torch.tensor([[True]])
    return nn.Sequential(OrderedDict([
        ("c1", nn.Conv2d(1, 1, kernel_size=3)), ("a1", ScaledTanh()), ("s2", Subsampling(1, kernel_size=1)),
        ("a2", ScaledTanh()), ("c3", PartialConv2d(mask, kernel_size=1)), ("a3", ScaledTanh()),
        ("flatten", nn.Flatten()), ("f6", nn.Linear(1, 3)), ("a4", ScaledTanh())]))


def test_second_derivatives_equal_the_gauss_newton_diagonal_where_no_paths_meet():
    net, X = _chain(), torch.randn(7, 1, 3, 3)
    h, exact = second_derivatives(net, X), gauss_newton_diagonal(net, X)
    assert set(h) == set(exact) == {name for name, _ in net.named_parameters()}
    for name in h:
        assert h[name].shape == exact[name].shape
        assert torch.allclose(h[name], exact[name], rtol=1e-4, atol=1e-9), name


def test_on_lenet5_the_last_layer_is_exact_and_the_rest_are_the_papers_approximation(digits):
    torch.manual_seed(0)
    net, X = LeNet5(output="rbf"), sdlm.paper_input_scale(digits[0][:3])
    h, exact = second_derivatives(net, X), gauss_newton_diagonal(net, X)
    for name in ("f6.weight", "f6.bias"):  # each F6 weight reaches one output: no paths to meet
        assert torch.allclose(h[name], exact[name], rtol=1e-4)
    for name in h:  # elsewhere the cross terms are dropped, but the diagonal stays positive
        assert (h[name] >= 0).all() and h[name].sum() > 0, name


def test_sdlm_step_is_the_formula():
    w, g = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.25])
    h = {"w": torch.tensor([0.0, 3.0])}
    steps = sdlm_steps(h, eta=0.001, mu=0.02)
    sdlm_step([w], [g], [steps["w"]])
    assert torch.allclose(w, torch.tensor([1.0 - 0.001 / 0.02 * 0.5, -2.0 - 0.001 / 3.02 * 0.25]))


def test_the_schedule_is_the_papers():
    assert PAPER_ETA == (5e-4,) * 2 + (2e-4,) * 3 + (1e-4,) * 3 + (5e-5,) * 4 + (1e-5,) * 8


def test_distortions_keep_a_share_unchanged_and_are_drawn_from_the_generator(digits):
    X = digits[0][:200]
    same = paper_distortions(X, torch.Generator().manual_seed(0), share=0.0)
    assert torch.allclose(same, X, atol=1e-6)
    a = paper_distortions(X, torch.Generator().manual_seed(0))
    b = paper_distortions(X, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == X.shape
    changed = ((a - X).abs().flatten(1).amax(1) > 1e-4).float().mean()
    assert 0.8 < changed <= 0.97  # about 9 in 10 distorted
    ink = a.flatten(1).sum(1) / X.flatten(1).sum(1)  # a planar affine map keeps most of the ink
    assert ((ink > 0.6) & (ink < 1.5)).all()


def test_pass_data_shuffles_per_seed_and_pass(digits):
    X, y = digits
    X1, y1 = pass_data(X, y, seed=0, pass_index=0)
    X2, y2 = pass_data(X, y, seed=0, pass_index=1)
    assert sorted(y1.tolist()) == sorted(y.tolist()) and not torch.equal(y1, y2)
    assert float(X1.min()) == pytest.approx(-0.1) and float(X1.max()) == pytest.approx(1.175)
    assert torch.equal(pass_data(X, y, 0, 0)[0], X1)


def test_the_loop_learns_and_says_what_it_did():
    X, y = load_tensors("mnist", root=SAMPLE_DIR, verbose=False)
    X = to_float_images(X, pad=2)
    torch.manual_seed(0)
    net = LeNet5(output="rbf")
    before = error_rate(net, X[2500:], y[2500:])
    out = train_lenet5_sdlm(net, X[:1000], y[:1000], X[2500:], y[2500:], eta=(5e-4,), mu=0.5,
                            hessian_patterns=50, verbose=False)
    assert out["complete"] and out["examples"] == 1000 and len(out["test_error"]) == 1
    assert out["test_error"][-1] < before - 0.2 and out["loss"][0] < 84  # 84: the loss at the start
    assert out["examples_per_second"] > 0


def test_the_loop_refuses_a_net_without_rbf_outputs_and_unpadded_images(digits):
    X, y = digits
    with pytest.raises(ValueError, match="LeNet5\\(output='rbf'\\)"):
        train_lenet5_sdlm(LeNet5(), X[:10], y[:10], X[:10], y[:10], verbose=False)
    with pytest.raises(ShapeError, match="pad MNIST's 28x28 by 2"):
        train_lenet5_sdlm(LeNet5(output="rbf"), X[:10, :, 2:-2, 2:-2], y[:10], X[:10], y[:10], verbose=False)


def test_ctrl_c_keeps_what_was_done(digits, monkeypatch):
    X, y = digits
    calls = {"n": 0}
    real = sdlm.sdlm_step

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(sdlm, "sdlm_step", interrupted)
    out = train_lenet5_sdlm(LeNet5(output="rbf"), X[:100], y[:100], X[200:], y[200:], eta=(5e-4,),
                            hessian_patterns=20, verbose=False)
    assert not out["complete"] and out["examples"] == 29 and "interrupted" in out["status"]
    assert torch.backends.mkldnn.enabled  # the plain-convolution setting was put back


def test_a_loss_that_stops_being_finite_stops_the_run(digits):
    X, y = digits
    net = LeNet5(output="rbf")
    with torch.no_grad():
        net.f6.bias.fill_(float("nan"))
    out = train_lenet5_sdlm(net, X[:20], y[:20], X[200:], y[200:], eta=(5e-4, 5e-4), hessian_patterns=5,
                            verbose=False)
    assert not out["complete"] and "finite" in out["status"] and out["test_error"] == []


def test_the_stack_computes_what_separate_networks_compute(digits):
    X, y = digits
    nets = [LeNet5(output="rbf") for _ in range(3)]
    stack = LeNet5Stack(nets)
    x = sdlm.paper_input_scale(X[:12]).view(4, 3, 32, 32)
    together = stack.distances(x)
    for k, net in enumerate(nets):
        assert torch.allclose(together[k], -net(x[:, k:k + 1]), atol=1e-4)


def test_side_by_side_training_is_the_notebooks_loop_for_each_network(digits):
    X, y = digits
    torch.manual_seed(0)
    nets = [LeNet5(output="rbf") for _ in range(2)]
    copies = copy.deepcopy(nets)
    runs = [(0, False), (1, True)]
    kw = dict(eta=(5e-4,), mu=0.5, hessian_patterns=8, verbose=False)
    together = train_side_by_side(nets, runs, X[:6], y[:6], X[200:], y[200:], **kw)
    for net, alone_net, (seed, distort), result in zip(nets, copies, runs, together):
        alone = train_lenet5_sdlm(alone_net, X[:6], y[:6], X[200:], y[200:], seed=seed, distort=distort, **kw)
        assert result["loss"] == pytest.approx(alone["loss"], rel=1e-5)
        for a, b in zip(net.parameters(), alone_net.parameters()):
            assert torch.allclose(a, b, atol=1e-6)


def test_sdlm_runs_reports_each_seed():
    out = sdlm_runs(seeds=(0, 1), eta=(5e-4,), mu=0.5, hessian_patterns=10, train_size=60, test_size=50,
                    root=SAMPLE_DIR, verbose=False)
    assert out["complete"] and (out["train_size"], out["test_size"]) == (60, 50)
    assert [r["seed"] for r in out["runs"]] == [0, 1] and len(final_errors(out)) == 2


def _runs(errors):
    return {"runs": [{"test_error": [0.5, e]} for e in errors]}


def test_the_table_says_matches_only_when_the_interval_holds_the_papers_figure():
    text = paper_table(_runs([0.0094, 0.0097, 0.0093]), _runs([0.0120, 0.0121, 0.0119]), adam_error=0.0122)
    assert "SDLM, no distortions: 0.95%, matches the paper's 0.95%" in text
    assert "SDLM, distortions: 1.20%, does not match the paper's 0.80%: 0.40 percentage points above" in text
    assert "Adam + cross-entropy (chapter 6): 1.22%, does not match" in text and "one seed" in text
    assert PAPER_ERRORS == {False: 0.0095, True: 0.008}


# ---------------------------------------------------------------- the runs that ship with notebook 13

def _shipped(name: str) -> list[dict]:
    return [load_runs(folder) for folder in sorted(SHIPPED_DIR.glob(f"{name}-*"))]


def test_the_shipped_runs_are_the_papers_recipe_over_at_least_three_seeds():
    runs = {result["distort"]: result for result in _shipped("LeNet-5 SDLM")}
    assert set(runs) == {False, True}
    for result in runs.values():
        assert result["complete"] and result["train_size"] == 60_000 and result["test_size"] == 10_000
        assert result["mu"] == SHIPPED_SETTINGS["mu"] and len(result["runs"]) >= 3
        for run in result["runs"]:
            assert len(run["test_error"]) == len(PAPER_ETA) == 20 and run["examples"] == 20 * 60_000
            assert 0 < run["test_error"][-1] < 0.05 and all(math.isfinite(x) for x in run["loss"])


def test_the_short_runs_behind_the_differences_ship_too():
    trials = {result["mu"]: result for result in _shipped("LeNet-5 SDLM mu trial")}
    assert set(trials) == set(MU_TRIALS) and 0.02 in trials
    assert all(len(r["test_error"]) == 2 for t in trials.values() for r in t["runs"])
    enlarged = {result["copies"]: result for result in _shipped("LeNet-5 SDLM enlarged pass")}
    assert set(enlarged) == {1, 10} and all(result["train_size"] == 12_000 for result in enlarged.values())
    assert [r["examples"] for r in enlarged[10]["runs"]] == [120_000] * 3


def test_notebook_13_prints_the_table_of_the_shipped_runs():
    runs = {result["distort"]: result for result in _shipped("LeNet-5 SDLM")}
    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" /
                     "13_lenet5_as_the_paper_trained_it.ipynb").read_text(encoding="utf-8"))
    (cell,) = [c for c in nb["cells"] if c["cell_type"] == "code" and "print(paper_table(" in "".join(c["source"])]
    printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
    assert printed.startswith(paper_table(runs[False], runs[True], adam_error=chapter6_adam_error()))
