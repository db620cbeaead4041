"""Train the faithful LeNet-5 on full MNIST and save the weights that ship in lenet_utils/weights/.

Run from the repository root (a few minutes on a 2-core CPU):

    LENET_DATA_DIR=/path/to/datasets python scripts/train_lenet5_weights.py

Recipe: ``lenet_utils.models.LeNet5()`` (dense output) with the paper's initialisation, MNIST padded
by 2 to 32x32 and scaled the paper's way (``lenet_utils.weights.prepare``: 0 -> -0.1, 1 -> 1.175),
Adam with a learning rate that decays
to 0 along a cosine over the run (every batch), trained by ``lenet_utils.train.train_ch6``. Writes
``lenet5_mnist.pt`` (float32 state dict) and ``lenet5_mnist.json`` (recipe, wall time, the error on
the full 10,000-image test set and the accuracy on the 1,000 test images of the bundled sample).
"""

import argparse
import hashlib
import json
import platform
import sys
import time

import torch

from lenet_utils.data import SAMPLE_DIR, TensorLoader, load_data, load_tensors, to_float_images
from lenet_utils.quick_mode import is_quick
from lenet_utils.lenet import LeNet5
from lenet_utils.train import train_ch6
from lenet_utils.weights import RECIPE_PATH, WEIGHTS_PATH, prepare


def accuracy_on(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of the prepared images ``X`` that ``net`` classifies correctly."""
    with torch.no_grad():
        return (net(X).argmax(dim=1) == y).float().mean().item()


def sample_test_set() -> tuple:
    """The bundled sample's MNIST test images, padded to 32x32 and prepared, and their labels."""
    images, labels = load_tensors("mnist", train=False, root=SAMPLE_DIR, verbose=False)
    return prepare(to_float_images(images, pad=2)), labels


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if is_quick():
        sys.exit("LENET_QUICK is set: unset it, the shipped weights must come from the full MNIST.")
    torch.set_num_threads(args.threads)
    train_iter, test_iter = load_data("mnist", args.batch_size, pad=2, device="cpu", seed=args.seed,
                                      strict=True)
    train_iter = TensorLoader(prepare(train_iter.X), train_iter.y, args.batch_size, device="cpu",
                              seed=args.seed)
    test_iter = TensorLoader(prepare(test_iter.X), test_iter.y, 1000, shuffle=False, device="cpu")
    torch.manual_seed(args.seed)
    net = LeNet5()
    start = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, args.epochs, args.lr, "cpu", optimizer="adam",
                        scheduler="cosine", init=False,
                        animate=False, verbose=True)
    seconds = time.perf_counter() - start
    if history.status != "completed":
        sys.exit(f"Training did not complete ({history.status}): {history.message}")
    net = net.cpu().eval()
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    torch.save(state, WEIGHTS_PATH)
    test_error = 1 - accuracy_on(net, test_iter.X, test_iter.y)
    X_sample, y_sample = sample_test_set()
    record = {
        "model": "lenet_utils.models.LeNet5() (dense output), paper initialisation",
        "data": "MNIST, full 60,000 training images, padded by 2 to 32x32",
        "input_scaling": "lenet_utils.weights.prepare: pixel in [0, 1] -> x * 1.275 - 0.1",
        "optimizer": "adam",
        "lr": args.lr,
        "lr_schedule": "cosine: from lr down to 0 over the run, updated every batch",
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "seed": args.seed,
        "engine": "lenet_utils.train.train_ch6",
        "threads": args.threads,
        "wall_seconds": round(seconds, 1),
        "train_loss_per_epoch": [round(v, 5) for v in history.train_loss],
        "test_acc_per_epoch": [round(v, 5) for v in history.test_acc],
        "test_images": test_iter.num_examples,
        "test_error": round(test_error, 5),
        "sample_test_images": len(y_sample),
        "sample_test_accuracy": round(accuracy_on(net, X_sample, y_sample), 5),
        "weights_file": WEIGHTS_PATH.name,
        "weights_bytes": WEIGHTS_PATH.stat().st_size,
        "weights_sha256": hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    RECIPE_PATH.write_text(json.dumps(record, indent=2) + "\n")
    print(f"Saved {WEIGHTS_PATH} ({record['weights_bytes']:,} bytes) and {RECIPE_PATH}.")
    print(f"Test error on {record['test_images']:,} MNIST test images: {test_error:.2%}; accuracy on "
          f"the bundled sample's {len(y_sample):,}: {record['sample_test_accuracy']:.2%}; "
          f"{seconds:.0f} s of training.")


if __name__ == "__main__":
    main()
