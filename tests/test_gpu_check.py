"""scripts/gpu_check.py: its refusal without CUDA, and its helpers on the CPU (the GPU run itself
happens on a CUDA machine)."""

import datetime as dt
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"

spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(spec)
sys.modules["gpu_check"] = gpu_check  # dataclasses look their module up there
spec.loader.exec_module(gpu_check)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_says_so_and_exits_2_before_doing_anything(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "fake-1.0-py3-none-any.whl").write_bytes(b"not a wheel")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--wheels", str(wheels), "--site", str(tmp_path / "site"),
                           "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert "No CUDA GPU: torch.cuda.is_available() is False" in proc.stderr
    assert "Nothing was run and no report was written" in proc.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / "site").exists()


def step(name, verbatim=False):
    return gpu_check.Step(name, [sys.executable, "-c", "pass"], verbatim=verbatim)


def test_run_step_captures_output_status_and_time():
    ok = gpu_check.run_step(gpu_check.Step("ok", [sys.executable, "-c", "print('hello'); import os; "
                                                  "print(os.environ['LENET_X'])"], {"LENET_X": "42"}),
                            dict(os.environ), timeout=60)
    assert (ok.status, ok.returncode) == ("passed", 0) and ok.output.split() == ["hello", "42"]
    assert 0 < ok.seconds < 60
    bad = gpu_check.run_step(gpu_check.Step("bad", [sys.executable, "-c", "import sys; sys.exit('boom')"]),
                             dict(os.environ), timeout=60)
    assert (bad.status, bad.returncode) == ("failed", 1) and "boom" in bad.output


def test_run_step_stops_a_step_at_its_timeout():
    slow = gpu_check.run_step(gpu_check.Step("slow", [sys.executable, "-c", "import time; print('start', "
                                                      "flush=True); time.sleep(30)"]), dict(os.environ), timeout=2)
    assert slow.status == "timed out" and slow.returncode is None
    assert "start" in slow.output and "[stopped after 2 s]" in slow.output
    assert slow.seconds < 20


def test_the_steps_cover_the_course():
    names = [s.name for s in gpu_check.all_steps(Path("/tmp/nb"), 100, 3)]
    chapters = sorted(p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert names == (["unit"] + [f"quick-{c}" for c in chapters] + ["full-04", "full-05", "full-06"]
                     + ["bench-train", "bench-sweep"])
    by_name = {s.name: s for s in gpu_check.all_steps(Path("/tmp/nb"), 100, 3)}
    assert by_name["unit"].env["LENET_QUICK"] == "1" and "--ignore-glob=tests/test_browser*" in by_name["unit"].command
    assert by_name["full-05"].env == {"LENET_QUICK": "0", "LENET_REQUIRE_FULL_DATA": "1"}
    assert by_name["bench-train"].verbatim and "cuda" in by_name["bench-sweep"].command


def test_the_benchmark_steps_run_scripts_that_import_and_parse_their_arguments():
    for step in gpu_check.all_steps(Path("/tmp/nb"), 100, 3):
        if step.name.startswith("bench"):
            script = ROOT / step.command[1]
            proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                  timeout=120, cwd=ROOT)
            assert proc.returncode == 0, proc.stderr  # e.g. an import of a module that is gone
            assert "--device" in proc.stdout


def test_select_steps_by_prefix_and_refuse_unknown_words():
    steps = [step("unit"), step("quick-00"), step("quick-01"), step("full-04"), step("bench-train")]
    assert [s.name for s in gpu_check.select_steps(steps, ["quick", "bench"])] == ["quick-00", "quick-01",
                                                                                   "bench-train"]
    assert gpu_check.select_steps(steps, None) == steps
    with pytest.raises(ValueError, match="--steps units matches no step.*unit, quick-00"):
        gpu_check.select_steps(steps, ["units"])


def test_base_env_puts_wheels_and_checkout_first_and_names_the_data(tmp_path):
    env = gpu_check.base_env(tmp_path / "site", tmp_path / "data")
    assert env["PYTHONPATH"].split(os.pathsep)[:2] == [str(tmp_path / "site"), str(ROOT)]
    assert env["LENET_DATA_DIR"] == str((tmp_path / "data").resolve()) and env["LENET_OFFLINE"] == "1"


def test_no_wheels_is_a_failed_step(tmp_path):
    result = gpu_check.install_wheels(tmp_path, tmp_path / "site")
    assert result.status == "failed" and "no .whl files" in result.output


def test_report_has_machine_steps_benchmark_output_and_failure_tails():
    started = dt.datetime(2026, 11, 23, 20, 5, tzinfo=dt.timezone.utc)
    long_failure = "\n".join(f"line {i}" for i in range(100))
    results = [gpu_check.StepResult(step("unit"), "passed", 12.34, 0, "....\n3 passed in 12.0s\n"),
               gpu_check.StepResult(step("full-05"), "failed", 99.0, 1, long_failure),
               gpu_check.StepResult(step("bench-train", verbatim=True), "passed", 60.0, 0,
                                    "loop  examples/s\ntextbook  50,000\nours  900,000\n")]
    text = gpu_check.render_report(results, [("GPU (torch)", "NVIDIA H100 80GB HBM3")], [step("bench-sweep")],
                                   started, ["20:05 UTC: python3 scripts/gpu_check.py"])
    assert text.startswith("# GPU check, 2026-11-23 (UTC)")
    assert "- `20:05 UTC: python3 scripts/gpu_check.py`" in text
    assert "- GPU (torch): NVIDIA H100 80GB HBM3" in text
    assert "| unit | passed | 12.3 | 3 passed in 12.0s |" in text
    assert "| bench-sweep | not run | | |" in text
    assert "**2 of 4 steps passed**; failed: full-05." in text
    assert "textbook  50,000\nours  900,000\n```" in text, "benchmark output verbatim"
    assert "line 99" in text and "line 60" in text and "line 59" not in text, "only a failure's tail"
    assert "## unit" not in text, "a passing test step keeps its output out of the report"


def test_report_path_names_the_utc_date(tmp_path):
    started = dt.datetime(2026, 11, 23, 20, 5, tzinfo=dt.timezone.utc)
    assert gpu_check.report_path(tmp_path, started) == tmp_path / "gpu_check_2026-11-23.md"


def test_state_round_trips_and_a_rerun_replaces_a_step(tmp_path):
    first = [gpu_check.StepResult(step("unit"), "failed", 1.0, 1, "boom"),
             gpu_check.StepResult(step("bench-train", verbatim=True), "passed", 2.0, 0, "fast")]
    gpu_check.save_state(tmp_path / "s.json", ["cmd 1"], first)
    commands, loaded = gpu_check.load_state(tmp_path / "s.json")
    assert commands == ["cmd 1"] and loaded == first
    again = [gpu_check.StepResult(step("unit"), "passed", 3.0, 0, "ok")]
    merged = gpu_check.merge(loaded, again, ["wheels", "unit", "bench-train"])
    assert [(r.step.name, r.status) for r in merged] == [("unit", "passed"), ("bench-train", "passed")]
    assert gpu_check.load_state(tmp_path / "missing.json") == ([], [])


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_execute_notebook_saves_outputs_even_when_a_cell_fails(tmp_path):
    write_notebook(tmp_path / "good.ipynb", "print(6 * 7)")
    assert gpu_check.execute_notebook(tmp_path / "good.ipynb", tmp_path / "out" / "good.ipynb", 60) == 0
    cell = nbformat.read(tmp_path / "out" / "good.ipynb", as_version=4).cells[0]
    assert cell.outputs[0]["text"] == "42\n"
    write_notebook(tmp_path / "bad.ipynb", "print('before')", "1 / 0", "print('never')")
    assert gpu_check.execute_notebook(tmp_path / "bad.ipynb", tmp_path / "out" / "bad.ipynb", 60) == 1
    cells = nbformat.read(tmp_path / "out" / "bad.ipynb", as_version=4).cells
    assert cells[0].outputs[0]["text"] == "before\n"
    assert cells[1].outputs[0]["ename"] == "ZeroDivisionError" and cells[2].outputs == []


def test_main_runs_the_steps_writes_the_report_after_each_and_fails_on_a_failed_step(tmp_path, monkeypatch):
    seen = []

    def fake_steps(notebook_dir, timeout, repeats):
        check_report = ("import pathlib, sys; p = list(pathlib.Path(sys.argv[1]).glob('*.md')); "
                        "print(p[0].read_text() if p else 'no report yet')")
        return [gpu_check.Step("first", [sys.executable, "-c", "print('one')"]),
                gpu_check.Step("second", [sys.executable, "-c", check_report, str(tmp_path)], verbatim=True),
                gpu_check.Step("third", [sys.executable, "-c", "raise SystemExit(3)"])]

    monkeypatch.setattr(gpu_check, "cuda_problem", lambda: None)
    monkeypatch.setattr(gpu_check, "all_steps", fake_steps)
    monkeypatch.setattr(gpu_check, "machine_facts", lambda env: seen.append(env) or [("GPU", "fake")])
    status = gpu_check.main(["--report-dir", str(tmp_path), "--data", str(tmp_path / "data")])
    assert status == 1, "a failed step makes the run fail"
    (report,) = tmp_path.glob("gpu_check_*.md")
    text = report.read_text()
    assert "| first | passed |" in text and "| third | failed |" in text
    assert "**2 of 3 steps passed**; failed: third." in text
    snapshot = text.split("## second: passed (output)", 1)[1]  # the report as the second step read it
    assert "| first | passed |" in snapshot and "| second | not run | | |" in snapshot, \
        "the report is written after each step"
    assert seen[0]["LENET_DATA_DIR"] == str((tmp_path / "data").resolve())

    # a later run of one step adds to the same report and replaces that step's result
    monkeypatch.setattr(gpu_check, "all_steps", lambda *a: fake_steps(*a)[:2] + [
        gpu_check.Step("third", [sys.executable, "-c", "print('fixed')"])])
    assert gpu_check.main(["--report-dir", str(tmp_path), "--steps", "third"]) == 0
    text = report.read_text()
    assert "| first | passed |" in text and "| third | passed |" in text and "**3 of 3 steps passed**." in text
    assert text.split("## Machine")[0].count("scripts/gpu_check.py --report-dir") == 2, "both commands listed"
