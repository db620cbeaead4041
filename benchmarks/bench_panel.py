"""How fast the slider panel answers a move, and what the answer is (not a test: timings vary).

    LENET_DATA_DIR=/path/to/datasets python benchmarks/bench_panel.py [--repeat 3]

For the panel's default setting and for moves away from it (to sigmoid, also at d2l's lr 0.9, to
lr 10 and 0.001, to Adam, and to Adam with lr 0.001), prints the seconds from the move to the finished run (debounce
included, as a person waits) and the run's final test accuracy on the panel's held-out images, with
the targets of issue 12 and whether each is met (judged on the median of the repeats), then what one
frame of the curves costs: the whole figure against a live frame (only the running run's lines
redrawn). Run it in full mode (LENET_QUICK unset) on the full data set; it refuses quick mode and the
bundled sample.
"""

import argparse
import os
import statistics
import sys
import time

import torch

from lenet_utils.device import hardware_summary
from lenet_utils.quick_mode import is_quick
from lenet_utils.plot import LivePicture, draw_runs
from lenet_utils.widgets.panel import DEFAULTS, TrainingPanel, run_curves

SECONDS_TARGET = 3.0
ACCURACY_TARGET = 0.60
MOVES = [("default setting", {}), ("move to sigmoid", {"activation": "sigmoid"}),
         ("sigmoid at d2l's lr 0.9", {"activation": "sigmoid", "lr": 0.9}),
         ("move to lr 10", {"lr": 10.0}), ("move to lr 0.001", {"lr": 0.001}),
         ("move to Adam", {"optimizer": "adam"}),
         ("move to Adam, lr 0.001", {"optimizer": "adam", "lr": 0.001})]


def time_move(panel: TrainingPanel, change: dict) -> tuple[float, float, str]:
    """Seconds from the move to the finished run, its test accuracy and status."""
    start = time.perf_counter()
    panel.set(**{**DEFAULTS, **change})
    panel.wait()
    seconds = time.perf_counter() - start
    run = panel.runs[-1]
    return seconds, run.test_acc, run.history.status


def frame_costs(panel: TrainingPanel, repeat: int = 10) -> tuple[float, float]:
    """Median milliseconds of a whole-figure draw and of a live frame, for the runs now shown."""
    runs = run_curves(panel.runs[-5:])
    current = runs[-1]
    live = LivePicture(runs, panel.runs[-1].examples)
    frame = lambda: live.png(current.loss, current.acc)  # noqa: E731
    frame()  # the first frame draws the background
    costs = []
    for draw in (lambda: draw_runs(runs), frame):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            draw()
            times.append(time.perf_counter() - start)
        costs.append(statistics.median(times) * 1000)
    return costs[0], costs[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting (median judged)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of the panel's runs (the panel's default 1; 0: PyTorch's own)")
    args = parser.parse_args(argv)
    if is_quick():
        sys.exit("bench_panel measures full mode: unset LENET_QUICK (or set LENET_QUICK=0).")
    os.environ.setdefault("LENET_REQUIRE_FULL_DATA", "1")  # never time the bundled sample
    panel = TrainingPanel("fashion-mnist", start=False, threads=args.threads or None)
    print(hardware_summary(panel.device))
    print(f"torch threads: notebook {torch.get_num_threads()}, panel runs {panel.threads or 'the same'}; "
          f"load average {os.getloadavg()[0]:.1f} (other work on the CPU slows every figure)")
    print(f"defaults: {DEFAULTS}")
    all_met = True
    for name, change in MOVES:
        measured = [time_move(panel, change) for _ in range(args.repeat)]
        seconds = statistics.median(s for s, _, _ in measured)
        acc = statistics.median(a for _, a, _ in measured)
        status = measured[-1][2]
        ok_time = seconds <= SECONDS_TARGET
        line = (f"{name:24s} {seconds:5.2f} s (runs: {', '.join(f'{s:.2f}' for s, _, _ in measured)}) "
                f"target <= {SECONDS_TARGET:g} s: {'met' if ok_time else 'NOT met'}; "
                f"test acc {acc:.3f} ({status})")
        all_met &= ok_time
        if name == "default setting":
            ok_acc = acc >= ACCURACY_TARGET
            all_met &= ok_acc
            line += f", target >= {ACCURACY_TARGET:.2f}: {'met' if ok_acc else 'NOT met'}"
        print(line, flush=True)
    whole, frame = frame_costs(panel)
    print(f"one frame of the curves: whole figure {whole:.0f} ms, live frame {frame:.0f} ms "
          f"({whole / frame:.0f}x cheaper)")
    panel.close()
    print("all targets met" if all_met else "some targets NOT met")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
