"""The suite's own settings (conftest.py): tests marked ``gpu`` skip without CUDA, and only those."""

from pathlib import Path

import pytest
import torch

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
