"""Ship finished results with the course, so that a fresh clone loads them instead of training.

    python scripts/ship_results.py data/results/ladder-0123456789ab data/results/LeNet-5\\ run-...

Each folder must be a whole result that ``lenet_utils.store.stored`` saved (run the chapter to the
end in full mode first). It is copied into ``lenet_utils/results/`` under a key made of the
settings and the data's kind and size only; commit that folder. Prints where each went and its size.
"""

import sys

from lenet_utils.store import ship


def main(folders: list[str]) -> None:
    if not folders:
        sys.exit(__doc__)
    for folder in folders:
        target = ship(folder)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"{folder} -> {target} ({size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
