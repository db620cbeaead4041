"""Test-wide settings.

* The suite (unit tests and notebooks) runs in quick mode unless told otherwise: run
  ``LENET_QUICK=0 pytest`` to execute the chapters in full mode.
* Nothing may download during the tests (``LENET_OFFLINE=1``).
* Stored experiment results go to a fresh temporary folder (``LENET_RESULTS_DIR``), so every
  chapter trains for real under the tests instead of loading what an earlier run left in ``data/``.
* Tests marked ``@pytest.mark.gpu`` run only where PyTorch sees a CUDA GPU (the marker, not a
  test or folder merely named "gpu").
* Tests marked ``@pytest.mark.full_data`` run only where the full MNIST and Fashion-MNIST are found
  (``LENET_DATA_DIR`` or ``data/``, as ``lenet_utils.sources`` looks); elsewhere they are skipped
  with the reason (with ``LENET_REQUIRE_FULL_DATA=1``, as in CI, they run and fail). ``browser``
  marks every test that drives Chromium; ``slow`` the tests of a minute or more, every notebook
  executed by nbval included. The fast loop: ``pytest -m "not browser and not slow"``.
* Browser tests write screenshots to the git-ignored ``test-artifacts/`` only; no test writes
  into tracked files (``.ci/run`` checks that after ``pytest``).
"""

import os
import tempfile

import pytest
import torch

os.environ.setdefault("LENET_QUICK", "1")
os.environ.setdefault("LENET_OFFLINE", "1")
os.environ["LENET_RESULTS_DIR"] = tempfile.mkdtemp(prefix="lenet-results-")

pytest_plugins = ["pytester"]  # tests/test_conftest.py runs small sessions with this file


def full_data_missing() -> str | None:
    """Why the full MNIST and Fashion-MNIST are not both found (None when they are)."""
    from lenet_utils.sources import DataNotFoundError, find_data  # after the settings above

    for name in ("mnist", "fashion-mnist"):
        try:
            source = find_data(name, allow_download=False)
        except DataNotFoundError as err:
            return f"needs the full data: {err}"
        if source.kind != "full":
            return (f"needs the full {name} (set LENET_DATA_DIR to the folder that holds it); found "
                    f"only the bundled sample: {'; '.join(source.why)}")
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":  # nbval executes a whole chapter
            item.add_marker(pytest.mark.slow)
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)
    needs_data = [item for item in items if item.get_closest_marker("full_data")]
    why = full_data_missing() if needs_data else None
    from lenet_utils.quick_mode import env_flag
    from lenet_utils.sources import STRICT_ENV

    if why and not env_flag(STRICT_ENV):  # LENET_REQUIRE_FULL_DATA=1 (CI's second step): fail, never skip
        for item in needs_data:
            item.add_marker(pytest.mark.skip(reason=why))
