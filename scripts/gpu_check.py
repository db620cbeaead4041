"""Run the course on a CUDA machine and write one markdown report: one command, no network.

    python3 scripts/gpu_check.py --wheels .whl --data gpu-data --report-dir reports

Steps, each a subprocess with its output captured and timed:

* ``unit``: the unit tests (``tests/``, browser tests left out; ``@pytest.mark.gpu`` tests run here);
* ``quick-NN``: every chapter under nbval in quick mode (``LENET_QUICK=1``);
* ``full-04`` ... ``full-06``: chapters 4-6 executed in full mode with nbclient, the executed
  notebooks written next to the report (``<report>/notebooks/``);
* ``bench-train`` (d2l's loop against ``train_ch6``) and ``bench-sweep`` (chapter 5's learning-rate
  sweep, timed): both benchmarks on ``cuda``, their output kept verbatim.

``--steps unit quick`` runs the steps whose names start with those words, so a machine that allows
only a few minutes per command can run the groups one at a time: the results are kept in
``gpu_check_<date>.json`` beside the report, and a later run on the same day with the same report
folder adds its steps to the same report (a step run again replaces its earlier result). The report
is rewritten after each step, so a run cut short still leaves what it did. Without CUDA the script says so and exits
with status 2 before doing anything; it exits with 1 when a step failed.
"""

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA_STATUS = 2
FULL_CHAPTERS = ("04", "05", "06")
TAIL_LINES = 40


@dataclass
class Step:
    """One thing to run: a command, the extra environment it needs and how to report its output."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    verbatim: bool = False  # put the whole output in the report (benchmarks), not just its tail


@dataclass
class StepResult:
    """What happened when a step ran."""

    step: Step
    status: str  # 'passed', 'failed' or 'timed out'
    seconds: float
    returncode: int | None
    output: str


# ---------------------------------------------------------------- the CUDA check


def cuda_problem() -> str | None:
    """None when torch sees a CUDA GPU, else a message that says what is missing and what to do."""
    try:
        import torch
    except ImportError as err:
        return f"PyTorch cannot be imported ({err}). This check needs the CUDA machine's own torch."
    if torch.cuda.is_available():
        return None
    build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return (f"No CUDA GPU: torch.cuda.is_available() is False (torch {torch.__version__}, {build}). "
            f"This script proves the course on a CUDA GPU; run it on a machine where "
            f"`python3 -c 'import torch; print(torch.cuda.is_available())'` prints True. "
            f"Nothing was run and no report was written.")


# ---------------------------------------------------------------- the environment


def install_wheels(wheels: Path, site: Path) -> StepResult:
    """Install every wheel of ``wheels`` into ``site`` (no index, no dependencies), as a step."""
    files = sorted(str(p) for p in wheels.glob("*.whl"))
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--no-cache-dir", "--upgrade", "--target", str(site), *files]
    if not files:
        return StepResult(Step("wheels", command), "failed", 0.0, None, f"no .whl files in {wheels}")
    return run_step(Step("wheels", command), os.environ.copy(), timeout=600)


def base_env(site: Path | None, data: Path | None) -> dict[str, str]:
    """The environment every step runs in: the wheels and this checkout on PYTHONPATH, the data
    folder, no network."""
    env = os.environ.copy()
    paths = ([str(site)] if site else []) + [str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["LENET_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if data:
        env["LENET_DATA_DIR"] = str(data.resolve())
    return env


# ---------------------------------------------------------------- the steps


def chapters() -> list[Path]:
    """The chapter notebooks, in order."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def all_steps(notebook_dir: Path, timeout: int, bench_repeats: int) -> list[Step]:
    """Every step of a full check, in the order they run."""
    py = sys.executable
    quick = {"LENET_QUICK": "1"}
    full = {"LENET_QUICK": "0", "LENET_REQUIRE_FULL_DATA": "1"}
    steps = [Step("unit", [py, "-m", "pytest", "-q", "-rfEs", "--tb=short", "-p", "no:cacheprovider", "tests",
                           "--ignore-glob=tests/test_browser*"], quick, verbatim=True)]  # skip reasons too
    steps += [Step(f"quick-{nb.name[:2]}", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                             str(nb.relative_to(ROOT))], quick) for nb in chapters()]
    steps += [Step(f"full-{nb.name[:2]}", [py, str(Path(__file__).resolve()), "--execute", str(nb),
                                            str(notebook_dir / nb.name), "--timeout", str(timeout)], full)
              for nb in chapters() if nb.name[:2] in FULL_CHAPTERS]
    steps += [Step("bench-train", [py, "benchmarks/bench_train.py", "--device", "cuda",
                                   "--repeats", str(bench_repeats)], full, verbatim=True),
              Step("bench-sweep", [py, "benchmarks/bench_sweep.py", "--device", "cuda"], full, verbatim=True)]
    return steps


def select_steps(steps: list[Step], prefixes: list[str] | None) -> list[Step]:
    """The steps whose names start with one of ``prefixes`` (all when None); unknown words fail."""
    if not prefixes:
        return steps
    unknown = [p for p in prefixes if not any(s.name.startswith(p) for s in steps)]
    if unknown:
        names = ", ".join(s.name for s in steps)
        raise ValueError(f"--steps {' '.join(unknown)} matches no step. The steps are: {names}.")
    return [s for s in steps if any(s.name.startswith(p) for p in prefixes)]


def run_step(step: Step, env: dict[str, str], timeout: float) -> StepResult:
    """Run ``step`` from the repository root with its output (stdout and stderr) captured."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(step.command, cwd=ROOT, env={**env, **step.env}, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        output = "".join(o.decode(errors="replace") if isinstance(o, bytes) else o
                         for o in (err.stdout, err.stderr) if o)
        return StepResult(step, "timed out", time.perf_counter() - start, None,
                          output + f"\n[stopped after {timeout:.0f} s]")
    status = "passed" if proc.returncode == 0 else "failed"
    return StepResult(step, status, time.perf_counter() - start, proc.returncode, proc.stdout + proc.stderr)


def execute_notebook(src: Path, dst: Path, timeout: int) -> int:
    """Execute ``src`` with nbclient in its own folder and write it, outputs and all, to ``dst``
    (also when a cell fails, so the error is in the saved notebook). Returns 0 or 1."""
    import nbclient
    import nbformat

    nb = nbformat.read(src, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(src.parent)}})
    failed = None
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        failed = err
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    print(f"wrote {dst}")
    if failed:
        print(failed)
        return 1
    return 0


# ---------------------------------------------------------------- the report


def capture(command: list[str]) -> str:
    """The stripped output of a quick command, or why there is none."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        return f"({command[0]} unavailable: {err})"


PROBE = """
import platform
def fact(label, get):
    try:
        print(label + "|" + str(get()))
    except Exception as err:
        print(label + "|unavailable (" + type(err).__name__ + ": " + str(err)[:100] + ")")
fact("Hardware", lambda: __import__("lenet_utils.device").device.hardware_summary())
fact("GPU (torch)", lambda: __import__("torch").cuda.get_device_name(0))
fact("Python", platform.python_version)
fact("torch", lambda: "{0.__version__}, CUDA {0.version.cuda}, cuDNN {1}".format(
    __import__("torch"), __import__("torch").backends.cudnn.version()))
for module in ("torchvision", "nbclient", "nbval", "ipykernel"):
    fact(module, lambda: __import__(module).__version__)
"""


def machine_facts(env: dict[str, str]) -> list[tuple[str, str]]:
    """Hardware and versions, as (label, value) pairs, read in the steps' environment."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    facts = [tuple(line.split("|", 1)) for line in out.stdout.splitlines() if "|" in line]
    if out.returncode:
        facts.append(("Probe", f"failed: {tail(out.stderr, 3)}"))
    smi = capture(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    return [("GPU (nvidia-smi)", smi), *facts,
            ("Commit", capture(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"]))]


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def shorten(text: str, width: int = 300) -> str:
    """``text`` cut to ``width`` characters (a pip command names every wheel)."""
    return text if len(text) <= width else text[:width - 5] + " ..."


def summary_line(result: StepResult) -> str:
    """The last non-empty output line (pytest's 'N passed in ...'), shortened."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    return (lines[-1] if lines else "").replace("|", "\\|")[:120]


def render_report(results: list[StepResult], facts: list[tuple[str, str]], pending: list[Step],
                  started: dt.datetime, commands: list[str]) -> str:
    """The markdown report: machine, one table row per step, benchmark output and failures in full."""
    lines = [f"# GPU check, {started:%Y-%m-%d} (UTC)", "", "Commands:", ""]
    lines += [f"- `{command}`" for command in commands]
    lines += ["", "## Machine (last run)", ""]
    lines += [f"- {label}: {value}" for label, value in facts]
    lines += ["", "## Steps", "", "| step | status | wall s | last line |", "|---|---|---:|---|"]
    lines += [f"| {r.step.name} | {r.status} | {r.seconds:.1f} | {summary_line(r)} |" for r in results]
    lines += [f"| {s.name} | not run | | |" for s in pending]
    failed = [r for r in results if r.status != "passed"]
    lines += ["", f"**{len(results) - len(failed)} of {len(results) + len(pending)} steps passed**"
              + (f"; failed: {', '.join(r.step.name for r in failed)}" if failed else "") + "."]
    for r in results:
        if r.step.verbatim or r.status != "passed":
            what = "output" if r.step.verbatim else f"last {TAIL_LINES} lines"
            text = r.output.rstrip() if r.step.verbatim else tail(r.output)
            lines += ["", f"## {r.step.name}: {r.status} ({what})", "",
                      f"`{shorten(shlex.join(r.step.command))}`", "", "```", text, "```"]
    return "\n".join(lines) + "\n"


def report_path(report_dir: Path, started: dt.datetime) -> Path:
    """``<report_dir>/gpu_check_<UTC date>.md``."""
    return report_dir / f"gpu_check_{started:%Y-%m-%d}.md"


def load_state(path: Path) -> tuple[list[str], list[StepResult]]:
    """The commands and step results of earlier runs on the same day (saved beside the report)."""
    if not path.is_file():
        return [], []
    state = json.loads(path.read_text())
    results = [StepResult(**{**r, "step": Step(**r["step"])}) for r in state["results"]]
    return state["commands"], results


def save_state(path: Path, commands: list[str], results: list[StepResult]) -> None:
    """Save what :func:`load_state` reads, so that a later run (other steps) adds to the same report."""
    path.write_text(json.dumps({"commands": commands, "results": [asdict(r) for r in results]}, indent=1))


def merge(earlier: list[StepResult], latest: list[StepResult], order: list[str]) -> list[StepResult]:
    """Earlier results with the latest run's replacing those of the same step, in ``order``."""
    by_name = {r.step.name: r for r in earlier + latest}
    return sorted(by_name.values(), key=lambda r: order.index(r.step.name) if r.step.name in order else -1)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_wheels = ROOT / ".whl"
    default_data = ROOT / "gpu-data"
    parser.add_argument("--wheels", type=Path, default=default_wheels if default_wheels.is_dir() else None,
                        help="folder of wheels to install first (default: .whl if present)")
    parser.add_argument("--site", type=Path, default=Path("/tmp/lenet-gpu-site"),
                        help="where the wheels are installed (put on PYTHONPATH)")
    parser.add_argument("--data", type=Path, default=default_data if default_data.is_dir() else None,
                        help="full data sets, torchvision layout (default: gpu-data if present)")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "reports")
    parser.add_argument("--steps", nargs="+", default=None, metavar="PREFIX",
                        help="run only steps whose names start with these (unit quick full bench ...)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per step")
    parser.add_argument("--bench-repeats", type=int, default=3, help="bench_train.py --repeats")
    parser.add_argument("--execute", nargs=2, type=Path, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = cuda_problem()
    if problem:
        print(problem, file=sys.stderr)
        return NO_CUDA_STATUS
    if args.execute:
        return execute_notebook(*args.execute, timeout=args.timeout)
    started = dt.datetime.now(dt.timezone.utc)
    report = report_path(args.report_dir, started)
    every = all_steps(report.with_suffix("") / "notebooks", args.timeout, args.bench_repeats)
    steps = select_steps(every, args.steps)
    commands, earlier = load_state(report.with_suffix(".json"))
    commands.append(f"{started:%H:%M} UTC: " + shlex.join(
        ["python3", "scripts/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]))
    latest = [install_wheels(args.wheels, args.site)] if args.wheels else []
    env = base_env(args.site if args.wheels else None, args.data)
    facts = machine_facts(env) + [("Data", env.get("LENET_DATA_DIR", "(none given: bundled sample)"))]
    report.parent.mkdir(parents=True, exist_ok=True)
    order = ["wheels"] + [s.name for s in every]
    for step in steps:
        print(f"[{step.name}] {shlex.join(step.command)}", flush=True)
        latest.append(run_step(step, env, args.timeout))
        print(f"[{step.name}] {latest[-1].status} in {latest[-1].seconds:.1f} s", flush=True)
        results = merge(earlier, latest, order)
        done = {r.step.name for r in results}
        report.write_text(render_report(results, facts, [s for s in every if s.name not in done], started, commands))
        save_state(report.with_suffix(".json"), commands, results)
    print(f"Report: {report}")
    return 0 if all(r.status == "passed" for r in latest) else 1

if __name__ == "__main__":
    sys.exit(main())
