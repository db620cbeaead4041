"""Quick mode: one switch that shrinks data and epochs so every chapter runs fast in CI.

Set ``LENET_QUICK=1`` in the environment (the test suite does this for you). People get the full
course by default.
"""

import os

ENV_VAR = "LENET_QUICK"

#: Training / test images per data set in quick mode (class-balanced subsets).
QUICK_TRAIN_SIZE = 2000
QUICK_TEST_SIZE = 1000


def is_quick() -> bool:
    """True when ``LENET_QUICK`` is set to 1/true/yes/on."""
    return os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full, quick):
    """Return ``quick`` in quick mode and ``full`` otherwise, e.g. ``num_epochs = pick(10, 1)``."""
    return quick if is_quick() else full


def mode_line() -> str:
    """One line that says which mode this process runs in."""
    if is_quick():
        return (f"Quick mode ({ENV_VAR}=1): {QUICK_TRAIN_SIZE:,} training / {QUICK_TEST_SIZE:,} test "
                f"images per data set and shortened runs. Unset {ENV_VAR} for the full course.")
    return f"Full mode: full data sets and the chapter's full training runs (set {ENV_VAR}=1 for a quick pass)."
