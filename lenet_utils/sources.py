"""Where a data set comes from: find MNIST, Fashion-MNIST or CIFAR-10 on disk, offline first.

The search order:

1. an explicit ``root=`` argument, or the ``LENET_DATA_DIR`` environment variable
   (torchvision layout: ``ROOT/MNIST/raw/train-images-idx3-ubyte[.gz]`` ...);
2. the project's data folder (``data/`` in a checkout, else ``~/.cache/lenet_utils``);
3. a torchvision download into that folder, when the network allows (never with ``LENET_OFFLINE=1``);
4. a small class-balanced sample of real images bundled with this package (MNIST and
   Fashion-MNIST only), so every chapter runs on a fresh machine with no network.

Set ``LENET_REQUIRE_FULL_DATA=1`` (or pass ``strict=True``) to fail instead of using the sample.
:func:`torchvision_root` turns a found source into a folder torchvision reads with
``download=False``: ``.gz`` files are decompressed into a folder of their own and every IDX file
is checked, so a truncated copy fails with a message naming the user's file. Each decompressed
copy records the sha256 of the ``.gz`` it was made from and its own, and is made again when either
content differs (same size and date are not enough: ``cp -p`` and ``touch -r`` keep them).
:func:`file_digest` reads a file again only when its ``stat`` changed, so a repeated check is cheap.
"""

import difflib
import gzip
import hashlib
import json
import math
import os
import shutil
import socket
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torchvision

from .quick_mode import env_flag

DATA_ENV = "LENET_DATA_DIR"
STRICT_ENV = "LENET_REQUIRE_FULL_DATA"
OFFLINE_ENV = "LENET_OFFLINE"
SAMPLE_DIR = Path(__file__).with_name("sample_data")

#: The IDX files of the MNIST family: ``IDX_FILES[train] == (images, labels)``.
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
    classes: tuple[str, ...]
    download_host: str
    idx: bool = True  # stored as IDX files (MNIST family) rather than pickled batches


DATASETS: dict[str, DatasetInfo] = {
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


class CacheWriteError(OSError):
    """The uncompressed copy of a data file cannot be written (permissions, a full disk)."""


@dataclass(frozen=True)
class DataSource:
    """Where a data set was found: ``kind`` is 'full', 'download' or 'sample'; for the sample,
    ``why`` says why each place looked in held no full copy."""

    name: str
    kind: str
    root: Path
    why: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line saying where the data comes from (loud when it is the bundled sample)."""
        info = DATASETS[self.name]
        if self.kind == "sample":
            return (f"!!! {info.title}: no full copy found ({'; '.join(self.why)}), using the BUNDLED "
                    f"SAMPLE of a few thousand images: accuracies will be lower than with the full "
                    f"set. Set {DATA_ENV} to the folder that holds {info.folder}/ for real results. !!!")
        how = "downloaded by torchvision into" if self.kind == "download" else "full data set from"
        return f"{info.title}: {how} {self.root}"


def dataset_info(name: str) -> DatasetInfo:
    """Look up a data set by name ('mnist', 'fashion-mnist', 'cifar10'), forgiving case and '_'."""
    return DATASETS[dataset_key(name)]


def dataset_key(name: str) -> str:
    """The table key of a data set name, e.g. 'FashionMNIST' -> 'fashion-mnist'."""
    key = name.strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"Unknown data set '{name}'.{hint} Choose one of: {', '.join(DATASETS)}.")
    return key


def default_data_dir() -> Path:
    """The project's data folder: ``data/`` beside the package in a checkout, else a user cache."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / "data"
    return Path.home() / ".cache" / "lenet_utils"


# ---------------------------------------------------------------- finding the data


def raw_file(raw: Path, stem: str) -> Path | None:
    """The uncompressed or gzipped copy of an IDX file in ``raw``, or None."""
    for path in (raw / stem, raw / (stem + ".gz")):
        if path.is_file():
            return path
    return None


def _present(root: Path, info: DatasetInfo) -> bool:
    if info.idx:
        raw = root / info.folder / "raw"
        return all(raw_file(raw, stem) for pair in IDX_FILES.values() for stem in pair)
    return (root / info.folder / "batches.meta").is_file()


def _why_absent(root: Path, info: DatasetInfo) -> tuple[str, bool]:
    """Why ``root`` holds no copy of ``info`` (a phrase that starts with ``root``), and whether
    ``root`` was clearly meant to hold one (a data set's own folder, part of a copy)."""
    if not root.exists():
        return f"{root} does not exist", False
    if not root.is_dir():
        return f"{root} is a file, not a folder: point it at the folder that holds {info.folder}/", False
    inner = root.parent if root.name == "raw" else root
    if inner.name in {i.folder for i in DATASETS.values()}:
        return (f"{root} is a data set's own folder, not the folder that holds it: "
                f"export {DATA_ENV}={inner.parent}"), True
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    if info.idx and any(raw_file(root, stem) for stem in stems):
        return (f"{root} holds IDX files itself, but torchvision reads them from ROOT/MNIST/raw/ or "
                f"ROOT/FashionMNIST/raw/: move them into that layout and point {DATA_ENV} at ROOT"), True
    folder = root / info.folder
    if folder.is_dir():
        raw = folder / "raw"
        if not info.idx:
            return f"{folder} lacks batches.meta: copy the whole of cifar-10-batches-py/ there", True
        if not raw.is_dir() and any(raw_file(folder, stem) for stem in stems):
            return f"{folder} holds the IDX files, but torchvision reads them from {raw}: move them there", True
        missing = ", ".join(f"{stem}[.gz]" for stem in stems if not raw_file(raw, stem))
        return f"{raw} lacks {missing}: copy the missing files there", True
    try:
        near = {p.name.lower(): p.name for p in root.iterdir() if p.is_dir()}
    except OSError:
        near = {}
    close = difflib.get_close_matches(info.folder.lower(), near, n=1, cutoff=0.7)
    hint = f" (it holds {near[close[0]]}/; torchvision's name is {info.folder}/)" if close else ""
    return f"{root} holds no {info.folder}/ folder{hint}", False


def _network_allows(host: str) -> bool:
    if env_flag(OFFLINE_ENV):
        return False
    try:
        socket.create_connection((host, 443), timeout=2).close()
        return True
    except OSError:
        return False


def find_data(name: str, root: str | Path | None = None, strict: bool | None = None,
              allow_download: bool = True) -> DataSource:
    """Decide where ``name`` comes from (see the module docstring for the order)."""
    key = dataset_key(name)
    info = DATASETS[key]
    strict = env_flag(STRICT_ENV) if strict is None else strict
    if root is not None:
        root = Path(root).expanduser()
        if not _present(root, info):
            raise DataNotFoundError(_missing_message(info, [_why_absent(root, info)[0]], explicit=True))
        return DataSource(key, "full", root)
    why = []
    env_root = os.environ.get(DATA_ENV)
    for candidate in ([Path(env_root).expanduser()] if env_root else []) + [default_data_dir()]:
        if _present(candidate, info):
            return DataSource(key, "full", candidate)
        reason, meant = _why_absent(candidate, info)
        if env_root and not why:  # the folder the user pointed at
            reason = f"{DATA_ENV}={reason}"
            if meant:
                raise DataNotFoundError(
                    f"{info.title} not loaded: {reason}. Or unset {DATA_ENV} to use the project's data "
                    f"folder ({default_data_dir()}) or the bundled sample.")
        why.append(reason)
    if allow_download and _network_allows(info.download_host):
        target = default_data_dir()
        try:
            info.torchvision_class(str(target), download=True)
            return DataSource(key, "download", target)
        except Exception as err:  # a flaky network: fall through to the sample
            print(f"{info.title}: download into {target} failed ({err}).")
    if strict or not _present(SAMPLE_DIR, info):
        raise DataNotFoundError(_missing_message(info, why, strict=strict))
    return DataSource(key, "sample", SAMPLE_DIR, tuple(why))


def _missing_message(info: DatasetInfo, why: list[str], explicit: bool = False,
                     strict: bool = False) -> str:
    where = "\n".join(f"  - {reason}" for reason in why)
    layout = (f"{info.folder}/raw/train-images-idx3-ubyte[.gz] and the three other IDX files"
              if info.idx else f"{info.folder}/ (torchvision's CIFAR-10 python batches)")
    reason = " (strict mode: the bundled sample is not used)" if strict else ""
    if not explicit and not strict and not info.idx:
        reason = " (there is no bundled sample of this set)"
    return (
        f"Could not find {info.title}{reason}:\n{where}\n"
        f"Expected the torchvision layout: ROOT/{layout}. Fix it in one of three ways:\n"
        f"  1. point {DATA_ENV} (or root=) at a folder that holds it, e.g. "
        f"export {DATA_ENV}=/path/to/datasets;\n"
        f"  2. copy the files into the project's data folder {default_data_dir()};\n"
        f"  3. connect to the network once and torchvision downloads it there.")


# ---------------------------------------------------------------- checking and decompressing IDX files


def _where(path: Path, origin: Path) -> str:
    """Name the user's file, and the decompressed copy when that is what was read."""
    return str(origin) if origin == path else f"{origin} (decompressed to {path})"


def check_idx(path: Path, origin: Path | None = None) -> tuple[int, ...]:
    """Check an uncompressed IDX file's header against its size; return its shape.

    Raises :class:`CorruptDataError` naming ``origin`` (the user's file, e.g. the ``.gz`` that
    ``path`` was decompressed from; default ``path``) when it is truncated or not IDX.
    """
    origin = path if origin is None else origin
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(4)
        if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08 or not 1 <= header[3] <= 4:
            raise CorruptDataError(
                f"{_where(path, origin)} is not an IDX file of unsigned bytes (bad header). Replace "
                f"it with a fresh copy of the data set.")
        ndim = header[3]
        dims_bytes = f.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise CorruptDataError(f"{_where(path, origin)} is truncated inside its header. Replace it "
                               f"with a fresh copy.")
    dims = struct.unpack(f">{ndim}I", dims_bytes)
    expected = 4 + 4 * ndim + math.prod(dims)
    if size != expected:
        raise CorruptDataError(
            f"{_where(path, origin)} holds {size:,} bytes of IDX data but its header promises "
            f"{expected:,} (shape {dims}): the file is truncated or corrupt. Delete {origin} and copy "
            f"the data set again.")
    return dims


def _unreadable(src: Path, err: PermissionError) -> PermissionError:
    """The error for a data file this user may not open (not a corrupt one)."""
    return PermissionError(
        f"{src} cannot be read ({err.strerror}): the file may be fine, but this user may not open "
        f"it. Make it readable (chmod a+r {src}) or copy the data set to a folder of your own.")


def _open_gz(src: Path):
    try:
        return gzip.open(src, "rb")
    except PermissionError as err:
        raise _unreadable(src, err) from err


def _read_gz(fin, src: Path) -> bytes:
    try:
        return fin.read(1 << 20)
    except (OSError, EOFError) as err:
        raise CorruptDataError(
            f"{src} could not be decompressed ({err}): the download or copy is truncated or corrupt. "
            f"Delete it and copy the data set again.") from err


@contextmanager
def _writing(folder: Path, src: Path):
    """Report a failed write in ``folder`` (permissions, a full disk) as :class:`CacheWriteError`."""
    try:
        yield
    except OSError as err:
        raise CacheWriteError(
            f"Cannot write the uncompressed copy of {src} in {folder} ({err.strerror or err}). Make "
            f"{folder} writable by this user (or free space on its disk), or put uncompressed copies "
            f"of the four files (gunzip -k) in a folder of the same layout and point {DATA_ENV} at "
            f"it: uncompressed files are read where they are, with no copy.") from err


def _decompress(src: Path, dst: Path) -> str:
    """Decompress ``src`` to ``dst`` through a file of this process's own (chapters may load at
    once) and return the sha256 of what was written. A bad ``.gz`` is named as such, a folder that
    cannot be written as such."""
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    with _open_gz(src) as fin:
        try:
            with _writing(dst.parent, src):
                dst.parent.mkdir(parents=True, exist_ok=True)
                fout = open(tmp, "wb")
            with fout:
                while chunk := _read_gz(fin, src):
                    digest.update(chunk)
                    with _writing(dst.parent, src):
                        fout.write(chunk)
            with _writing(dst.parent, src):
                tmp.replace(dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _digests[dst] = (_stat_key(dst.stat()), digest.hexdigest())
    return digest.hexdigest()


def idx_shape(path: Path | None) -> list[int] | None:
    """The shape in an IDX file's header, plain or gzipped, read without reading the data
    (``[60000, 28, 28]`` for MNIST's training images); None when it cannot be read."""
    if path is None:
        return None
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            head = f.read(4)
            ndim = head[3] if len(head) == 4 else 0
            return list(struct.unpack(f">{ndim}I", f.read(4 * ndim)))
    except (OSError, EOFError, struct.error):
        return None


_digests: dict[Path, tuple[tuple, str]] = {}  # path -> (its stat key, the sha256 of its content)


def _stat_key(stat: os.stat_result) -> tuple:
    """What changes whenever a file's content may have: ``ctime`` moves on every write, ``cp -p``
    and ``touch -r`` included (only the size and mtime can be set back)."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def file_digest(path: Path) -> str:
    """The sha256 of ``path``'s content, read again only when its stat changed (see
    :func:`_stat_key`), so checking an unchanged file costs one ``stat``.

        file_digest(Path("data/MNIST/raw/t10k-labels-idx1-ubyte.gz"))  # 'f7ae60f9...'
    """
    path = Path(path)
    key = _stat_key(path.stat())
    known = _digests.get(path)
    if known is None or known[0] != key:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except PermissionError as err:
            raise _unreadable(path, err) from err
        known = _digests[path] = key, digest.hexdigest()
    return known[1]


def data_files(source: DataSource, train: bool) -> list[Path]:
    """The user's files that ``source``'s training (or test) split is read from, ``.gz`` or not."""
    info = DATASETS[source.name]
    if info.idx:
        raw = source.root / info.folder / "raw"
        found = [raw_file(raw, stem) for stem in IDX_FILES[train]]
        if None in found:
            raise DataNotFoundError(f"{raw} lost {' or '.join(IDX_FILES[train])} while it was being read: "
                                    f"copy the data set there again.")
        return found
    cls = info.torchvision_class
    names = [name for name, _ in (cls.train_list if train else cls.test_list)] + [cls.meta["filename"]]
    return [source.root / info.folder / name for name in names]


def _record(copy: Path) -> Path:
    """The file beside a decompressed ``copy`` that records what it was made from."""
    return copy.with_name(f"{copy.name}.source.json")


def _current_shape(copy: Path, gz_sha256: str) -> tuple[int, ...] | None:
    """The shape of ``copy`` when its record says it was made from a ``.gz`` of this content and
    the copy still holds what was written; None otherwise (no record or copy, an edited copy)."""
    try:
        record = json.loads(_record(copy).read_text())
        if record["gz_sha256"] == gz_sha256 and file_digest(copy) == record["sha256"]:
            return tuple(record["shape"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _extract_dir(root: Path) -> Path:
    """Where the ``.gz`` files of ``root`` are decompressed: one folder per source, so copies
    from different places (a full set, the bundled sample) never mix."""
    root = root.resolve()
    if root == default_data_dir().resolve():
        return root
    tag = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    return default_data_dir() / "extracted" / f"{root.name}-{tag}"


def _ready_file(found: Path, target: Path) -> tuple[int, ...]:
    """Put ``found`` (the user's file) at ``target`` uncompressed, check it and return its shape.

    A ``.gz`` is decompressed again unless ``target`` records that it was made from a ``.gz`` of the
    same content and still holds what was written; a fresh copy that fails the check is removed
    and the message names the ``.gz``."""
    if found.suffix != ".gz":
        shape = check_idx(found)
        if found != target:
            with _writing(target.parent, found):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(found, target)
        return shape
    gz_sha256 = file_digest(found)
    shape = _current_shape(target, gz_sha256)
    if shape is not None:
        return shape
    sha256 = _decompress(found, target)
    try:
        shape = check_idx(target, origin=found)
    except CorruptDataError:
        target.unlink(missing_ok=True)
        raise
    record = _record(target)
    tmp = record.with_name(f"{record.name}.{os.getpid()}.part")
    with _writing(target.parent, found):
        tmp.write_text(json.dumps({"gz_sha256": gz_sha256, "sha256": sha256, "shape": list(shape)}))
        tmp.replace(record)
    return shape


#: The number of axes of an IDX images file and of a labels file, and what they hold.
_IDX_CONTENT = ((3, "images (N x height x width, e.g. (60000, 28, 28))"),
                (1, "labels (one number per image, e.g. (60000,))"))


def _ready_idx_root(root: Path, info: DatasetInfo, cache: Path) -> Path:
    """Return a root where torchvision finds the four *uncompressed* IDX files, all checked.

    If ``root`` holds ``.gz`` files, they are decompressed into ``cache``; ``root`` is never written.
    """
    raw = root / info.folder / "raw"
    uncompressed = all((raw / stem).is_file() for pair in IDX_FILES.values() for stem in pair)
    out_raw = raw if uncompressed else cache / info.folder / "raw"
    for images, labels in IDX_FILES.values():
        found = [raw_file(raw, images), raw_file(raw, labels)]
        shapes = [_ready_file(f, out_raw / stem) for f, stem in zip(found, (images, labels))]
        for path, stem, shape, (ndim, what) in zip(found, (images, labels), shapes, _IDX_CONTENT):
            if len(shape) != ndim:
                raise CorruptDataError(
                    f"{_where(out_raw / stem, path)} holds an array of shape {shape}, not {what}. Replace "
                    f"it with a fresh copy of the data set.")
        counts = [shape[0] for shape in shapes]
        if counts[0] != counts[1]:
            raise CorruptDataError(
                f"{found[0]} holds {counts[0]:,} images but {found[1]} holds {counts[1]:,} labels: "
                f"the two files come from different copies. Copy both again.")
    return out_raw.parent.parent


def torchvision_root(source: DataSource) -> Path:
    """A folder where ``source``'s torchvision data set class reads it with ``download=False``.

    For the MNIST family the four IDX files are checked and, if gzipped, decompressed into a folder
    of the project's data folder kept for that source (the source itself is never written).
    """
    info = DATASETS[source.name]
    if not info.idx:
        return source.root
    return _ready_idx_root(source.root, info, _extract_dir(source.root))
