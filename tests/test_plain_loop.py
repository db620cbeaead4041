"""d2l's own training code (saved from chapter 4), and d2l's LeNet chapter run with
``import lenet_utils as d2l``."""

import textwrap

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from constant_model import AlwaysZero
from lenet_utils import data, size
from lenet_utils.data import SAMPLE_DIR
from lenet_utils.plain_loop import Accumulator, Timer, accuracy, evaluate_accuracy_gpu, train_ch6_textbook


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def sample_only(monkeypatch):
    """The loaders see only the bundled sample, and nothing may download."""
    monkeypatch.setenv("LENET_DATA_DIR", str(SAMPLE_DIR))
    monkeypatch.setenv("LENET_OFFLINE", "1")


def test_accumulator_sums_numbers_and_tensors_as_floats():
    acc = Accumulator(3)
    acc.add(1, torch.tensor(2.0), 3.5)
    acc.add(torch.tensor(4.0), 5, 0.5)
    assert [acc[0], acc[1], acc[2]] == [5.0, 7.0, 4.0]
    assert isinstance(acc[1], float)
    acc.reset()
    assert acc[0] == 0.0


def test_timer_records_and_sums():
    timer = Timer()
    first = timer.stop()
    timer.start()
    second = timer.stop()
    assert timer.times == [first, second]
    assert timer.sum() == pytest.approx(first + second)
    assert timer.avg() == pytest.approx((first + second) / 2)


def test_accuracy_and_size_as_d2l_has_them():
    logits = torch.tensor([[5.0, 1.0, 0.0], [0.0, 0.1, 3.0], [0.2, 0.9, 0.1], [2.0, 0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 2])
    assert accuracy(logits, y) == 2.0 and isinstance(accuracy(logits, y), float)
    assert size(y) == 4


def test_evaluate_accuracy_gpu_on_a_constant_model():
    y = torch.tensor([0, 0, 0, 1, 1, 0, 1, 0, 0, 0])
    it = data.TensorLoader(torch.zeros(10, 1), y, 3, device="cpu")
    assert evaluate_accuracy_gpu(AlwaysZero(), it) == pytest.approx(0.7)


def test_the_textbook_loop_learns_on_the_sample(capsys):
    train_iter, test_iter = data.load_data("fashion-mnist", 64, root=SAMPLE_DIR, device="cpu",
                                           train_size=1000, test_size=500, verbose=False)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    result = train_ch6_textbook(net, train_iter, test_iter, 3, 0.1, torch.device("cpu"))
    assert result["test_acc"] > 0.5  # chance is 0.1
    assert result["examples_per_sec"] > 0
    out = capsys.readouterr().out
    assert "training on cpu" in out and f"test acc {result['test_acc']:.3f}" in out


# d2l's LeNet chapter (PyTorch, English edition) as the book prints it, with its data set shrunk
# by the sample and one epoch instead of ten.
D2L_CHAPTER = textwrap.dedent('''
    import torch
    from torch import nn
    import lenet_utils as d2l

    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))

    X = torch.rand(size=(1, 1, 28, 28), dtype=torch.float32)
    for layer in net:
        X = layer(X)
        print(layer.__class__.__name__, 'output shape: \\t', X.shape)

    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size=batch_size)

    def evaluate_accuracy_gpu(net, data_iter, device=None): #@save
        """Compute the accuracy for a model on a dataset using a GPU."""
        if isinstance(net, nn.Module):
            net.eval()  # Set the model to evaluation mode
            if not device:
                device = next(iter(net.parameters())).device
        # No. of correct predictions, no. of predictions
        metric = d2l.Accumulator(2)
        with torch.no_grad():
            for X, y in data_iter:
                if isinstance(X, list):
                    # Required for BERT Fine-tuning (to be covered later)
                    X = [x.to(device) for x in X]
                else:
                    X = X.to(device)
                y = y.to(device)
                metric.add(d2l.accuracy(net(X), y), d2l.size(y))
        return metric[0] / metric[1]

    #@save
    def train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
        """Train a model with a GPU (defined in Chapter 6)."""
        def init_weights(m):
            if type(m) == nn.Linear or type(m) == nn.Conv2d:
                nn.init.xavier_uniform_(m.weight)
        net.apply(init_weights)
        print('training on', device)
        net.to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        loss = nn.CrossEntropyLoss()
        animator = d2l.Animator(xlabel='epoch', xlim=[1, num_epochs],
                                legend=['train loss', 'train acc', 'test acc'])
        timer, num_batches = d2l.Timer(), len(train_iter)
        for epoch in range(num_epochs):
            # Sum of training loss, sum of training accuracy, no. of examples
            metric = d2l.Accumulator(3)
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
                    metric.add(l * X.shape[0], d2l.accuracy(y_hat, y), X.shape[0])
                timer.stop()
                train_l = metric[0] / metric[2]
                train_acc = metric[1] / metric[2]
                if (i + 1) % (num_batches // 5) == 0 or i == num_batches - 1:
                    animator.add(epoch + (i + 1) / num_batches,
                                 (train_l, train_acc, None))
            test_acc = evaluate_accuracy_gpu(net, test_iter)
            animator.add(epoch + 1, (None, None, test_acc))
        print(f'loss {train_l:.3f}, train acc {train_acc:.3f}, '
              f'test acc {test_acc:.3f}')
        print(f'{metric[2] * num_epochs / timer.sum():.1f} examples/sec '
              f'on {str(device)}')

    lr, num_epochs = 0.9, 1
    train_ch6(net, train_iter, test_iter, num_epochs, lr, d2l.try_gpu())
    d2l.train_ch6(net, train_iter, test_iter, num_epochs, lr, d2l.try_gpu())  # the fast one
''')


def test_d2l_lenet_chapter_runs_with_lenet_utils_as_d2l(sample_only, capsys):
    exec(compile(D2L_CHAPTER, "d2l_lenet_chapter", "exec"), {"__name__": "d2l_chapter"})
    out = capsys.readouterr().out
    assert "Linear output shape: \t torch.Size([1, 10])" in out
    assert "training on cpu" in out
    assert out.count("examples/sec on cpu") == 2  # d2l's loop, then lenet_utils.train_ch6
