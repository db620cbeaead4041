"""The trained faithful LeNet-5 that ships with the package (made by scripts/train_lenet5_weights.py).

``load_lenet5()`` returns it ready to use (eval mode, CPU). It was trained on inputs scaled the
paper's way, background 0 -> -0.1 and full ink 1 -> 1.175; feed it ``prepare(x)`` of a 1x32x32
image in [0, 1] (ink = 1), exactly as it saw MNIST padded by 2. ``recipe()`` returns what the
script recorded: optimizer, learning rates, epochs, seed, wall time and the measured test errors.
``load_weights(net, path)`` loads any weights file into a net, and a file that is not a state_dict
of that net (empty, damaged, not PyTorch's, holding code, another net's) gets
:class:`WeightsFileError` naming it; no code in a file ever runs.
"""

import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..lenet import LeNet5
from ..lenet5_run import paper_input_scale

__all__ = ["WEIGHTS_PATH", "RECIPE_PATH", "INPUT_BACKGROUND", "INPUT_INK", "prepare", "load_lenet5",
           "recipe", "WeightsFileError", "load_weights"]

WEIGHTS_PATH = Path(__file__).with_name("lenet5_mnist.pt")
RECIPE_PATH = Path(__file__).with_name("lenet5_mnist.json")


def prepare(x: torch.Tensor) -> torch.Tensor:
    """Scale images in [0, 1] (ink = 1) as the shipped net was trained: the paper's input scaling
    (``paper.paper_input_scale``), 0 -> -0.1 and 1 -> 1.175."""
    return paper_input_scale(x)


#: What a blank pixel (0) and a fully inked pixel (1) become at the network's input.
INPUT_BACKGROUND, INPUT_INK = prepare(torch.tensor([0.0, 1.0])).tolist()


class WeightsFileError(ValueError):
    """A weights file that cannot be loaded into the net asked for; the message names the file."""


def _fix(path: Path) -> str:
    """What to do about a bad weights file at ``path``."""
    remake = "make them again with: python scripts/train_lenet5_weights.py"
    if path == WEIGHTS_PATH:
        return f"Reinstall the package, or {remake}"
    return (f"Save a trained net's weights with torch.save(net.state_dict(), path), or use the shipped "
            f"LeNet-5, load_lenet5() (to {remake})")


def _read_state_dict(path: Path) -> dict:
    """What ``path`` holds, read by ``torch.load(weights_only=True)`` only if it is a whole zip archive
    (torch.save's format), so nothing but tensors and plain values is ever unpickled."""
    fix = _fix(path)
    if not path.is_file():
        what = "The shipped LeNet-5 weights are missing" if path == WEIGHTS_PATH else "No weights file"
        raise FileNotFoundError(f"{what} ({path}). {fix}.")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise WeightsFileError(f"{path} is empty. {fix}.")
    damaged = f"{path} is damaged (truncated or partly overwritten): its zip archive cannot be read. {fix}."
    if head != b"PK\x03\x04" and not b"PK\x03\x04".startswith(head):
        raise WeightsFileError(f"{path} is not a PyTorch weights file: torch.save writes a zip archive, and "
                               f"this file starts with {head!r}. {fix}.")
    if not zipfile.is_zipfile(path):
        raise WeightsFileError(damaged)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" not in str(err):  # torch names the class or function it refused to import
            raise WeightsFileError(damaged) from None
        raise WeightsFileError(
            f"{path} holds Python objects, not only tensors (code, or a whole pickled model), so it was not "
            f"loaded: loading it could run that code. {fix}.") from None
    except Exception as err:  # torch reports a damaged archive as RuntimeError, OSError, EOFError...
        raise WeightsFileError(f"{damaged[:-1]} ({type(err).__name__}).") from None


def load_weights(net: nn.Module, path: str | Path) -> nn.Module:
    """Load the state_dict saved in ``path`` into ``net`` and return ``net``; a file that does not
    hold finite weights of exactly ``net``'s names and shapes gets :class:`WeightsFileError`.

        net = load_weights(LeNet5(), "my_lenet5.pt")
    """
    path = Path(path)
    state, fix = _read_state_dict(path), _fix(path)
    if not isinstance(state, dict):
        raise WeightsFileError(f"{path} holds a {type(state).__name__}, not a state_dict (a dict of "
                               f"tensors). {fix}.")
    want = {name: tuple(v.shape) for name, v in net.state_dict().items()}
    have = {name: tuple(getattr(v, "shape", ())) for name, v in state.items()}
    wrong = {"missing": [n for n in want if n not in have], "unexpected": [n for n in have if n not in want],
             "of another shape": [f"{n} {have[n]} for {want[n]}" for n in want if n in have and have[n] != want[n]]}
    if any(wrong.values()):
        listed = "; ".join(f"{how} {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                           for how, names in wrong.items() if names)
        raise WeightsFileError(f"{path} holds weights of another net, not {type(net).__name__}'s ({listed}). "
                               f"{fix}.")
    broken = [n for n, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise WeightsFileError(f"{path} holds NaN or infinite weights (in {', '.join(broken)}): the training "
                               f"that saved them diverged. {fix}.")
    net.load_state_dict(state)
    return net


def load_lenet5(path: str | Path | None = None) -> LeNet5:
    """The trained LeNet-5 (dense output) on the CPU in eval mode, from ``path`` (default: the
    shipped weights). Feed it ``prepare(images)``. Torch's global random generator is left as it was
    (building the net draws starting weights, which the loaded ones replace), so loading it never
    changes a learner's random numbers."""
    with torch.random.fork_rng(devices=[]):
        net = LeNet5()
    net = load_weights(net, WEIGHTS_PATH if path is None else path)
    if path is None and RECIPE_PATH.is_file():  # the shipped file: byte for byte the one recorded
        if hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest() != recipe()["weights_sha256"]:
            raise WeightsFileError(
                f"{WEIGHTS_PATH} is not the file {RECIPE_PATH.name} records (its sha256 differs): it was "
                f"damaged or replaced. {_fix(WEIGHTS_PATH)}. To load weights of your own, pass their "
                f"path: load_lenet5(path).")
    return net.eval()


def recipe() -> dict:
    """What the training script recorded next to the weights (recipe, wall time, test errors)."""
    return json.loads(RECIPE_PATH.read_text())
