"""The trained LeNet-5 shipped in lenet_utils/weights: it loads, and it is as good as its record says."""

import hashlib

import pytest
import torch

from lenet_utils import weights
from lenet_utils.data import SAMPLE_DIR, load_tensors, to_float_images
from lenet_utils.lenet import LeNet5
from lenet_utils.weights import (INPUT_BACKGROUND, INPUT_INK, RECIPE_PATH, WEIGHTS_PATH, load_lenet5,
                                 prepare, recipe)

FIELDS = ("optimizer", "lr", "lr_schedule", "batch_size", "epochs", "seed", "engine", "wall_seconds", "test_acc_per_epoch",
          "test_images", "test_error", "sample_test_images", "sample_test_accuracy", "weights_sha256")


@pytest.fixture(scope="module")
def record() -> dict:
    return recipe()


def test_recipe_records_how_the_weights_were_made(record):
    missing = [f for f in FIELDS if f not in record]
    assert not missing, f"{RECIPE_PATH.name} lacks {missing}"
    assert record["test_images"] == 10_000, "the recorded test error must be on the full MNIST test set"
    assert len(record["test_acc_per_epoch"]) == record["epochs"]
    assert record["weights_sha256"] == hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest(), \
        "the weights file is not the one the recipe describes: rerun scripts/train_lenet5_weights.py"


def test_weights_file_is_small_float32():
    assert 100_000 < WEIGHTS_PATH.stat().st_size < 1_000_000
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    floats = [v for v in state.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float32 for v in floats)


def test_load_lenet5_gives_an_eval_mode_cpu_lenet5():
    net = load_lenet5()
    assert isinstance(net, LeNet5)
    assert not net.training
    assert all(p.device.type == "cpu" for p in net.parameters())


def test_prepare_maps_blank_and_ink_to_the_papers_range():
    assert prepare(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([-0.1, 1.175])
    assert (INPUT_BACKGROUND, INPUT_INK) == pytest.approx((-0.1, 1.175))


def test_recorded_sample_accuracy_is_reproduced(record):
    images, labels = load_tensors("mnist", train=False, root=SAMPLE_DIR, verbose=False)
    assert len(labels) == record["sample_test_images"]
    with torch.no_grad():
        predicted = load_lenet5()(prepare(to_float_images(images, pad=2))).argmax(dim=1)
    accuracy = (predicted == labels).float().mean().item()
    assert accuracy == pytest.approx(record["sample_test_accuracy"], abs=1.5 / len(labels))
    assert accuracy > 0.95, "far above chance (10%): the shipped weights must be the trained ones"
    # and it is the input scaling that makes it work: raw [0, 1] pixels do worse
    with torch.no_grad():
        raw = (load_lenet5()(to_float_images(images, pad=2)).argmax(dim=1) == labels).float().mean().item()
    assert raw < accuracy


# ---------------------------------------------------------------- a bad weights file (issue 32)

class RunsCode:
    """Unpickled, it would run a shell command that leaves ``marker`` behind."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def _bad_weights(kind: str, folder):
    """A weights file gone wrong in one way; returns its path."""
    path = folder / "lenet5_mnist.pt"
    good = WEIGHTS_PATH.read_bytes()
    if kind == "malicious":
        torch.save({"w": RunsCode(folder / "code-ran")}, path)
    elif kind == "whole model":
        torch.save(LeNet5(), path)
    elif kind == "truncated":
        path.write_bytes(good[:len(good) // 2])
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 40)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "another net":
        from lenet_utils.lenet import lenet_d2l
        torch.save(lenet_d2l().state_dict(), path)
    elif kind == "not a state dict":
        torch.save(torch.zeros(3), path)
    elif kind == "a byte flipped":
        damaged = bytearray(good)
        damaged[len(good) // 2] ^= 0xFF  # inside a weight: torch loads it without a word
        path.write_bytes(bytes(damaged))
    elif kind == "diverged":
        state = torch.load(WEIGHTS_PATH, weights_only=True)
        next(v for v in state.values() if v.is_floating_point())[0] = float("nan")
        torch.save(state, path)
    return path


BAD = {"malicious": "holds Python objects", "whole model": "holds Python objects",
       "truncated": "damaged", "garbage": "not a PyTorch weights file", "empty": "is empty",
       "another net": "weights of another net", "not a state dict": "holds a Tensor, not a state_dict",
       "diverged": "NaN or infinite", "a byte flipped": "not the file lenet5_mnist.json records"}


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_weights_file_gets_the_courses_message(kind, tmp_path, monkeypatch):
    path = _bad_weights(kind, tmp_path)
    monkeypatch.setattr(weights, "WEIGHTS_PATH", path)
    with pytest.raises(weights.WeightsFileError) as err:
        load_lenet5()
    message = str(err.value)
    assert message.startswith(f"{path} ") and BAD[kind] in message
    assert "scripts/train_lenet5_weights.py" in message, "says how to get good weights"
    shown = err.value.__cause__ or (None if err.value.__suppress_context__ else err.value.__context__)
    assert "weights_only" not in message and shown is None, "never torch's error or its advice"
    assert not (tmp_path / "code-ran").exists(), "no code from the file runs"


def test_draw_digit_on_a_malicious_weights_file_runs_no_code(tmp_path, monkeypatch):
    from lenet_utils.widgets.draw import DrawDigit

    monkeypatch.setattr(weights, "WEIGHTS_PATH", _bad_weights("malicious", tmp_path))
    with pytest.raises(weights.WeightsFileError, match="holds Python objects"):
        DrawDigit()
    assert not (tmp_path / "code-ran").exists()


def test_a_learners_own_weights_file_is_named_with_its_own_advice(tmp_path):
    path = _bad_weights("another net", tmp_path)
    with pytest.raises(weights.WeightsFileError, match=r"torch.save\(net.state_dict\(\)"):
        load_lenet5(path)
    torch.save(load_lenet5().state_dict(), path)
    assert torch.equal(load_lenet5(path).f6.weight, load_lenet5().f6.weight)
