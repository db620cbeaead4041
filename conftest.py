"""Test-wide settings.

* The suite (unit tests and notebooks) runs in quick mode unless told otherwise: run
  ``LENET_QUICK=0 pytest`` to execute the chapters in full mode.
* Nothing may download during the tests (``LENET_OFFLINE=1``).
* Stored experiment results go to a fresh temporary folder (``LENET_RESULTS_DIR``), so every
  chapter trains for real under the tests instead of loading what an earlier run left in ``data/``.
* Tests marked ``@pytest.mark.gpu`` run only where PyTorch sees a CUDA GPU (the marker, not a
  test or folder merely named "gpu").
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


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
