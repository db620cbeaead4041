"""Rebuild the bundled sample in lenet_utils/sample_data from a full copy of the data sets.

    python scripts/make_sample_data.py /path/to/datasets   # a folder with MNIST/raw and FashionMNIST/raw

Writes class-balanced subsets of real MNIST and Fashion-MNIST images as gzipped IDX files in
torchvision's layout, so the package reads them exactly like the full sets.
"""

import argparse
import gzip
import struct
from pathlib import Path

import torch

from lenet_utils.data import balanced_subset, load_tensors
from lenet_utils.sources import IDX_FILES, SAMPLE_DIR, dataset_info

SIZES = {True: 3000, False: 1000}  # train / test images per data set


def write_idx_gz(path: Path, tensor: torch.Tensor) -> None:
    """Write ``tensor`` (uint8) as a gzipped IDX file, byte for byte reproducible (mtime 0)."""
    header = struct.pack(f">BBBB{tensor.dim()}I", 0, 0, 0x08, tensor.dim(), *tensor.shape)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + tensor.contiguous().numpy().tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding MNIST/raw and FashionMNIST/raw")
    args = parser.parse_args()
    for name in ("mnist", "fashion-mnist"):
        raw = SAMPLE_DIR / dataset_info(name).folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for train, size in SIZES.items():
            images, labels = load_tensors(name, train=train, root=args.root)
            idx = balanced_subset(labels, size, seed=0)
            image_file, label_file = IDX_FILES[train]
            write_idx_gz(raw / f"{image_file}.gz", images[idx])
            write_idx_gz(raw / f"{label_file}.gz", labels[idx].to(dtype=images.dtype))
            print(f"{name} {'train' if train else 'test'}: {size} images -> {raw}")


if __name__ == "__main__":
    main()
