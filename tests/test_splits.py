"""The validation split: class-balanced, kept out of training, and never all of the training set."""

import pytest

from lenet_utils.data import SAMPLE_DIR, load_data
from lenet_utils.splits import load_split, split_validation

TRAIN, VAL = 200, 100


@pytest.fixture(scope="module")
def data():
    # Always the bundled sample, so the runs are the same wherever the tests run.
    return load_split(TRAIN, VAL, 100, root=SAMPLE_DIR, verbose=False)


def test_validation_split_is_class_balanced_and_kept_out_of_training(data):
    assert data.train.num_examples == TRAIN and data.val.num_examples == VAL
    assert data.val.y.bincount().tolist() == [VAL // 10] * 10
    train = {tuple(x.flatten().tolist()) for x in data.train.X}
    assert not any(tuple(x.flatten().tolist()) in train for x in data.val.X)
    assert data.test.num_examples == 100


def test_a_validation_split_as_large_as_the_training_set_is_refused():
    train_iter, test_iter = load_data("fashion-mnist", 64, train_size=50, test_size=20,
                                      root=SAMPLE_DIR, verbose=False)
    with pytest.raises(ValueError, match="leaves no training examples"):
        split_validation(train_iter, test_iter, 50)
