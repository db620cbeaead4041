"""Load a data set as tensors and serve mini-batches: the course's loaders and d2l's own.

:func:`load_data` keeps the whole set as tensors on the training device and batches it with
:class:`TensorLoader`: no DataLoader, no per-image transforms. :func:`textbook_loaders` is d2l's
pipeline (torchvision data set, ``ToTensor``, ``DataLoader`` with worker processes) over the same
files, for the chapters and benchmarks that compare the two. Where the files come from is
:mod:`lenet_utils.sources`' business.
"""

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

from .checks import whole_number
from .device import check_device
from .quick_mode import QUICK_TEST_SIZE, QUICK_TRAIN_SIZE, is_quick
from .sources import SAMPLE_DIR  # noqa: F401  (re-exported: callers pass root=data.SAMPLE_DIR)
from .sources import (DATA_ENV, DATASETS, CorruptDataError, DataSource, data_files, dataset_info, file_digest,
                      find_data, torchvision_root)

_announced: set[tuple] = set()


def _announce(source: DataSource, verbose: bool) -> None:
    """Print once per data set and source where the data comes from."""
    if verbose and (source.name, source.kind, source.root) not in _announced:
        _announced.add((source.name, source.kind, source.root))
        print(source.describe())


#: What each split holds in memory: ``(source, train) -> (sha256 of its files, images, labels)``.
_loaded: dict[tuple[DataSource, bool], tuple[tuple[str, ...], torch.Tensor, torch.Tensor]] = {}


def _read(source: DataSource, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a split from disk, its labels checked against the set's classes."""
    info = DATASETS[source.name]
    ds = info.torchvision_class(str(torchvision_root(source)), train=train, download=False)
    if info.idx:
        images, labels = ds.data.clone(), ds.targets.clone().long()
    else:
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor(ds.targets, dtype=torch.long)
    bad = labels[(labels < 0) | (labels >= len(info.classes))]
    if len(bad):
        raise CorruptDataError(
            f"{data_files(source, train)[1] if info.idx else source.root / info.folder} holds {len(bad):,} "
            f"label(s) outside "
            f"0-{len(info.classes) - 1} (the first is {int(bad[0])}): it is not {info.title}'s labels file "
            f"or it is corrupt. Replace it with a fresh copy of the data set.")
    return images, labels


def _load(name: str, train: bool, root, strict, verbose: bool) -> tuple[torch.Tensor, torch.Tensor, DataSource]:
    """The split from memory while its files hold what they held when it was read (a changed file,
    even one copied in with its old date, is read again), else from disk."""
    source = find_data(name, root=root, strict=strict)
    key = (source, bool(train))
    content = tuple(file_digest(path) for path in data_files(source, bool(train)))
    if key not in _loaded or _loaded[key][0] != content:
        _loaded[key] = (content, *_read(source, bool(train)))
    _, images, labels = _loaded[key]
    _announce(source, verbose)
    return images, labels, source


def load_tensors(name: str, train: bool = True, root: str | Path | None = None, strict: bool | None = None,
                 verbose: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(images, labels)`` on the CPU: uint8 N×H×W (N×3×H×W for CIFAR-10) and int64 labels.

    The first load of each data set prints one line saying where it came from.
    """
    images, labels, _ = _load(name, train, root, strict, verbose)
    return images, labels


def balanced_subset(labels: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``size`` examples with the classes as equally represented as possible."""
    if size >= len(labels):
        return torch.arange(len(labels))
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    shuffled = labels[order]
    # rank of each example within its class, in shuffled order; take the lowest ranks first
    rank = torch.empty_like(shuffled)
    for c in shuffled.unique():
        where = (shuffled == c).nonzero().squeeze(1)
        rank[where] = torch.arange(len(where))
    keep = torch.sort(rank * len(labels) + torch.arange(len(labels)), stable=True).indices[:size]
    return torch.sort(order[keep]).values


def _subset_indices(labels: torch.Tensor, size: int | None, seed: int, source: DataSource,
                    what: str) -> torch.Tensor | None:
    """The balanced subset of ``size`` examples (checked by :func:`_sizes`), or None for all; warns
    when ``size`` is too big."""
    if size is None:
        return None
    if size > len(labels):
        how = (f"this is the bundled sample; set {DATA_ENV} to a full copy for the whole set"
               if source.kind == "sample" else f"pass {what}_size=None to use the whole set")
        warnings.warn(f"{what}_size={size:,} asked for, but the {DATASETS[source.name].title} {what} set "
                      f"from {source.root} has only {len(labels):,} examples: using all {len(labels):,} "
                      f"({how}).", stacklevel=3)
    return balanced_subset(labels, size, seed=seed)


def text_labels(name: str, labels: "torch.Tensor | Iterable[int]") -> list[str]:
    """Class names for numeric labels, e.g. ``text_labels('fashion-mnist', [0, 9])``."""
    classes = dataset_info(name).classes
    return [classes[int(i)] for i in labels]


# ---------------------------------------------------------------- batching on the device


class TensorLoader:
    """Shuffled mini-batches from tensors that live on the training device.

    Iterates like a DataLoader (``for X, y in loader``; ``len(loader)`` is the number of
    batches) but without worker processes or per-sample transforms.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True,
                 device: "str | torch.device | None" = None, seed: int | None = None,
                 drop_last: bool = False):
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} examples but y has {len(y)}: they must match.")
        if len(X) == 0:
            raise ValueError("No examples to iterate over: the data set (or subset) is empty.")
        self.batch_size = whole_number("batch_size", batch_size)
        self.device = check_device(device)
        self.X = X.to(self.device)
        self.y = y.to(self.device)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator(self.device)
        if seed is None:  # draw from torch's global generator, so torch.manual_seed() still governs
            seed = int(torch.randint(2**62, (1,)))
        self.generator.manual_seed(seed)

    def reshuffled(self, seed: int, batch_size: int | None = None) -> "TensorLoader":
        """A shuffled loader over the same tensors (nothing is copied), its order drawn from ``seed``;
        ``batch_size`` defaults to this loader's. One run of a sweep::

            batches = train_iter.reshuffled(seed=3, batch_size=128)
        """
        return TensorLoader(self.X, self.y, self.batch_size if batch_size is None else batch_size,
                            device=self.device, seed=seed, drop_last=self.drop_last)

    @property
    def num_examples(self) -> int:
        """How many examples one epoch serves."""
        return len(self.X)

    def __len__(self) -> int:
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = self.num_examples
        if self.shuffle:
            order = torch.randperm(n, device=self.device, generator=self.generator)
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            if self.shuffle:
                idx = order[start:start + self.batch_size]
                yield self.X[idx], self.y[idx]
            else:
                yield self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]

    def __repr__(self) -> str:
        shape = "×".join(str(s) for s in self.X.shape[1:])
        return (f"TensorLoader({self.num_examples:,} examples of {shape}, batch_size={self.batch_size}, "
                f"{len(self)} batches, on {self.device})")


def _image_size(resize: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``resize`` (one side, or ``(height, width)``) as ``(height, width)`` in whole pixels, or None."""
    if resize is None:
        return None
    if not isinstance(resize, (tuple, list)):
        side = whole_number("resize", resize)
        return side, side
    if len(resize) != 2:
        raise ValueError(f"resize={resize!r} is not valid: pass one side (e.g. 32) or (height, width).")
    return tuple(whole_number(f"resize[{i}]", side) for i, side in enumerate(resize))


def to_float_images(images: torch.Tensor, resize: int | tuple[int, int] | None = None,
                    pad: int = 0) -> torch.Tensor:
    """uint8 images (N×H×W or N×C×H×W) to float32 N×C×H×W in [0, 1], resized then zero-padded."""
    size = _image_size(resize)
    pad = whole_number("pad", pad, low=0)
    X = images.unsqueeze(1) if images.dim() == 3 else images
    X = X.float().div_(255)
    if size is not None:
        X = F.interpolate(X, size=size, mode="bilinear", antialias=True, align_corners=False)
    if pad:
        X = F.pad(X, (pad, pad, pad, pad))
    return X


def _sizes(train_size: int | None, test_size: int | None) -> tuple[int | None, int | None]:
    """The requested subset sizes, checked; None (the whole set) becomes the quick-mode size in
    quick mode."""
    sizes = []
    for what, size, quick in (("train", train_size, QUICK_TRAIN_SIZE),
                              ("test", test_size, QUICK_TEST_SIZE)):
        if size is None:
            sizes.append(quick if is_quick() else None)
            continue
        try:
            sizes.append(whole_number(f"{what}_size", size))
        except ValueError as err:
            raise ValueError(f"{err} Or pass {what}_size=None for the whole set ({quick:,} examples "
                             f"in quick mode).") from None
    return tuple(sizes)


def load_data(name: str, batch_size: int, resize: int | tuple[int, int] | None = None, pad: int = 0,
              device: "str | torch.device | None" = None, train_size: int | None = None,
              test_size: int | None = None, seed: int = 0, root: str | Path | None = None,
              strict: bool | None = None, verbose: bool = True) -> tuple[TensorLoader, TensorLoader]:
    """Return ``(train_iter, test_iter)`` for a data set, as :class:`TensorLoader` objects.

    ``train_size``/``test_size`` take class-balanced subsets (a size above the set's warns and
    uses the whole set). In quick mode (``LENET_QUICK=1``) the sets shrink to the quick-mode sizes
    unless they say otherwise. ``pad=2`` turns 28×28 digits into LeNet-5's 32×32.
    """
    device = check_device(device)
    batch_size = whole_number("batch_size", batch_size)
    resize, pad = _image_size(resize), whole_number("pad", pad, low=0)
    loaders = []
    for train, size in zip((True, False), _sizes(train_size, test_size)):
        images, labels, source = _load(name, train, root, strict, verbose)
        idx = _subset_indices(labels, size, seed, source, "train" if train else "test")
        if idx is not None:
            images, labels = images[idx], labels[idx]
        X = to_float_images(images.to(device), resize=resize, pad=pad)
        loaders.append(TensorLoader(X, labels, batch_size, shuffle=train, device=device, seed=seed))
    if verbose and is_quick():
        print(f"Quick mode: {loaders[0].num_examples:,} training / {loaders[1].num_examples:,} test images.")
    return tuple(loaders)


def load_data_fashion_mnist(batch_size: int, resize: int | None = None, **kwargs) -> tuple[TensorLoader, TensorLoader]:
    """d2l's loader: ``(train_iter, test_iter)`` for Fashion-MNIST (see :func:`load_data`)."""
    return load_data("fashion-mnist", batch_size, resize=resize, **kwargs)


def load_data_mnist(batch_size: int, resize: int | None = None, **kwargs) -> tuple[TensorLoader, TensorLoader]:
    """``(train_iter, test_iter)`` for MNIST (see :func:`load_data`)."""
    return load_data("mnist", batch_size, resize=resize, **kwargs)


# ---------------------------------------------------------------- d2l's own pipeline

D2L_WORKERS = 4  #: d2l 0.17's ``get_dataloader_workers()``


def _usable_cpus() -> int:
    """The most workers PyTorch's DataLoader suggests (it warns above): the CPU cores this process
    may run on, counted by PyTorch's own function where it has one."""
    if hasattr(torch._utils, "cpu_count"):  # what DataLoader's worker check calls, in newer PyTorch
        return torch._utils.cpu_count() or 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def textbook_loaders(name: str, batch_size: int, resize: int | None = None, root: str | Path | None = None,
                     num_workers: int | None = None, *, train_size: int | None = None, test_size: int | None = None,
                     seed: int = 0, strict: bool | None = None,
                     verbose: bool = True) -> tuple[DataLoader, DataLoader]:
    """d2l's ``load_data_fashion_mnist`` pipeline for any data set: a torchvision data set with
    ``ToTensor`` (after ``Resize`` when ``resize`` is given), one PIL image per example, and a
    ``DataLoader`` with ``num_workers`` worker processes (shuffled for training). The default is
    d2l 0.17's 4 workers, capped at the CPU cores this process may use (PyTorch warns above that).

    The files come from the same search as :func:`load_data`, and ``train_size``/``test_size`` (and
    quick mode) pick the same class-balanced subsets, so index ``i`` is the same image in both.
    """
    batch_size = whole_number("batch_size", batch_size)
    num_workers = (min(D2L_WORKERS, _usable_cpus()) if num_workers is None
                   else whole_number("num_workers", num_workers, low=0))
    image_size, sizes = _image_size(resize), _sizes(train_size, test_size)
    source = find_data(name, root=root, strict=strict)
    trans = [transforms.ToTensor()]
    if image_size is not None:
        trans.insert(0, transforms.Resize(image_size))
    trans = transforms.Compose(trans)
    ready = str(torchvision_root(source))
    loaders = []
    for train, size in zip((True, False), sizes):
        dataset = DATASETS[source.name].torchvision_class(ready, train=train, transform=trans, download=False)
        labels = torch.as_tensor(dataset.targets)
        idx = _subset_indices(labels, size, seed, source, "train" if train else "test")
        if idx is not None:
            dataset = Subset(dataset, idx.tolist())
        loaders.append(DataLoader(dataset, batch_size, shuffle=train, num_workers=num_workers))
    _announce(source, verbose)
    return tuple(loaders)
