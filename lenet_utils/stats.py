"""Is a difference a result? The 95% interval of a mean difference, paired by seed.

A course claim such as "batch norm raises the test accuracy" rests on runs that share seeds: the
difference seed by seed, its mean, and Student's t interval around that mean. The difference is a
result only when the interval excludes zero.

    >>> low, high = t_interval([0.004, 0.006, 0.005])  # three seeds' differences
    >>> verdict(low, high)
    'likely'
"""

import math
import statistics
from collections.abc import Sequence

__all__ = ["T_975", "t_quantile", "t_interval", "verdict"]

#: 97.5% quantiles of Student's t for 1 to 10 degrees of freedom (two-sided 95% intervals).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228}


def t_quantile(df: int) -> float:
    """Student's t 97.5% quantile for ``df`` degrees of freedom (``t_quantile(2)`` is 4.303)."""
    if df < 1:
        raise ValueError(f"df={df}: a t interval needs at least one degree of freedom (two values).")
    if df in T_975:
        return T_975[df]
    # Cornish-Fisher expansion around the normal quantile: within 0.003 from 11 on
    z = statistics.NormalDist().inv_cdf(0.975)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def t_interval(diffs: Sequence[float]) -> tuple[float, float] | None:
    """The 95% t-interval of the mean of ``diffs`` (None for fewer than two).

    ``t_interval([1.0, 2.0, 3.0])`` is about ``(-0.48, 4.48)``.
    """
    n = len(diffs)
    if n < 2:
        return None
    half = t_quantile(n - 1) * statistics.stdev(diffs) / math.sqrt(n)
    mean = statistics.fmean(diffs)
    return mean - half, mean + half


def verdict(low: float | None, high: float | None) -> str:
    """'likely' when the interval ``[low, high]`` excludes zero, 'not shown' when it touches zero or
    there is none (fewer than two seeds)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "not shown"
    return "likely" if low > 0 or high < 0 else "not shown"
