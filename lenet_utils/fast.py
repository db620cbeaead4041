"""What makes ``train_ch6`` fast, one idea per function (chapter 4 measures each):

* the data already lives on the device (a :class:`~lenet_utils.data.TensorLoader`): no DataLoader
  workers, no PIL image per example; :func:`device_batches` only moves what is not there yet;
* the metrics stay on the device: :func:`correct_count` returns a tensor, summed on the device,
  and the host reads the sums only at a few checkpoints per epoch (no host sync per batch);
* on the CPU, convolutions run in the channels-last layout (:func:`channels_last`), which oneDNN
  handles faster;
* on a CUDA GPU the whole training step is captured once as a CUDA graph and replayed for every
  batch (:class:`CudaGraphStep`), so a small net is not held back by launching kernels one by one.
"""

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

__all__ = ["device_batches", "correct_count", "channels_last", "CudaGraphStep"]


def device_batches(data_iter: Iterable, device: torch.device,
                   channels_last_layout: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(X, y)`` on ``device`` (a no-op for a TensorLoader already there), images in the
    channels-last layout when asked."""
    for X, y in data_iter:
        X = X.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if channels_last_layout and X.dim() == 4:
            X = X.contiguous(memory_format=torch.channels_last)
        yield X, y


def correct_count(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions as a 0-dim float tensor on ``y``'s device: summing it over
    batches needs no host synchronisation (d2l's ``accuracy`` returns a Python float instead)."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    if y_hat.shape != y.shape:
        raise ValueError(f"Predictions of shape {tuple(y_hat.shape)} do not match labels of shape "
                         f"{tuple(y.shape)}.")
    return (y_hat.to(y.dtype) == y).sum().float()


def channels_last(net: nn.Module, on: bool) -> nn.Module:
    """Store ``net``'s 4-D weights channels-last (``on=True``) or in the default layout."""
    return net.to(memory_format=torch.channels_last if on else torch.contiguous_format)


class CudaGraphStep:
    """The training step captured once as a CUDA graph and replayed for each full-size batch.

    PyTorch's recipe (docs: "CUDA Graphs", whole-network capture): a few eager iterations on a
    side stream first (here: real steps on the first batches), then capture into static input
    tensors. A batch of another shape (the last, smaller one of an epoch) runs eagerly. If capture
    fails (a model that talks to the host inside ``forward``, say), training goes on eagerly with
    a note.
    """

    warmup_steps = 3

    def __init__(self, step: Callable[[torch.Tensor, torch.Tensor], None], verbose: bool = True):
        self.step, self.verbose = step, verbose
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_X: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.warmups_left = self.warmup_steps
        self.failed = False
        self.stream = torch.cuda.Stream()

    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        same_shape = (self.static_X is not None and X.shape == self.static_X.shape
                      and y.shape == self.static_y.shape)
        if self.graph is not None and same_shape:
            self.static_X.copy_(X)
            self.static_y.copy_(y)
            self.graph.replay()
        elif self.graph is None and not self.failed and (self.static_X is None or same_shape):
            if self.static_X is None:
                self.static_X, self.static_y = X.clone(), y.clone()
            else:
                self.static_X.copy_(X)
                self.static_y.copy_(y)
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                self.step(self.static_X, self.static_y)
            torch.cuda.current_stream().wait_stream(self.stream)
            self.warmups_left -= 1
            if self.warmups_left == 0:
                self._capture()
        else:
            self.step(X, y)

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.step(self.static_X, self.static_y)  # recorded, not run
        except RuntimeError as err:
            self.failed = True
            if self.verbose:
                print(f"Note: could not capture the training step as a CUDA graph ({err}); "
                      f"training continues without it.")
            return
        self.graph = graph
