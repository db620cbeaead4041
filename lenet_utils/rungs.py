"""The rungs of chapter 6's ladder: the classic LeNet and one modern change per rung, each a network
and a training recipe (``Rung``); ``ladder`` builds the list, each rung the one below plus one change.

>>> [r.name for r in ladder()]
['classic', '+ ReLU', '+ max pool', '+ batch norm', '+ augmentation']
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from .checks import learning_rate, optimizer_name
from .models import make_lenet

__all__ = ["Rung", "ladder"]


@dataclass(frozen=True)
class Rung:
    """One network + training recipe on the ladder; ``change`` says what differs from the rung below."""

    name: str
    change: str
    activation: str = "tanh"
    pool: str = "avg"
    batch_norm: bool = False
    dropout: float = 0.0
    augment: bool = False
    max_degrees: float = 10.0  # rotation and shift ranges, used when augment is True
    max_shift: float = 2.0
    optimizer: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 0.0  # each step shrinks every weight by lr * weight_decay

    def training_optimizer(self) -> "str | Callable":
        """What ``train_ch6`` gets as ``optimizer``: the name, or with weight decay a factory
        (AdamW for 'adam', SGD's own weight decay for 'sgd')."""
        name = optimizer_name(self.optimizer)
        if not self.weight_decay:
            return name
        factory = {"adam": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
        return functools.partial(factory, weight_decay=self.weight_decay)

    def build(self, image_size: int = 28, in_channels: int = 1) -> nn.Module:
        """A fresh LeNet for this rung (``make_lenet``)."""
        return make_lenet(activation=self.activation, pool=self.pool, batch_norm=self.batch_norm,
                          dropout=self.dropout, in_channels=in_channels, image_size=image_size)


def ladder(classic_activation: str = "tanh", optimizer: str = "adam", lr: float = 3e-3,
           weight_decay: float = 0.2, max_degrees: float = 10.0, max_shift: float = 2.0) -> list[Rung]:
    """The rungs from classic to modern; each is the previous one with exactly one change. All
    train with ``optimizer`` at ``lr`` and ``weight_decay`` (the sources train both nets with Adam)."""
    optimizer, lr = optimizer_name(optimizer), learning_rate(lr)
    title = {"sgd": "SGD", "adam": "AdamW" if weight_decay else "Adam"}[optimizer]
    decay = f", weight decay {weight_decay:g}" if weight_decay else ""
    trained = f"{title}, lr {lr:g}{decay}"
    classic = Rung("classic", f"{classic_activation}, average pooling ({trained})",
                   activation=classic_activation, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                   max_degrees=max_degrees, max_shift=max_shift)
    steps = [
        ("+ ReLU", f"ReLU instead of {classic_activation}", {"activation": "relu"}),
        ("+ max pool", "max pooling instead of average", {"pool": "max"}),
        ("+ batch norm", "batch norm after every conv / hidden dense layer", {"batch_norm": True}),
        ("+ augmentation", f"random rotation ±{max_degrees:g}° and shift ±{max_shift:g} px per image",
         {"augment": True}),
    ]
    rungs = [classic]
    for name, change, fields in steps:
        rungs.append(replace(rungs[-1], name=name, change=change, **fields))
    return rungs
