"""Quick mode: one switch that shrinks data and epochs so every chapter runs fast in CI.

Set ``LENET_QUICK=1`` in the environment (the test suite does this for you). People get the full
course by default. Every ``LENET_*`` on/off switch is read by :func:`env_flag`, which refuses values
it does not know instead of guessing.
"""

import os
from typing import TypeVar

T = TypeVar("T")

ENV_VAR = "LENET_QUICK"

#: Training / test images per data set in quick mode (class-balanced subsets).
QUICK_TRAIN_SIZE = 2000
QUICK_TEST_SIZE = 1000

TRUE_VALUES = ("1", "true", "yes", "on")
FALSE_VALUES = ("0", "false", "no", "off", "")


def env_flag(var: str) -> bool:
    """Read an on/off environment variable: 1/true/yes/on or 0/false/no/off (any case), empty or
    unset is off. Anything else raises ``ValueError`` naming the variable, its value and the
    accepted values."""
    value = os.environ.get(var, "")
    word = value.strip().lower()
    if word in TRUE_VALUES:
        return True
    if word in FALSE_VALUES:
        return False
    raise ValueError(f"{var}={value!r} is not an on/off value. Use one of {', '.join(TRUE_VALUES)} "
                     f"(on) or {', '.join(v for v in FALSE_VALUES if v)} (off), any case, or leave "
                     f"{var} unset (off).")


def is_quick() -> bool:
    """True when ``LENET_QUICK`` is on (see :func:`env_flag` for the accepted values)."""
    return env_flag(ENV_VAR)


def pick(full: T, quick: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise, e.g. ``num_epochs = pick(10, 1)``."""
    return quick if is_quick() else full


def mode_line() -> str:
    """One line that says which mode this process runs in."""
    if is_quick():
        return (f"Quick mode ({ENV_VAR}=1): {QUICK_TRAIN_SIZE:,} training / {QUICK_TEST_SIZE:,} test "
                f"images per data set and shortened runs. Unset {ENV_VAR} for the full course.")
    return f"Full mode: full data sets and the chapter's full training runs (set {ENV_VAR}=1 for a quick pass)."
