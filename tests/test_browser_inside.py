"""The "see inside" widgets as a person uses them: JupyterLab in headless Chromium (Playwright).

A small notebook (written to a temp folder) shows the convolution stepper, the C3 and the pooling
steppers and the watch-it-learn widget. The test moves the convolution stepper with the keyboard,
its play and pause buttons (pause keeps the position and the map built so far), its "whole rows"
speed and clicks on its input and output maps, and checks that the sum the page shows is the
kernel's arithmetic at the position the page shows; a click on the C3 stepper's output map and on
the pooling stepper's input map moves their windows there. Then it presses Step, Resume, Pause and,
once finished, Restart on the watch widget and checks the batch counter the page shows.

Skipped with a clear reason where Debian's Chromium or Playwright is missing, except when
LENET_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

import json
import re
import time
from pathlib import Path

import pytest
import torch

from lab import (artifact, chromium, lab_server, new_page, open_notebook, require_browser, run_all,
                 shutdown_kernel)
from lenet_utils.lenet import LeNet5
from lenet_utils.weights import load_lenet5, prepare
from lenet_utils.widgets.stepper import conv_step, sample_digit

pytestmark = pytest.mark.browser  # drives Chromium: pytest -m "not browser" leaves it out

START = (14, 6)  # row 14, col 6: the window lies on the digit's strokes
STEP = 4  # batches per click on Step
CELLS = [
    "from lenet_utils.data import SAMPLE_DIR, load_data\n"
    "from lenet_utils.widgets.stepper import ConvStepper\n"
    "from lenet_utils.widgets.watch import WatchItLearn",
    f"ConvStepper(row={START[0]}, col={START[1]}, interval_ms=200)",
    "from lenet_utils.widgets.stepper import C3Stepper, PoolStepper\n"
    "C3Stepper(out_map=6, row=4, col=4)",
    "PoolStepper(row=7, col=7)",
    "data = load_data('fashion-mnist', 16, root=SAMPLE_DIR, train_size=480, test_size=64, device='cpu',\n"
    "                 verbose=False)\n"
    f"watch = WatchItLearn(data, num_epochs=2, redraw_every=4, step_batches={STEP}, start=False)\n"
    "watch.pause()\nwatch.start()\nwatch.show()",
]
TOTAL = 2 * 480 // 16
SHOWN = re.compile(r"position \(row (\d+), col (\d+)\): sum of the 25 products = (-?\d+\.\d+)")
COUNTER = re.compile(r"batch (\d+) of (\d+).*\((\w+)")  # "(paused)", "(paused after a step of 4 ...)"


def _notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
             for src in CELLS]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}))


def _text(page, css: str) -> str:
    return page.locator(css).last.inner_text()


def _wait_text(page, css: str, pattern: str, timeout_s: float = 60) -> str:
    """Wait until the last element matching ``css`` has text matching ``pattern``; return it."""
    page.wait_for_function(
        "([css, pattern]) => { const e = [...document.querySelectorAll(css)].pop();"
        " return !!e && new RegExp(pattern).test(e.innerText); }",
        arg=[css, pattern], timeout=timeout_s * 1000)
    return _text(page, css)


def _check_sum(text: str, net: LeNet5, x: torch.Tensor) -> tuple[int, int]:
    """The shown sum equals conv_step's at the shown position; return that position."""
    row, col, shown = SHOWN.search(text).groups()
    row, col = int(row), int(col)
    expected = conv_step(x, net.c1.weight[0, 0].detach(), float(net.c1.bias[0]), row, col).total
    assert float(shown) == pytest.approx(expected, abs=6e-5), text
    return row, col


def _counter(page) -> tuple[int, int, str]:
    done, total, state = COUNTER.search(_text(page, ".lenet-watch-status")).groups()
    return int(done), int(total), state


def test_stepper_and_watch_widgets_in_jupyterlab(tmp_path):
    require_browser()
    net = load_lenet5().requires_grad_(False)  # the shipped weights, as the widget's default
    x = prepare(sample_digit()[0])[0]
    _notebook(tmp_path / "inside.ipynb")
    with lab_server(tmp_path, env={"LENET_QUICK": "1", "LENET_OFFLINE": "1"}) as url, chromium() as browser:
        page = new_page(browser)
        open_notebook(page, url, "inside.ipynb")
        state = run_all(page, timeout_s=180)
        assert not state["errors"], state["errors"]
        assert page.locator(".jp-RenderedImage").count() == 0, \
            "JupyterLab must show the live widgets only, not their saved pictures as well"

        # The stepper: the slider's handle, moved with the keyboard.
        sums = ".lenet-conv-stepper"
        first = _wait_text(page, sums, "sum of the 25 products")
        assert _check_sum(first, net, x) == START
        handle = page.locator(".lenet-conv-stepper .lenet-stepper-col .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.click()
        for _ in range(3):
            handle.press("ArrowRight")
        moved = _wait_text(page, sums, rf"row 14, col {START[1] + 3}\)")
        assert _check_sum(moved, net, x) == (14, START[1] + 3)
        assert SHOWN.search(moved).group(3) != SHOWN.search(first).group(3), "the sum did not change"

        # ... with its play button, which turns into pause while it plays; pause keeps the place.
        play = page.locator(".lenet-conv-stepper .lenet-stepper-play").first
        assert play.inner_text().strip() == "play" and play.get_attribute("title")
        play.click()
        page.locator(".lenet-conv-stepper .lenet-stepper-play", has_text="pause").wait_for(timeout=10_000)
        time.sleep(1.5)
        play.click()
        page.locator(".lenet-conv-stepper .lenet-stepper-play", has_text="play").wait_for(timeout=10_000)
        time.sleep(1)  # the last ticks reach the kernel
        played = _text(page, sums)
        row, col = _check_sum(played, net, x)
        assert (row, col) > (14, START[1] + 3), f"Play did not move the window: {played}"
        time.sleep(1)
        assert _check_sum(_text(page, sums), net, x) == (row, col), "pause did not hold the window"
        page.locator(".lenet-conv-stepper").first.screenshot(path=str(artifact("stepper_paused.png")))

        # A click on the output map moves the window there; on the input, centres it on the click.
        output = page.locator(".lenet-conv-stepper canvas.lenet-stepper-output, "
                              ".lenet-conv-stepper .lenet-stepper-output canvas").first
        output.click(position={"x": 5 * 8 + 4, "y": 20 * 8 + 4})
        _wait_text(page, sums, r"row 20, col 5\)")
        inp = page.locator(".lenet-conv-stepper canvas.lenet-stepper-input, "
                           ".lenet-conv-stepper .lenet-stepper-input canvas").first
        inp.click(position={"x": 12 * 8 + 4, "y": 9 * 8 + 4})
        assert _check_sum(_wait_text(page, sums, r"row 7, col 10\)"), net, x) == (7, 10)

        # "whole rows": a row a step, the window at each row's end, the map filled to its end.
        page.locator(".lenet-conv-stepper .lenet-stepper-speed button", has_text="whole rows").click()
        started = time.time()
        play.click()
        _wait_text(page, sums, r"row 27, col 27\)", timeout_s=60)
        page.locator(".lenet-conv-stepper .lenet-stepper-play", has_text="play").wait_for(timeout=10_000)
        walked = time.time() - started
        artifact("stepper_whole_rows.json").write_text(json.dumps({"rows": 20, "seconds": round(walked, 1)}))
        assert walked < 20, f"20 rows took {walked:.1f} s at the fastest speed"
        page.locator(".lenet-conv-stepper").first.screenshot(path=str(artifact("stepper.png")))

        # The C3 stepper's output map and the pooling stepper's input map move their windows.
        c3 = page.locator(".lenet-c3-stepper canvas.lenet-stepper-output, "
                          ".lenet-c3-stepper .lenet-stepper-output canvas").first
        c3.scroll_into_view_if_needed()
        c3.click(position={"x": 7 * 12 + 6, "y": 2 * 12 + 6})
        _wait_text(page, ".lenet-c3-stepper", r"C3 map 6 at \(row 2, col 7\)")
        assert "= " in _text(page, ".lenet-c3-stepper .lenet-stepper-card")
        page.locator(".lenet-c3-stepper").first.screenshot(path=str(artifact("c3_stepper.png")))
        pool = page.locator(".lenet-pool-stepper canvas.lenet-stepper-input, "
                            ".lenet-pool-stepper .lenet-stepper-input canvas").first
        pool.scroll_into_view_if_needed()
        pool.click(position={"x": 20 * 8 + 4, "y": 3 * 8 + 4})  # C1 cell (3, 20): window (1, 10)
        _wait_text(page, ".lenet-pool-stepper", r"window \(row 1, col 10\)")
        page.locator(".lenet-pool-stepper").first.screenshot(path=str(artifact("pool_stepper.png")))

        # The watch widget starts paused before the first batch.
        status = ".lenet-watch-status"
        _wait_text(page, status, r"batch 0 of \d+.*\(paused\)")
        page.locator(".lenet-watch-step").last.scroll_into_view_if_needed()
        for k in (1, 2):
            page.locator(".lenet-watch-step").last.click()
            _wait_text(page, status, rf"batch {k * STEP} of {TOTAL}.*\(paused")
        time.sleep(1)
        assert _counter(page) == (2 * STEP, TOTAL, "paused"), "a paused run moved on by itself"

        page.locator(".lenet-watch-resume").last.click()
        _wait_text(page, status, r"batch ([3-9]|\d\d+) of")
        page.locator(".lenet-watch-pause").last.click()
        _wait_text(page, status, r"\(paused")
        held = _counter(page)[0]
        assert held > 2 * STEP
        time.sleep(1)
        assert _counter(page)[0] == held, "Pause did not hold the run"
        page.locator(".lenet-watch-step").last.click()
        _wait_text(page, status, rf"batch {held + STEP} of {TOTAL}.*\(paused")
        page.locator(".lenet-watch").last.screenshot(path=str(artifact("watch_paused.png")))
        page.locator(".lenet-watch-resume").last.click()
        _wait_text(page, status, rf"batch {TOTAL} of {TOTAL}.*\(finished\)", timeout_s=120)
        page.locator(".lenet-watch-restart").last.click()  # a finished run starts again from scratch
        _wait_text(page, status, rf"batch ([0-9]|[1-4][0-9]) of {TOTAL}.*\(running\)")
        _wait_text(page, status, rf"batch {TOTAL} of {TOTAL}.*test acc.*\(finished\)", timeout_s=120)
        shutdown_kernel(page)
