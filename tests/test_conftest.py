"""The suite's own settings (conftest.py): tests marked ``gpu`` skip without CUDA, and only those;
tests marked ``full_data`` skip with the reason where the full data is not found."""

import shutil
from pathlib import Path

import pytest
import torch

from lenet_utils.sources import SAMPLE_DIR

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
TESTS = """
import pytest

@pytest.mark.gpu
def test_marked():
    pass

@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_named_gpu_but_not_marked(device):
    pass
"""


@pytest.fixture
def suite(pytester):
    """A small test session that uses this project's conftest.py."""
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini('[pytest]\nmarkers =\n    gpu: needs a CUDA GPU\n')
    pytester.makepyfile(TESTS)
    return pytester


def test_gpu_marked_tests_skip_without_cuda_and_nothing_else_does(suite, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    passed, skipped, failed = suite.inline_run("-p", "no:cacheprovider").listoutcomes()
    assert not failed
    assert [r.head_line for r in skipped] == ["test_marked"]
    assert "needs a CUDA GPU" in skipped[0].longrepr[2]
    assert sorted(r.head_line for r in passed) == ["test_named_gpu_but_not_marked[cpu]",
                                                   "test_named_gpu_but_not_marked[gpu]"]


def test_gpu_marked_tests_run_with_cuda(suite, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


FULL_DATA_TESTS = """
import pytest

@pytest.mark.full_data
def test_needs_the_full_data():
    pass

def test_runs_anywhere():
    pass
"""


@pytest.fixture
def data_suite(pytester, monkeypatch):
    """A small session with one test marked full_data, and no full data in sight (no LENET_DATA_DIR;
    ``lenet_utils``'s own data/ folder is not there in a fresh clone)."""
    from lenet_utils.sources import default_data_dir

    if (default_data_dir() / "MNIST").exists():
        pytest.skip(f"this checkout has a data folder with MNIST ({default_data_dir()})")
    monkeypatch.delenv("LENET_DATA_DIR", raising=False)
    monkeypatch.delenv("LENET_REQUIRE_FULL_DATA", raising=False)
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini('[pytest]\nmarkers =\n    full_data: needs the full data\n    gpu: needs a CUDA GPU\n')
    pytester.makepyfile(FULL_DATA_TESTS)
    return pytester


def test_full_data_tests_skip_with_the_reason_where_the_full_data_is_missing(data_suite):
    passed, skipped, failed = data_suite.inline_run("-p", "no:cacheprovider").listoutcomes()
    assert not failed and [r.head_line for r in passed] == ["test_runs_anywhere"]
    assert [r.head_line for r in skipped] == ["test_needs_the_full_data"]
    assert "needs the full mnist (set LENET_DATA_DIR" in skipped[0].longrepr[2]


def test_full_data_tests_run_where_it_is_required_or_found(data_suite, monkeypatch, tmp_path):
    monkeypatch.setenv("LENET_REQUIRE_FULL_DATA", "1")  # CI's second step: run (and fail), never skip
    data_suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    monkeypatch.delenv("LENET_REQUIRE_FULL_DATA")
    full = tmp_path / "full"  # two data sets in torchvision's layout: the bundled sample's files will do
    for folder in ("MNIST", "FashionMNIST"):
        shutil.copytree(SAMPLE_DIR / folder, full / folder)
    monkeypatch.setenv("LENET_DATA_DIR", str(full))
    data_suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
