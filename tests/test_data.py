"""Data: where it comes from, what goes wrong, and how batches are served."""

import gzip
import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from lenet_utils import data, sources

FULL_DATA = os.environ.get(sources.DATA_ENV)
SAMPLE_SIZES = {True: 3000, False: 1000}  # scripts/make_sample_data.py: train / test images per set


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No LENET_DATA_DIR, an empty project data folder, no network, a fresh load cache."""
    monkeypatch.delenv(sources.DATA_ENV, raising=False)
    monkeypatch.delenv(sources.STRICT_ENV, raising=False)
    monkeypatch.setenv(sources.OFFLINE_ENV, "1")
    monkeypatch.setattr(sources, "default_data_dir", lambda: tmp_path / "project-data")
    monkeypatch.setattr(data, "_announced", set())
    new_kernel()
    yield tmp_path
    new_kernel()


def new_kernel():
    """Forget what this process holds in memory, as a fresh kernel would."""
    data._loaded.clear()
    sources._digests.clear()


def copy_sample(name, dest: Path) -> Path:
    """A torchvision-layout copy of the bundled sample of ``name`` under ``dest``."""
    folder = sources.dataset_info(name).folder
    shutil.copytree(sources.SAMPLE_DIR / folder, dest / folder)
    return dest / folder / "raw"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match="Did you mean 'mnist'.*fashion-mnist"):
        sources.dataset_info("mnsit")


def test_names_are_forgiving():
    assert sources.dataset_info("FashionMNIST") is sources.DATASETS["fashion-mnist"]
    assert sources.dataset_info("CIFAR-10") is sources.DATASETS["cifar10"]


def test_missing_explicit_root_says_where_and_how_to_fix(isolated):
    with pytest.raises(sources.DataNotFoundError) as err:
        sources.find_data("mnist", root=isolated / "nowhere")
    message = str(err.value)
    assert f"{isolated / 'nowhere'} does not exist" in message
    assert "LENET_DATA_DIR" in message and "1." in message and "2." in message and "3." in message


def test_falls_back_to_the_bundled_sample_loudly(isolated, capsys):
    images, labels = data.load_tensors("fashion-mnist", train=True)
    out = capsys.readouterr().out
    assert "BUNDLED SAMPLE" in out and str(isolated / "project-data") in out
    assert images.dtype == torch.uint8 and images.shape[1:] == (28, 28)
    assert len(images) == len(labels) == SAMPLE_SIZES[True]
    counts = torch.bincount(labels, minlength=10)
    assert counts.min() == counts.max(), "the sample is class-balanced"


def test_strict_mode_refuses_the_sample(isolated, monkeypatch):
    monkeypatch.setenv(sources.STRICT_ENV, "1")
    with pytest.raises(sources.DataNotFoundError, match="strict"):
        sources.find_data("mnist")
    monkeypatch.delenv(sources.STRICT_ENV)
    with pytest.raises(sources.DataNotFoundError, match="strict"):
        sources.find_data("mnist", strict=True)


def test_no_sample_for_cifar10(isolated):
    with pytest.raises(sources.DataNotFoundError, match="no bundled sample"):
        sources.find_data("cifar10")


def test_env_dir_with_gz_files_is_decompressed_elsewhere(isolated, monkeypatch, capsys):
    copy_sample("mnist", isolated / "env")
    monkeypatch.setenv(sources.DATA_ENV, str(isolated / "env"))
    images, labels = data.load_tensors("mnist", train=False)
    assert "full data set from" in capsys.readouterr().out
    assert len(images) == len(labels) > 0
    assert sorted(p.name for p in (isolated / "env" / "MNIST" / "raw").iterdir())[0].endswith(".gz"), \
        "the user's folder is left untouched"
    extracted = list((isolated / "project-data" / "extracted").glob("env-*/MNIST/raw/t10k-images-idx3-ubyte"))
    assert len(extracted) == 1


def _load_in_child(root: str, data_dir: str) -> int:
    sources.default_data_dir = lambda: Path(data_dir)  # the child's own view of the project folder
    return len(data.load_tensors("mnist", train=True, root=root, verbose=False)[0])


def test_two_processes_decompress_the_same_files_at_once(isolated):
    """Two chapters opened together decompress the same .gz files side by side without clashing."""
    import multiprocessing

    copy_sample("mnist", isolated / "env")
    args = [(str(isolated / "env"), str(isolated / "project-data"))] * 4
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        sizes = pool.starmap(_load_in_child, args)
    assert sizes == [SAMPLE_SIZES[True]] * 4
    assert not list((isolated / "project-data").rglob("*.part")), "no half-written file is left"


def test_truncated_gz_names_the_file(isolated):
    raw = copy_sample("mnist", isolated / "root")
    bad = raw / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:5000])
    with pytest.raises(sources.CorruptDataError, match="train-images-idx3-ubyte.gz.*truncated or corrupt"):
        data.load_tensors("mnist", root=isolated / "root")


def test_truncated_idx_inside_a_gz_names_the_users_gz(isolated):
    """A .gz that decompresses fine but holds a truncated IDX file: the message names the user's
    .gz (and the decompressed copy), and the bad copy is removed so a fresh .gz replaces it."""
    raw = copy_sample("mnist", isolated / "root")
    gz = raw / "t10k-images-idx3-ubyte.gz"
    with gzip.open(gz) as f:
        content = f.read()
    with gzip.open(gz, "wb") as f:
        f.write(content[:-100])
    with pytest.raises(sources.CorruptDataError) as err:
        data.load_tensors("mnist", train=False, root=isolated / "root")
    message = str(err.value)
    assert message.startswith(f"{gz} (decompressed to ")
    assert f"Delete {gz} and copy" in message
    extracted = list((isolated / "project-data" / "extracted").glob("root-*/MNIST/raw/t10k-images-idx3-ubyte"))
    assert extracted == [], "the truncated decompressed copy is not kept"
    with gzip.open(gz, "wb") as f:  # a fresh copy of the file now loads
        f.write(content)
    images, _ = data.load_tensors("mnist", train=False, root=isolated / "root")
    assert len(images) == SAMPLE_SIZES[False]


def _rewrite_gz(gz: Path, count: int) -> None:
    """Rewrite an IDX .gz to hold ``count`` examples (its own, cut or repeated), as another copy would."""
    with gzip.open(gz) as f:
        content = f.read()
    header = 16 if "images" in gz.name else 8
    body = content[header:]
    item = len(body) // int.from_bytes(content[4:8], "big")
    body = (body * (count * item // len(body) + 1))[:count * item]
    with gzip.open(gz, "wb") as f:
        f.write(content[:4] + count.to_bytes(4, "big") + content[8:header] + body)


def test_a_copy_with_old_dates_replacing_the_sample_is_decompressed_again(isolated):
    """`cp -p`, `rsync -a` or `tar` put the full set in place with its old dates: the decompressed
    sample is not reused (it was, since it looked newer than the .gz)."""
    raw = copy_sample("mnist", isolated / "root")
    images, _ = data.load_tensors("mnist", train=False, root=isolated / "root")
    assert len(images) == SAMPLE_SIZES[False]
    (copy,) = (isolated / "project-data" / "extracted").glob("root-*/MNIST/raw/t10k-images-idx3-ubyte")
    made = copy.stat().st_mtime_ns
    new_kernel()
    data.load_tensors("mnist", train=False, root=isolated / "root")
    assert copy.stat().st_mtime_ns == made, "an unchanged .gz reuses its decompressed copy"
    for stem in sources.IDX_FILES[False]:
        gz = raw / f"{stem}.gz"
        _rewrite_gz(gz, 2 * SAMPLE_SIZES[False])  # the "full" set: twice the sample
        os.utime(gz, ns=(10**18, 10**18))  # dated 2001, long before the decompressed copy
    new_kernel()
    images, labels = data.load_tensors("mnist", train=False, root=isolated / "root")
    assert len(images) == len(labels) == 2 * SAMPLE_SIZES[False]


def test_a_broken_decompressed_copy_is_rebuilt_not_blamed_on_the_gz(isolated):
    """The decompressed copy, not the user's good .gz, is what broke: it is made again from the .gz."""
    copy_sample("mnist", isolated / "root")
    data.load_tensors("mnist", train=False, root=isolated / "root")
    (copy,) = (isolated / "project-data" / "extracted").glob("root-*/MNIST/raw/t10k-images-idx3-ubyte")
    copy.write_bytes(copy.read_bytes()[:-100])  # newer than the .gz, and truncated
    new_kernel()
    images, _ = data.load_tensors("mnist", train=False, root=isolated / "root")
    assert len(images) == SAMPLE_SIZES[False]
    assert sources.check_idx(copy) == (SAMPLE_SIZES[False], 28, 28), "the copy is whole again"


def _refuse_writes_under(folder: Path):
    """A stand-in for ``open`` that fails like a read-only ``folder`` (the tests run as root,
    where chmod does not stop writes)."""
    def fake_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and folder in Path(file).parents:
            raise PermissionError(13, "Permission denied", str(file))
        return open(file, mode, *args, **kwargs)
    return fake_open


def test_an_unwritable_data_folder_is_not_reported_as_corrupt_data(isolated, monkeypatch):
    raw = copy_sample("mnist", isolated / "root")
    monkeypatch.setattr(sources, "open", _refuse_writes_under(isolated / "project-data"), raising=False)
    with pytest.raises(OSError) as err:
        data.load_tensors("mnist", train=False, root=isolated / "root")
    message = str(err.value)
    assert isinstance(err.value, sources.CacheWriteError)
    assert "Cannot write" in message and "Permission denied" in message
    assert str(isolated / "project-data" / "extracted") in message, "names the folder"
    assert "gunzip -k" in message and sources.DATA_ENV in message, "says what to do"
    assert f"Delete {raw}" not in message


def test_an_unreadable_gz_is_not_reported_as_corrupt(isolated, monkeypatch):
    raw = copy_sample("mnist", isolated / "root")
    gz = raw / "t10k-images-idx3-ubyte.gz"
    real_open = gzip.open

    def fake_gzip_open(file, *args, **kwargs):
        if Path(file) == gz:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    def fake_open(file, mode="r", *args, **kwargs):  # the content check reads it too
        if Path(file) == gz:
            raise PermissionError(13, "Permission denied", str(file))
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(gzip, "open", fake_gzip_open)
    monkeypatch.setattr(sources, "open", fake_open, raising=False)
    with pytest.raises(PermissionError, match=f"{gz} cannot be read .*Permission denied.*chmod") as err:
        data.load_tensors("mnist", train=False, root=isolated / "root")
    assert not isinstance(err.value, sources.CorruptDataError)


def test_images_and_labels_from_different_copies_name_the_users_files(isolated):
    raw = copy_sample("mnist", isolated / "root")
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(gz) as f:
        content = bytearray(f.read())
    content[4:8] = (10).to_bytes(4, "big")
    with gzip.open(gz, "wb") as f:
        f.write(bytes(content[:8 + 10]))
    with pytest.raises(sources.CorruptDataError, match=f"{raw / 't10k-images-idx3-ubyte.gz'} holds 1,000 "
                                                       f"images but {gz} holds 10 labels"):
        data.load_tensors("mnist", train=False, root=isolated / "root")


def test_truncated_idx_names_the_file(isolated):
    raw = copy_sample("mnist", isolated / "root")
    for gz in raw.glob("*.gz"):
        with gzip.open(gz) as f:
            gz.with_suffix("").write_bytes(f.read())
        gz.unlink()
    bad = raw / "t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(sources.CorruptDataError, match="t10k-images-idx3-ubyte holds .* bytes of IDX data but its header"):
        data.load_tensors("mnist", train=False, root=isolated / "root")


def test_not_an_idx_file(isolated):
    raw = copy_sample("mnist", isolated / "root")
    with gzip.open(raw / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"<html>404 Not Found</html>")
    with pytest.raises(sources.CorruptDataError, match=r"t10k-labels-idx1-ubyte.gz \(decompressed to .*\) is not an IDX"):
        data.load_tensors("mnist", train=False, root=isolated / "root")


def test_balanced_subset_is_balanced_and_repeatable():
    labels = torch.arange(10).repeat_interleave(torch.arange(1, 11) * 30)  # 30..300 per class
    idx = data.balanced_subset(labels, 200, seed=3)
    assert len(idx) == len(set(idx.tolist())) == 200
    assert torch.bincount(labels[idx], minlength=10).tolist() == [20] * 10
    assert torch.equal(idx, data.balanced_subset(labels, 200, seed=3))
    assert not torch.equal(idx, data.balanced_subset(labels, 200, seed=4))


def test_tensor_loader_serves_every_example_once_per_epoch():
    X = torch.arange(10.0).reshape(10, 1, 1, 1)
    loader = data.TensorLoader(X, torch.arange(10), batch_size=4, device="cpu", seed=0)
    assert len(loader) == 3 and loader.num_examples == 10
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    assert all(torch.equal(x.flatten(), y.float()) for x, y in batches), "images stay with labels"
    second = torch.cat([y for _, y in loader])
    assert not torch.equal(seen, second), "a new order each epoch"
    again = data.TensorLoader(X, torch.arange(10), batch_size=4, device="cpu", seed=0)
    assert torch.equal(torch.cat([y for _, y in again]), seen), "a seed repeats the order"


def test_reshuffled_serves_the_same_tensors_in_a_seeded_order():
    X = torch.arange(10.0).reshape(10, 1, 1, 1)
    test_iter = data.TensorLoader(X, torch.arange(10), batch_size=4, shuffle=False, device="cpu",
                                  drop_last=True)
    batches = test_iter.reshuffled(seed=3)
    assert batches.X is test_iter.X and batches.y is test_iter.y, "nothing is copied"
    assert (batches.batch_size, batches.shuffle, batches.drop_last) == (4, True, True)
    order = torch.cat([y for _, y in batches])
    again = data.TensorLoader(X, torch.arange(10), 4, device="cpu", seed=3, drop_last=True)
    assert torch.equal(order, torch.cat([y for _, y in again])), "the seed fixes the order"
    assert not torch.equal(order, torch.cat([y for _, y in test_iter.reshuffled(seed=4)]))
    assert [len(y) for _, y in test_iter.reshuffled(seed=3, batch_size=5)] == [5, 5]
    with pytest.raises(ValueError, match="batch_size=2.7 is not valid"):
        test_iter.reshuffled(seed=3, batch_size=2.7)


def test_tensor_loader_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        data.TensorLoader(torch.zeros(0, 1, 2, 2), torch.zeros(0), 4, device="cpu")
    with pytest.raises(ValueError, match="must match"):
        data.TensorLoader(torch.zeros(3, 1, 2, 2), torch.zeros(2), 4, device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        data.TensorLoader(torch.zeros(3, 1, 2, 2), torch.zeros(3), 0, device="cpu")


def test_fractional_batch_size_is_refused_not_truncated(isolated):
    with pytest.raises(ValueError, match=r"batch_size=2.7 is not valid: it must be a whole number >= 1"):
        data.TensorLoader(torch.zeros(3, 1, 2, 2), torch.zeros(3), 2.7, device="cpu")
    with pytest.raises(ValueError, match=r"batch_size=2.7 is not valid"):
        data.load_data("mnist", 2.7, device="cpu")
    with pytest.raises(ValueError, match=r"batch_size=2.7 is not valid"):
        data.textbook_loaders("mnist", 2.7, num_workers=0)


@pytest.mark.parametrize("size", [0, -5, 2.7])
def test_a_train_size_that_is_not_a_positive_whole_number_is_refused_in_quick_mode(isolated, monkeypatch,
                                                                                     size):
    """train_size=0 used to mean "the quick-mode default" (2,000 images), 2.7 meant 2."""
    monkeypatch.setenv("LENET_QUICK", "1")
    with pytest.raises(ValueError, match=rf"train_size={size} is not valid.*train_size=None for the whole set"):
        data.load_data("mnist", 64, device="cpu", train_size=size)
    with pytest.raises(ValueError, match=rf"test_size={size} is not valid"):
        data.textbook_loaders("mnist", 64, num_workers=0, test_size=size)


def test_a_negative_pad_is_refused_not_a_crop(isolated):
    images = torch.zeros((2, 28, 28), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"pad=-3 is not valid: it must be a whole number >= 0"):
        data.to_float_images(images, pad=-3)
    with pytest.raises(ValueError, match=r"pad=-3 is not valid"):
        data.load_data("mnist", 64, device="cpu", pad=-3)


@pytest.mark.parametrize("resize", [0, -1, 2.7, True, (28,), (14, 14.5)])
def test_a_bad_resize_is_refused_with_a_message(isolated, resize):
    """0 used to skip the resize in textbook_loaders, True to shrink to one pixel there."""
    images = torch.zeros((2, 28, 28), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"resize(\[1\])?=.* is not valid"):
        data.to_float_images(images, resize=resize)
    with pytest.raises(ValueError, match=r"resize(\[1\])?=.* is not valid"):
        data.textbook_loaders("mnist", 64, resize=resize, num_workers=0)


def test_float_images_resize_and_pad():
    images = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    X = data.to_float_images(images, pad=2)
    assert X.shape == (2, 1, 32, 32) and X.max() == 1 and X[:, :, :2].abs().sum() == 0
    assert data.to_float_images(images, resize=14).shape == (2, 1, 14, 14)


def test_load_data_in_quick_mode_uses_balanced_subsets(isolated, monkeypatch, capsys):
    monkeypatch.setenv("LENET_QUICK", "1")
    train_iter, test_iter = data.load_data_fashion_mnist(batch_size=256, device="cpu")
    assert (train_iter.num_examples, test_iter.num_examples) == (2000, 1000)
    assert "Quick mode" in capsys.readouterr().out
    X, y = next(iter(train_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32
    assert X.min() == 0 and X.max() == 1, "uint8 pixels 0..255 scaled to [0, 1]"
    assert torch.bincount(train_iter.y, minlength=10).tolist() == [200] * 10


def test_text_labels():
    assert data.text_labels("fashion-mnist", torch.tensor([0, 9])) == ["t-shirt", "ankle boot"]


@pytest.mark.skipif(not FULL_DATA, reason=f"needs the full data sets: set {sources.DATA_ENV} to a folder "
                                            f"holding MNIST/raw and FashionMNIST/raw")
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_full_data_from_env_dir(name, monkeypatch, capsys):
    monkeypatch.setenv(sources.OFFLINE_ENV, "1")
    monkeypatch.delenv("LENET_QUICK", raising=False)
    monkeypatch.setattr(data, "_announced", set())
    train_iter, test_iter = data.load_data(name, batch_size=1000, device="cpu", strict=True)
    assert (train_iter.num_examples, test_iter.num_examples) == (60000, 10000)
    assert f"full data set from {FULL_DATA}" in capsys.readouterr().out
    assert torch.bincount(test_iter.y, minlength=10).min() >= 800, "all ten classes, roughly balanced"


def test_downloads_when_the_network_allows(isolated, monkeypatch, capsys):
    """With the network up, torchvision's download fills the project data folder."""
    calls = []

    class FakeMNIST:  # stands in for torchvision.datasets.MNIST(root, download=True)
        def __init__(self, root, download=False, **kwargs):
            calls.append((root, download))
            copy_sample("mnist", Path(root))

    monkeypatch.delenv(sources.OFFLINE_ENV)
    monkeypatch.setattr(sources, "_network_allows", lambda host: host == "ossci-datasets.s3.amazonaws.com")
    fake = sources.DatasetInfo("MNIST", "MNIST", FakeMNIST, sources.DATASETS["mnist"].classes,
                            "ossci-datasets.s3.amazonaws.com")
    monkeypatch.setitem(sources.DATASETS, "mnist", fake)
    source = sources.find_data("mnist")
    assert source.kind == "download" and source.root == isolated / "project-data"
    assert calls == [(str(isolated / "project-data"), True)]
    assert "downloaded by torchvision" in source.describe()


def test_offline_switch_skips_the_network(isolated, monkeypatch):
    monkeypatch.setattr(sources.socket, "create_connection",
                        lambda *a, **k: pytest.fail("LENET_OFFLINE=1 must not touch the network"))
    assert sources.find_data("mnist").kind == "sample"


def test_copies_from_different_folders_never_mix(isolated):
    """Two folders with different copies of a set each load as themselves."""
    copy_sample("mnist", isolated / "a")
    raw_b = copy_sample("mnist", isolated / "b")
    for stem in sources.IDX_FILES[False]:
        _rewrite_gz(raw_b / f"{stem}.gz", 100)  # keep only the first 100 examples
    images_a, _ = data.load_tensors("mnist", train=False, root=isolated / "a")
    images_b, _ = data.load_tensors("mnist", train=False, root=isolated / "b")
    assert len(images_b) == 100 and len(images_a) > 100
    assert torch.equal(images_a[:100], images_b)


def test_cuda_without_a_gpu_says_what_to_do(isolated, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="device='cuda'.*no CUDA GPU.*device='cpu'"):
        data.load_data("mnist", 64, device="cuda", root=sources.SAMPLE_DIR)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        data.TensorLoader(torch.zeros(3, 1, 2, 2), torch.zeros(3), 2, device="cuda")


def test_a_size_above_the_set_warns_and_uses_the_whole_set(isolated):
    with pytest.warns(UserWarning) as caught:
        train_iter, test_iter = data.load_data("mnist", 64, device="cpu", root=sources.SAMPLE_DIR,
                                               train_size=100_000, test_size=500)
    assert (train_iter.num_examples, test_iter.num_examples) == (SAMPLE_SIZES[True], 500)
    (message,) = [str(w.message) for w in caught if "asked for" in str(w.message)]
    assert "train_size=100,000 asked for" in message and f"only {SAMPLE_SIZES[True]:,} examples" in message
    assert "train_size=None" in message


def test_the_sample_warning_says_how_to_get_the_full_set(isolated):
    with pytest.warns(UserWarning, match="bundled sample; set LENET_DATA_DIR"):
        data.load_data("mnist", 64, device="cpu", test_size=5000)


def test_sizes_that_fit_do_not_warn(isolated):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data.load_data("mnist", 64, device="cpu", root=sources.SAMPLE_DIR, train_size=3000, test_size=10)
    assert not [w for w in caught if "asked for" in str(w.message)]


def test_plain_loop_loaders_serve_the_same_images_as_load_data(isolated, monkeypatch):
    monkeypatch.setenv("LENET_QUICK", "1")
    train_dl, test_dl = data.textbook_loaders("fashion-mnist", 32, root=sources.SAMPLE_DIR, num_workers=0)
    train_iter, test_iter = data.load_data("fashion-mnist", 32, device="cpu", root=sources.SAMPLE_DIR)
    assert isinstance(train_dl, torch.utils.data.DataLoader)
    assert (len(train_dl.dataset), len(test_dl.dataset)) == (train_iter.num_examples, test_iter.num_examples)
    assert (len(train_dl.dataset), len(test_dl.dataset)) == (2000, 1000), "quick mode's subsets"
    for i in (0, 17, 999):
        image, label = test_dl.dataset[i]
        assert image.shape == (1, 28, 28) and image.dtype == torch.float32
        assert torch.equal(image, test_iter.X[i]) and label == int(test_iter.y[i])
    X, y = next(iter(train_dl))
    assert X.shape == (32, 1, 28, 28) and y.dtype == torch.int64
    assert X.min() == 0 and X.max() == 1
    first = torch.cat([y for _, y in train_dl])
    assert sorted(first.tolist()) == sorted(train_iter.y.tolist()), "every training example once"
    assert not torch.equal(first, train_iter.y), "the training loader shuffles"
    assert torch.equal(torch.cat([y for _, y in test_dl]), test_iter.y), "the test loader does not"


def test_plain_loop_loaders_resize_and_full_sample(isolated, monkeypatch):
    monkeypatch.setenv("LENET_QUICK", "0")
    train_dl, test_dl = data.textbook_loaders("mnist", 16, resize=32, root=sources.SAMPLE_DIR, num_workers=0)
    assert (len(train_dl.dataset), len(test_dl.dataset)) == (SAMPLE_SIZES[True], SAMPLE_SIZES[False])
    X, _ = next(iter(test_dl))
    assert X.shape == (16, 1, 32, 32) and 0 <= X.min() < X.max() <= 1


def test_plain_loop_loaders_use_worker_processes(isolated):
    train_dl, _ = data.textbook_loaders("mnist", 500, root=sources.SAMPLE_DIR, num_workers=2, train_size=1000,
                                        test_size=100)
    assert train_dl.num_workers == 2
    assert sum(len(y) for _, y in train_dl) == 1000


def test_plain_loop_loaders_take_d2l_workers_capped_at_the_usable_cores(isolated, monkeypatch):
    """d2l 0.17 asks for 4 workers; on a 2-core machine PyTorch warns about that in the chapter."""
    monkeypatch.setattr(data, "_usable_cpus", lambda: 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_dl, test_dl = data.textbook_loaders("mnist", 500, root=sources.SAMPLE_DIR, train_size=1000,
                                                  test_size=500, verbose=False)
        next(iter(train_dl))  # PyTorch checks the workers against the cores here
    assert train_dl.num_workers == test_dl.num_workers == 2
    monkeypatch.setattr(data, "_usable_cpus", lambda: 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this machine may have fewer cores than the pretended 16
        train_dl, _ = data.textbook_loaders("mnist", 500, root=sources.SAMPLE_DIR, train_size=1000,
                                            test_size=500, verbose=False)
    assert train_dl.num_workers == data.D2L_WORKERS == 4


# ---------------------------------------------------------------- data read fresh (issue 32)

def _gz_bytes(gz: Path) -> bytes:
    with gzip.open(gz) as f:
        return f.read()


def _write_gz(gz: Path, content: bytes, level: int = 9) -> None:
    with gzip.open(gz, "wb", compresslevel=level) as f:
        f.write(content)


def test_files_replaced_in_the_same_kernel_are_read_again(isolated):
    """`cp -p` of another copy over the files: the next load in the same kernel reads the new files."""
    raw = copy_sample("fashion-mnist", isolated / "root")
    old, _ = data.load_tensors("fashion-mnist", train=False, root=isolated / "root")
    other = isolated / "other"
    other.mkdir()
    for stem in sources.IDX_FILES[False]:
        content = bytearray(_gz_bytes(raw / f"{stem}.gz"))
        if "images" in stem:
            content[16:] = bytes(255 - b for b in content[16:])  # the negatives: another copy
        _write_gz(other / f"{stem}.gz", bytes(content))
        shutil.copy2(other / f"{stem}.gz", raw / f"{stem}.gz")  # cp -p
    new, _ = data.load_tensors("fashion-mnist", train=False, root=isolated / "root")
    assert torch.equal(new, 255 - old), "the replaced files are read, not the old images in memory"


def test_a_gz_edited_to_the_same_size_and_date_is_decompressed_again(isolated):
    """1,000 labels changed in the .gz, padded to the same size, `touch -r`: the next kernel reads them."""
    raw = copy_sample("mnist", isolated / "root")
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    content = _gz_bytes(gz)
    _write_gz(gz, content, level=0)  # stored, not compressed: any compressed edit fits in its size
    _, old = data.load_tensors("mnist", train=False, root=isolated / "root")
    stat = gz.stat()
    _write_gz(gz, content[:8] + bytes((b + 1) % 10 for b in content[8:]))
    with open(gz, "ab") as f:  # gzip reads past zero padding
        f.write(bytes(stat.st_size - gz.stat().st_size))
    os.utime(gz, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # touch -r
    assert gz.stat().st_size == stat.st_size and gz.stat().st_mtime_ns == stat.st_mtime_ns
    new_kernel()
    _, labels = data.load_tensors("mnist", train=False, root=isolated / "root")
    assert torch.equal(labels, (old + 1) % 10)


def test_a_same_size_edit_of_the_decompressed_copy_is_not_used(isolated):
    copy_sample("mnist", isolated / "root")
    images, _ = data.load_tensors("mnist", train=False, root=isolated / "root")
    (copy,) = (isolated / "project-data" / "extracted").glob("root-*/MNIST/raw/t10k-images-idx3-ubyte")
    stat = copy.stat()
    content = bytearray(copy.read_bytes())
    content[16:1016] = bytes(1000)  # blank out the first image and a bit, same size
    copy.write_bytes(bytes(content))
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    new_kernel()
    again, _ = data.load_tensors("mnist", train=False, root=isolated / "root")
    assert torch.equal(again, images), "the edited copy is made again from the .gz"


def test_a_repeated_load_reads_no_file_again(isolated, monkeypatch):
    """The in-memory cache still serves a chapter's repeated loads: an unchanged file is not hashed again."""
    copy_sample("mnist", isolated / "root")
    first = data.load_tensors("mnist", train=False, root=isolated / "root")
    monkeypatch.setattr(sources, "hashlib", None)  # any hashing fails
    again = data.load_tensors("mnist", train=False, root=isolated / "root")
    assert all(a is b for a, b in zip(first, again))


def test_data_dir_pointing_at_a_file_falls_back_naming_the_file(isolated, monkeypatch, capsys):
    (isolated / "datasets.tar").write_bytes(b"not a folder")
    monkeypatch.setenv(sources.DATA_ENV, str(isolated / "datasets.tar"))
    images, _ = data.load_tensors("fashion-mnist", train=False)
    out = capsys.readouterr().out
    assert len(images) == SAMPLE_SIZES[False] and "BUNDLED SAMPLE" in out
    assert f"{sources.DATA_ENV}={isolated / 'datasets.tar'} is a file, not a folder" in out
    assert "point it at the folder that holds FashionMNIST/" in out


def test_data_dir_without_the_set_falls_back_saying_so(isolated, monkeypatch, capsys):
    copy_sample("mnist", isolated / "env")
    monkeypatch.setenv(sources.DATA_ENV, str(isolated / "env"))
    data.load_tensors("fashion-mnist", train=False)
    out = capsys.readouterr().out
    assert "BUNDLED SAMPLE" in out and f"{isolated / 'env'} holds no FashionMNIST/ folder" in out


def test_data_dir_pointing_at_the_raw_folder_is_refused_saying_where_to_point(isolated, monkeypatch):
    raw = copy_sample("fashion-mnist", isolated / "datasets")
    monkeypatch.setenv(sources.DATA_ENV, str(raw))
    with pytest.raises(sources.DataNotFoundError) as err:
        data.load_tensors("fashion-mnist", train=False)
    message = str(err.value)
    assert f"{sources.DATA_ENV}={raw}" in message
    assert f"export {sources.DATA_ENV}={isolated / 'datasets'}" in message, "says what to set"
    assert "BUNDLED SAMPLE" not in message


def test_data_dir_with_only_the_test_files_is_refused_naming_the_missing_ones(isolated, monkeypatch):
    raw = copy_sample("fashion-mnist", isolated / "datasets")
    for stem in sources.IDX_FILES[True]:
        (raw / f"{stem}.gz").unlink()
    monkeypatch.setenv(sources.DATA_ENV, str(isolated / "datasets"))
    with pytest.raises(sources.DataNotFoundError) as err:
        data.load_tensors("fashion-mnist", train=False)
    message = str(err.value)
    assert f"{raw} lacks train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]" in message
    assert "unset LENET_DATA_DIR" in message


def test_a_2d_idx_image_file_is_named_as_such(isolated):
    raw = copy_sample("mnist", isolated / "root")
    gz = raw / "t10k-images-idx3-ubyte.gz"
    content = _gz_bytes(gz)
    _write_gz(gz, b"\x00\x00\x08\x02" + content[4:8] + (784).to_bytes(4, "big") + content[16:])
    with pytest.raises(sources.CorruptDataError, match=rf"{gz} \(decompressed to .*\) holds an array of shape "
                                                       r"\(1000, 784\), not images"):
        data.load_tensors("mnist", train=False, root=isolated / "root")


def test_a_uint8_batch_gets_the_courses_message_not_torchs(isolated):
    from lenet_utils.lenet import lenet_d2l

    images, _ = data.load_tensors("mnist", train=False, root=sources.SAMPLE_DIR, verbose=False)
    for batch in (images[:8].unsqueeze(1), images[:8]):
        with pytest.raises(TypeError, match=r"lenet_d2l\(\) expects float.*torch.uint8.*to_float_images"):
            lenet_d2l()(batch)


def test_labels_outside_the_classes_are_named_at_load_not_at_the_loss(isolated):
    raw = copy_sample("mnist", isolated / "root")
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(_gz_bytes(gz))
    content[8 + 5] = 200
    _write_gz(gz, bytes(content))
    with pytest.raises(sources.CorruptDataError, match=rf"{gz} holds 1 label\(s\) outside 0-9 \(the first is 200\)"):
        data.load_tensors("mnist", train=False, root=isolated / "root")
