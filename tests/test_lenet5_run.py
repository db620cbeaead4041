"""The faithful LeNet-5 against the paper: input scaling, the squeezed schedule, a tiny run."""

import math

import torch

from lenet_utils.data import SAMPLE_DIR, TensorLoader
from lenet_utils.history import History
from lenet_utils.lenet5_run import (
    PAPER_TEST_ERROR, compare_with_paper, paper_input_scale, paper_lr_factor, paper_scaled,
    train_lenet5_paper,
)


def test_paper_input_scale_and_schedule():
    X = paper_input_scale(torch.tensor([0.0, 1.0]))
    assert torch.allclose(X, torch.tensor([-0.1, 1.175]))
    factors = [paper_lr_factor(e, 20) for e in range(20)]
    assert factors[:2] == [1.0, 1.0] and factors[2:5] == [0.4] * 3 and factors[-1] == 0.02
    assert factors == sorted(factors, reverse=True)
    assert paper_lr_factor(0, 4) == 1.0 and paper_lr_factor(3, 4) == 0.02


def test_paper_scaled_loaders_keep_labels_batches_and_test_order():
    X, y = torch.rand(10, 1, 4, 4), torch.arange(10)
    train, test = paper_scaled(TensorLoader(X, y, 4), TensorLoader(X, y, 5, shuffle=False), seed=3)
    assert (train.batch_size, len(train), test.batch_size) == (4, 3, 5)
    assert torch.equal(train.y, y) and torch.allclose(train.X, X * 1.275 - 0.1)
    assert torch.equal(torch.cat([b for _, b in test]), y)  # test batches stay in order
    assert sorted(torch.cat([b for _, b in train]).tolist()) == list(range(10))


def test_tiny_faithful_lenet5_run_learns():
    out = train_lenet5_paper(num_epochs=2, batch_size=32, device="cpu", train_size=400, test_size=300,
                             root=SAMPLE_DIR, verbose=False)
    assert out["train_size"] == 400 and out["test_size"] == 300
    assert out["test_error"] < 0.6  # chance is 0.9: it learned from 400 images in 2 epochs
    assert out["paper_test_error"] == PAPER_TEST_ERROR == 0.0095
    assert out["net"](torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    line = compare_with_paper(out)
    assert "300 MNIST test images" in line and "after 2 epochs" in line and "0.95%" in line


def test_compare_with_paper_handles_a_run_without_epochs():
    h = History(status="diverged", message="Stopped: the training loss became nan in epoch 1.")
    line = compare_with_paper({"test_error": math.nan, "paper_test_error": PAPER_TEST_ERROR,
                               "test_size": 100, "history": h})
    assert "completed no epoch (diverged)" in line and "nan" in line
