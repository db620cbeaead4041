"""The trained faithful LeNet-5 that ships with the package (made by scripts/train_lenet5_weights.py).

``load_lenet5()`` returns it ready to use (eval mode, CPU). It was trained on inputs scaled the
paper's way, background 0 -> -0.1 and full ink 1 -> 1.175; feed it ``prepare(x)`` of a 1x32x32
image in [0, 1] (ink = 1), exactly as it saw MNIST padded by 2. ``recipe()`` returns what the
script recorded: optimizer, learning rates, epochs, seed, wall time and the measured test errors.
"""

import json
from pathlib import Path

import torch

from ..models import LeNet5
from ..paper import paper_input_scale

__all__ = ["WEIGHTS_PATH", "RECIPE_PATH", "INPUT_BACKGROUND", "INPUT_INK", "prepare", "load_lenet5",
           "recipe"]

WEIGHTS_PATH = Path(__file__).with_name("lenet5_mnist.pt")
RECIPE_PATH = Path(__file__).with_name("lenet5_mnist.json")


def prepare(x: torch.Tensor) -> torch.Tensor:
    """Scale images in [0, 1] (ink = 1) as the shipped net was trained: the paper's input scaling
    (``paper.paper_input_scale``), 0 -> -0.1 and 1 -> 1.175."""
    return paper_input_scale(x)


#: What a blank pixel (0) and a fully inked pixel (1) become at the network's input.
INPUT_BACKGROUND, INPUT_INK = prepare(torch.tensor([0.0, 1.0])).tolist()


def load_lenet5() -> LeNet5:
    """The trained LeNet-5 (dense output) on the CPU in eval mode. Feed it ``prepare(images)``.
    Torch's global random generator is left as it was (building the net draws starting weights,
    which the loaded ones replace), so loading it never changes a learner's random numbers."""
    if not WEIGHTS_PATH.is_file():
        raise FileNotFoundError(f"The shipped LeNet-5 weights are missing ({WEIGHTS_PATH}). Reinstall "
                                f"the package, or make them with: python scripts/train_lenet5_weights.py")
    with torch.random.fork_rng(devices=[]):
        net = LeNet5()
    net.load_state_dict(torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True))
    return net.eval()


def recipe() -> dict:
    """What the training script recorded next to the weights (recipe, wall time, test errors)."""
    return json.loads(RECIPE_PATH.read_text())
