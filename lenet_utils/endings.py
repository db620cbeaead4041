"""How a training run ends: the one rule for "diverged", its message, and :class:`RunEnding`, the
``with`` block around ``train_ch6``'s loop that gives every ending its status and message.

A run ends 'completed', 'stopped' (its hook returned a true value), 'diverged' (:func:`diverged`),
'interrupted' (Ctrl-C / interrupt kernel) or 'failed' (an error, raised again with the History
attached as ``err.history``); the model and the history are kept in every case.
"""

import math
from collections.abc import Callable

import torch
from torch import nn

from .history import History
from .plot import Animator

__all__ = ["EXPLODED_LOSS_FACTOR", "diverged", "divergence_message", "RunEnding"]

#: A run has blown up when its mean loss exceeds this many times the loss of a uniform guess
#: (ln of the number of classes, 2.3 for 10): it is then stopped like one whose loss is NaN/inf.
EXPLODED_LOSS_FACTOR = 100


def _exploded_loss(num_classes: int) -> float:
    return EXPLODED_LOSS_FACTOR * math.log(max(num_classes, 2))


def diverged(mean_loss: float, num_classes: int) -> bool:
    """The one rule for "this run diverged": the mean training loss is NaN/inf, or above
    ``EXPLODED_LOSS_FACTOR`` times the loss of a uniform guess over ``num_classes`` classes."""
    return not math.isfinite(mean_loss) or mean_loss > _exploded_loss(num_classes)


def divergence_message(mean_loss: float, num_classes: int, lr: float, when: str) -> str:
    """The one report of a run that :func:`diverged`, worded after the rule that fired (the loss
    became NaN/inf, or exploded to a finite value above the limit); ``when`` says where in the run.

        >>> divergence_message(float("inf"), 10, 3.0, "in epoch 1")[:48]
        'Stopped: the training loss became inf in epoch 1'
    """
    if math.isfinite(mean_loss):
        what = (f"exploded to {mean_loss:.4g} {when}, more than {EXPLODED_LOSS_FACTOR} times the loss "
                f"of a uniform guess ({_exploded_loss(num_classes):.3g})")
    else:
        what = f"became {mean_loss} {when}"
    return (f"Stopped: the training loss {what}: the run diverged. The learning rate lr={lr:g} is too "
            f"large for this model and optimizer: try a smaller one (e.g. lr=0.1 to 0.9 for SGD on "
            f"LeNet, 1e-3 for Adam). The weights are now unusable; train again with init=True.")


class RunEnding:
    """The ``with`` block around a training loop, which ends the run whatever ends it.

    Inside, the loop sets ``history.status`` to 'stopped' and leaves, or leaves when
    :meth:`diverged` says so. On the way out the status and message are set: 'completed' when the loop ran to
    its end; 'interrupted' on Ctrl-C, which is not raised further; 'failed' on an error, raised
    again with the History as ``err.history`` and a note. Every time the net goes back to the
    default memory layout and eval mode, the animator draws its last state and, when ``verbose``,
    the message and final figures are printed. ``where()`` says where the loop is, e.g.
    'epoch 2 (batch 3/8)'.

        with RunEnding(history, net, None, False, lambda: f"epoch {epoch + 1}") as end:
            for epoch in range(3): ...
    """

    def __init__(self, history: History, net: nn.Module, animator: Animator | None, verbose: bool,
                 where: Callable[[], str]):
        self.history, self.net, self.animator, self.verbose, self.where = history, net, animator, verbose, where

    def __enter__(self) -> "RunEnding":
        return self

    def diverged(self, mean_loss: float, num_classes: int, lr: float) -> bool:
        """Whether the run :func:`diverged`; if so it ends 'diverged', with :func:`divergence_message`."""
        if not diverged(mean_loss, num_classes):
            return False
        self.history.status = "diverged"
        self.history.message = divergence_message(mean_loss, num_classes, lr, f"in {self.where()}")
        return True

    def __exit__(self, kind, err, traceback) -> bool:
        h = self.history
        kept = f"the history of the {h.num_epochs} completed epoch(s)"
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            h.status = "interrupted"
            h.message = f"Interrupted in {self.where()}. Kept the model with its current weights and {kept}."
        elif kind is not None and issubclass(kind, Exception):
            h.status = "failed"
            kept = f"Kept the model with its current weights and {kept}, attached to the error as err.history."
            h.message = f"Failed in {self.where()} with {kind.__name__}: {str(err).rstrip('.')}. {kept}"
            err.add_note(f"train_ch6 failed in {self.where()}. {kept}")
            err.history = h
        elif h.status == "stopped":
            h.message = f"Stopped by the hook in {self.where()}; kept the model and {kept}."
        elif h.status == "diverged":
            h.message += f" Kept {kept}."
        elif kind is None:
            h.status = "completed"
        self.net.to(memory_format=torch.contiguous_format)  # channels-last (on the CPU) undone
        self.net.eval()
        if kind is not None and not issubclass(kind, (KeyboardInterrupt, Exception)):
            return False  # SystemExit and the like go on up as they are
        if self.animator:
            done = f"{h.num_epochs} epoch{'s' if h.num_epochs != 1 else ''}"
            if h.num_epochs:
                done += f", test acc {h.final_test_acc:.3f}"
            self.animator.finish(status=f"{h.status}: {done}")
        if h.status == "failed":
            return False  # the error goes on up, with the history attached
        if self.verbose:
            if h.message:
                print(h.message)
            if h.num_epochs:
                print(f"loss {h.train_loss[-1]:.3f}, train acc {h.train_acc[-1]:.3f}, "
                      f"test acc {h.test_acc[-1]:.3f}")
                print(f"{h.examples_per_sec:.1f} examples/sec on {h.device}")
        return kind is not None  # Ctrl-C ends the run, not the caller
