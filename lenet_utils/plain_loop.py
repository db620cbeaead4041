"""The plain training loop and its pieces, as d2l writes them (PyTorch edition, the LeNet
chapter): the accumulator, the timer, accuracy, evaluation, weight initialisation and
``train_ch6_textbook``, with none of the steps that make it fast; saved from chapter 4 where it is
written out and run. ``lenet_utils.train_ch6`` is the fast engine with the
same signature; chapter 4, notebook 10 (Making train_ch6 fast) and ``benchmarks/bench_train.py``
compare the two.

Changes from the book, each small: ``train_ch6_textbook`` returns its final figures as a dict
(the book only prints them); ``init_weights`` stands on its own (the book defines it inside
``train_ch6``) so that the fast engine and the widgets draw their weights with the same one;
``max(num_batches // 5, 1)`` keeps a set of fewer than 5 batches from
dividing by zero; ``animator.finish()`` draws the last state (this Animator redraws at most every
0.3 s).
"""

import time

import torch
from torch import nn

from .plot import Animator

__all__ = ["Accumulator", "Timer", "accuracy", "evaluate_accuracy_gpu", "init_weights", "train_ch6_textbook"]


class Accumulator:
    """Sums over n variables."""
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


class Timer:
    """Records several running times."""
    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.time()

    def stop(self):
        """Stop the timer and record the time in a list."""
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of time."""
        return sum(self.times)


def accuracy(y_hat, y):
    """Compute the number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy_gpu(net, data_iter, device=None):
    """Compute the accuracy for a model on a dataset using a GPU."""
    if isinstance(net, nn.Module):
        net.eval()  # Set the model to evaluation mode
        if not device:
            device = next(iter(net.parameters())).device
    # No. of correct predictions, no. of predictions
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X = X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def init_weights(m, generator=None):
    """d2l's initialisation: Xavier-uniform weights for every linear and convolution layer, drawn
    from ``generator`` when given (``net.apply(init_weights)``)."""
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(m.weight, generator=generator)


def train_ch6_textbook(net, train_iter, test_iter, num_epochs, lr, device):
    """Train a model with a GPU (d2l's train_ch6, as the book writes it)."""
    net.apply(init_weights)
    print('training on', device)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    animator = Animator(xlabel='epoch', xlim=[1, num_epochs],
                        legend=['train loss', 'train acc', 'test acc'])
    timer, num_batches = Timer(), len(train_iter)
    for epoch in range(num_epochs):
        # Sum of training loss, sum of training accuracy, no. of examples
        metric = Accumulator(3)
        net.train()
        for i, (X, y) in enumerate(train_iter):
            timer.start()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
            timer.stop()
            train_l = metric[0] / metric[2]
            train_acc = metric[1] / metric[2]
            if (i + 1) % max(num_batches // 5, 1) == 0 or i == num_batches - 1:
                animator.add(epoch + (i + 1) / num_batches,
                             (train_l, train_acc, None))
        test_acc = evaluate_accuracy_gpu(net, test_iter)
        animator.add(epoch + 1, (None, None, test_acc))
    animator.finish()
    print(f'loss {train_l:.3f}, train acc {train_acc:.3f}, '
          f'test acc {test_acc:.3f}')
    print(f'{metric[2] * num_epochs / timer.sum():.1f} examples/sec '
          f'on {str(device)}')
    return {'train_loss': train_l, 'train_acc': train_acc, 'test_acc': test_acc,
            'examples_per_sec': metric[2] * num_epochs / timer.sum()}
