"""Find, load and batch MNIST, Fashion-MNIST and CIFAR-10, offline first.

Where the data comes from, in this order:

1. an explicit ``root=`` argument, or the ``LENET_DATA_DIR`` environment variable
   (torchvision layout: ``ROOT/MNIST/raw/train-images-idx3-ubyte[.gz]`` ...);
2. the project's data folder (``data/`` in a checkout, else ``~/.cache/lenet_utils``);
3. a torchvision download into that folder, when the network allows;
4. a small class-balanced sample of real images bundled with this package (MNIST and
   Fashion-MNIST only), so every chapter runs on a fresh machine with no network.

Set ``LENET_REQUIRE_FULL_DATA=1`` (or pass ``strict=True``) to fail instead of using the sample.
Batches come from :class:`TensorLoader`, which keeps the whole set as tensors on the training
device: no DataLoader, no per-image transforms.
"""

import difflib
import gzip
import hashlib
import math
import os
import shutil
import socket
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

from .device import try_gpu
from .mode import QUICK_TEST_SIZE, QUICK_TRAIN_SIZE, is_quick

DATA_ENV = "LENET_DATA_DIR"
STRICT_ENV = "LENET_REQUIRE_FULL_DATA"
OFFLINE_ENV = "LENET_OFFLINE"
SAMPLE_DIR = Path(__file__).with_name("sample_data")

IDX_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class DatasetInfo:
    """What we need to know about one data set."""

    title: str
    folder: str
    torchvision_class: type
    classes: tuple
    download_host: str
    idx: bool = True  # stored as IDX files (MNIST family) rather than pickled batches


DATASETS = {
    "mnist": DatasetInfo(
        "MNIST", "MNIST", torchvision.datasets.MNIST,
        tuple(str(d) for d in range(10)), "ossci-datasets.s3.amazonaws.com"),
    "fashion-mnist": DatasetInfo(
        "Fashion-MNIST", "FashionMNIST", torchvision.datasets.FashionMNIST,
        ("t-shirt", "trouser", "pullover", "dress", "coat",
         "sandal", "shirt", "sneaker", "bag", "ankle boot"),
        "fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
    "cifar10": DatasetInfo(
        "CIFAR-10", "cifar-10-batches-py", torchvision.datasets.CIFAR10,
        ("airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"),
        "www.cs.toronto.edu", idx=False),
}


class DataNotFoundError(FileNotFoundError):
    """No copy of the data set was found where we looked."""


class CorruptDataError(ValueError):
    """A data file exists but cannot be read (truncated, wrong format)."""


@dataclass(frozen=True)
class DataSource:
    """Where a data set was found: ``kind`` is 'full', 'download' or 'sample'."""

    name: str
    kind: str
    root: Path
    looked: tuple = ()

    def describe(self) -> str:
        info = DATASETS[self.name]
        if self.kind == "sample":
            where = ", ".join(str(p) for p in self.looked)
            return (f"!!! {info.title}: no full copy found (looked in {where}), using the BUNDLED "
                    f"SAMPLE of a few thousand images: accuracies will be lower than with the full "
                    f"set. Set {DATA_ENV} to the full data for real results. !!!")
        how = "downloaded by torchvision into" if self.kind == "download" else "full data set from"
        return f"{info.title}: {how} {self.root}"


def dataset_info(name: str) -> DatasetInfo:
    """Look up a data set by name ('mnist', 'fashion-mnist', 'cifar10'), forgiving case and '_'."""
    key = name.strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"Unknown data set '{name}'.{hint} Choose one of: {', '.join(DATASETS)}.")
    return DATASETS[key]


def _key(name: str) -> str:
    info = dataset_info(name)
    return next(k for k, v in DATASETS.items() if v is info)


def default_data_dir() -> Path:
    """The project's data folder: ``data/`` beside the package in a checkout, else a user cache."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / "data"
    return Path.home() / ".cache" / "lenet_utils"


def _env_flag(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}


# ---------------------------------------------------------------- IDX files


def _raw_file(raw: Path, stem: str):
    """The uncompressed or gzipped copy of an IDX file in ``raw``, or None."""
    for path in (raw / stem, raw / (stem + ".gz")):
        if path.is_file():
            return path
    return None


def _has_idx_set(root: Path, info: DatasetInfo) -> bool:
    raw = root / info.folder / "raw"
    return all(_raw_file(raw, stem) for pair in IDX_FILES.values() for stem in pair)


def check_idx(path: Path) -> tuple:
    """Check an uncompressed IDX file's header against its size; return its shape.

    Raises :class:`CorruptDataError` naming the file when it is truncated or not IDX.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(4)
        if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08 or not 1 <= header[3] <= 4:
            raise CorruptDataError(
                f"{path} is not an IDX file of unsigned bytes (bad header). Replace it with a fresh "
                f"copy of the data set.")
        ndim = header[3]
        dims_bytes = f.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise CorruptDataError(f"{path} is truncated inside its header. Replace it with a fresh copy.")
    dims = struct.unpack(f">{ndim}I", dims_bytes)
    expected = 4 + 4 * ndim + math.prod(dims)
    if size != expected:
        raise CorruptDataError(
            f"{path} has {size:,} bytes but its header promises {expected:,} (shape {dims}): the file "
            f"is truncated or corrupt. Delete it and copy the data set again.")
    return dims


def _decompress(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".part")
    try:
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    except (OSError, EOFError) as err:
        tmp.unlink(missing_ok=True)
        raise CorruptDataError(
            f"{src} could not be decompressed ({err}): the download or copy is truncated or corrupt. "
            f"Delete it and copy the data set again.") from err
    tmp.replace(dst)


def _extract_dir(root: Path) -> Path:
    """Where the ``.gz`` files of ``root`` are decompressed: one folder per source, so copies
    from different places (a full set, the bundled sample) never mix."""
    root = root.resolve()
    if root == default_data_dir().resolve():
        return root
    tag = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    return default_data_dir() / "extracted" / f"{root.name}-{tag}"


def _ready_idx_root(root: Path, info: DatasetInfo, cache: Path) -> Path:
    """Return a root where torchvision finds the four *uncompressed* IDX files, all checked.

    If ``root`` holds ``.gz`` files, they are decompressed into ``cache``; ``root`` is never written.
    """
    raw = root / info.folder / "raw"
    uncompressed = all((raw / stem).is_file() for pair in IDX_FILES.values() for stem in pair)
    out_raw = raw if uncompressed else cache / info.folder / "raw"
    for pair in IDX_FILES.values():
        shapes = []
        for stem in pair:
            found = _raw_file(raw, stem)
            target = out_raw / stem
            if found.suffix == ".gz":
                if not target.is_file() or target.stat().st_mtime < found.stat().st_mtime:
                    out_raw.mkdir(parents=True, exist_ok=True)
                    _decompress(found, target)
            elif found != target:
                out_raw.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(found, target)
            shapes.append(check_idx(target))
        if shapes[0][0] != shapes[1][0]:
            raise CorruptDataError(
                f"{out_raw / pair[0]} holds {shapes[0][0]:,} images but {out_raw / pair[1]} holds "
                f"{shapes[1][0]:,} labels: the two files come from different copies. Copy both again.")
    return out_raw.parent.parent


# ---------------------------------------------------------------- finding the data


def _network_allows(host: str) -> bool:
    if _env_flag(OFFLINE_ENV):
        return False
    try:
        socket.create_connection((host, 443), timeout=2).close()
        return True
    except OSError:
        return False


def _present(root: Path, info: DatasetInfo) -> bool:
    if info.idx:
        return _has_idx_set(root, info)
    return (root / info.folder / "batches.meta").is_file()


def find_data(name: str, root=None, strict=None, allow_download=True) -> DataSource:
    """Decide where ``name`` comes from (see the module docstring for the order)."""
    info = dataset_info(name)
    key = _key(name)
    strict = _env_flag(STRICT_ENV) if strict is None else strict
    if root is not None:
        root = Path(root).expanduser()
        if not _present(root, info):
            raise DataNotFoundError(_missing_message(info, [root], explicit=True))
        return DataSource(key, "full", root)
    looked = []
    env_root = os.environ.get(DATA_ENV)
    for candidate in ([Path(env_root).expanduser()] if env_root else []) + [default_data_dir()]:
        looked.append(candidate)
        if _present(candidate, info):
            return DataSource(key, "full", candidate)
    if allow_download and _network_allows(info.download_host):
        target = default_data_dir()
        try:
            info.torchvision_class(str(target), download=True)
            return DataSource(key, "download", target)
        except Exception as err:  # a flaky network: fall through to the sample
            print(f"{info.title}: download into {target} failed ({err}).")
    sample = SAMPLE_DIR
    if strict or not _present(sample, info):
        raise DataNotFoundError(_missing_message(info, looked, strict=strict))
    return DataSource(key, "sample", sample, tuple(looked))


def _missing_message(info, looked, explicit=False, strict=False) -> str:
    where = "\n".join(f"  - {p / info.folder}" for p in looked)
    layout = (f"{info.folder}/raw/train-images-idx3-ubyte[.gz] and the three other IDX files"
              if info.idx else f"{info.folder}/ (torchvision's CIFAR-10 python batches)")
    why = " (strict mode: the bundled sample is not used)" if strict else ""
    if not explicit and not strict and not info.idx:
        why = " (there is no bundled sample of this set)"
    return (
        f"Could not find {info.title}{why}. Looked in:\n{where}\n"
        f"Expected the torchvision layout: ROOT/{layout}. Fix it in one of three ways:\n"
        f"  1. point {DATA_ENV} (or root=) at a folder that holds it, e.g. "
        f"export {DATA_ENV}=/path/to/datasets;\n"
        f"  2. copy the files into the project's data folder {default_data_dir()};\n"
        f"  3. connect to the network once and torchvision downloads it there.")


# ---------------------------------------------------------------- loading tensors


@lru_cache(maxsize=16)
def _load_cached(key: str, train: bool, root: str, kind: str):
    info = DATASETS[key]
    root = Path(root)
    if info.idx:
        ready = _ready_idx_root(root, info, _extract_dir(root))
        ds = info.torchvision_class(str(ready), train=train, download=False)
        return ds.data.clone(), ds.targets.clone().long()
    ds = info.torchvision_class(str(root), train=train, download=False)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(ds.targets, dtype=torch.long)


_announced = set()


def load_tensors(name: str, train: bool = True, root=None, strict=None, verbose=True):
    """Return ``(images, labels)`` on the CPU: uint8 N×H×W (N×3×H×W for CIFAR-10) and int64 labels.

    The first load of each data set prints one line saying where it came from.
    """
    source = find_data(name, root=root, strict=strict)
    images, labels = _load_cached(source.name, bool(train), str(source.root), source.kind)
    if verbose and (source.name, source.kind, source.root) not in _announced:
        _announced.add((source.name, source.kind, source.root))
        print(source.describe())
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


def text_labels(name: str, labels) -> list:
    """Class names for numeric labels, e.g. ``text_labels('fashion-mnist', [0, 9])``."""
    classes = dataset_info(name).classes
    return [classes[int(i)] for i in labels]


# ---------------------------------------------------------------- batching


class TensorLoader:
    """Shuffled mini-batches from tensors that live on the training device.

    Iterates like a DataLoader (``for X, y in loader``; ``len(loader)`` is the number of
    batches) but without worker processes or per-sample transforms.
    """

    def __init__(self, X, y, batch_size, shuffle=True, device=None, seed=None, drop_last=False):
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} examples but y has {len(y)}: they must match.")
        if len(X) == 0:
            raise ValueError("No examples to iterate over: the data set (or subset) is empty.")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        self.device = torch.device(device) if device is not None else try_gpu()
        self.X = X.to(self.device)
        self.y = y.to(self.device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator(self.device)
        if seed is None:  # draw from torch's global generator, so torch.manual_seed() still governs
            seed = int(torch.randint(2**62, (1,)))
        self.generator.manual_seed(seed)

    @property
    def num_examples(self) -> int:
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


def to_float_images(images: torch.Tensor, resize=None, pad: int = 0) -> torch.Tensor:
    """uint8 images (N×H×W or N×C×H×W) to float32 N×C×H×W in [0, 1], resized then zero-padded."""
    X = images.unsqueeze(1) if images.dim() == 3 else images
    X = X.float().div_(255)
    if resize is not None:
        size = (resize, resize) if isinstance(resize, int) else tuple(resize)
        X = F.interpolate(X, size=size, mode="bilinear", antialias=True, align_corners=False)
    if pad:
        X = F.pad(X, (pad, pad, pad, pad))
    return X


def load_data(name, batch_size, resize=None, pad=0, device=None, train_size=None, test_size=None,
              seed=0, root=None, strict=None, verbose=True):
    """Return ``(train_iter, test_iter)`` for a data set, as :class:`TensorLoader` objects.

    In quick mode (``LENET_QUICK=1``) the sets shrink to class-balanced subsets unless
    ``train_size``/``test_size`` say otherwise. ``pad=2`` turns 28×28 digits into LeNet-5's 32×32.
    """
    device = torch.device(device) if device is not None else try_gpu()
    if is_quick():
        train_size = train_size or QUICK_TRAIN_SIZE
        test_size = test_size or QUICK_TEST_SIZE
    loaders = []
    for train, size in ((True, train_size), (False, test_size)):
        images, labels = load_tensors(name, train=train, root=root, strict=strict, verbose=verbose)
        if size is not None:
            idx = balanced_subset(labels, int(size), seed=seed)
            images, labels = images[idx], labels[idx]
        X = to_float_images(images.to(device), resize=resize, pad=pad)
        loaders.append(TensorLoader(X, labels, batch_size, shuffle=train, device=device, seed=seed))
    if verbose and is_quick():
        print(f"Quick mode: {loaders[0].num_examples:,} training / {loaders[1].num_examples:,} test images.")
    return tuple(loaders)


def load_data_fashion_mnist(batch_size, resize=None, **kwargs):
    """d2l's loader: ``(train_iter, test_iter)`` for Fashion-MNIST (see :func:`load_data`)."""
    return load_data("fashion-mnist", batch_size, resize=resize, **kwargs)


def load_data_mnist(batch_size, resize=None, **kwargs):
    """``(train_iter, test_iter)`` for MNIST (see :func:`load_data`)."""
    return load_data("mnist", batch_size, resize=resize, **kwargs)
