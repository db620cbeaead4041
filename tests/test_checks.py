"""The shared argument checks: what each accepts, normalised, and the message of what it refuses."""

import math

import pytest

from lenet_utils.checks import learning_rate_range, seconds, whole_number


def test_whole_number_with_both_ends_names_them():
    assert whole_number("W", 64, 1, 64) == 64 and whole_number("P", 0, 0, 6) == 0
    for bad in (65, 0, 5.0, "5", True):
        with pytest.raises(ValueError, match=rf"W={bad!r} is not valid: it must be a whole number from 1 to 64\."):
            whole_number("W", bad, 1, 64)


def test_seconds_are_finite_and_not_negative():
    assert seconds("debounce", 0) == 0.0 and isinstance(seconds("debounce", 1), float)
    for bad in (-1, math.inf, math.nan, "0.1", None, True):
        with pytest.raises(ValueError, match=rf"debounce={bad!r} is not valid: it must be a number of seconds"):
            seconds("debounce", bad)


def test_a_learning_rate_range_is_two_positive_rates_lowest_first():
    assert learning_rate_range([0.01, 3], "lr") == (0.01, 3.0)
    with pytest.raises(ValueError, match=r"lr\[0\]=0 is not valid: a learning rate is a positive number"):
        learning_rate_range((0, 1), "lr")
    with pytest.raises(ValueError, match=r"lr=\(3.0, 0.01\) is not valid: give the lowest learning rate first, "
                                         r"\(0.01, 3\)"):
        learning_rate_range((3.0, 0.01), "lr")
    for bad in (0.1, "0.1,1", (0.1,), (0.1, 0.2, 0.3)):
        with pytest.raises(ValueError, match=r"give \(lowest, highest\) learning rates"):
            learning_rate_range(bad, "lr")
