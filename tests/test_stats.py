import math
import statistics

import pytest

from lenet_utils.stats import t_interval, t_quantile, verdict


def test_t_interval_is_mean_plus_minus_t_times_standard_error():
    low, high = t_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 4.303 / math.sqrt(3), 2 + 4.303 / math.sqrt(3)))
    assert t_interval([0.5]) is None
    low, high = t_interval([0.0, 1.0] * 10)  # 19 degrees of freedom: t = 2.093
    half = 2.093 * statistics.stdev([0.0, 1.0] * 10) / math.sqrt(20)
    assert high - 0.5 == pytest.approx(half, rel=1e-3)


def test_t_quantile_shrinks_towards_the_normal_and_rejects_zero_degrees():
    assert t_quantile(1) > t_quantile(2) > t_quantile(30) > 1.96
    with pytest.raises(ValueError, match="two values"):
        t_quantile(0)


def test_verdict_says_likely_only_when_the_interval_excludes_zero():
    assert verdict(*t_interval([0.004, 0.006, 0.005])) == "likely"
    assert verdict(*t_interval([-0.004, -0.006, -0.005])) == "likely"
    assert verdict(*t_interval([0.01, -0.002, 0.004])) == "not shown"
    assert verdict(None, None) == "not shown"
    assert verdict(math.nan, 1.0) == "not shown"
