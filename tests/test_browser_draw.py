"""Draw a digit in JupyterLab as a person does: headless Chromium (Playwright) and the mouse.

A small notebook (written to a temp folder) shows the ``DrawDigit`` widget. With the kernel busy
(a cell sleeping), a stroke's ink appears on the canvas as the mouse moves: the browser paints it;
awake, the kernel reads the moves that queued up before the mouse is released. A "7" drawn slowly
updates the prediction before the mouse is released too. The test draws a "1"
with mouse moves on the canvas and reads the prediction and the ten bars from the page, clears,
draws a "0" and checks that both changed; then it clicks a pixel of a C3 feature map and checks
that the page names its receptive field and S2 inputs and that the 32x32 view lights the field up;
Deselect clears the selection, so does Clear, and a single dot reads "unlike the digits LeNet-5
learned from".

Skipped with a clear reason where Debian's Chromium or Playwright is missing, except when
LENET_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

import json
from pathlib import Path

import pytest

from lab import (artifact, chromium, lab_server, new_page, open_notebook, require_browser, run_all,
                 shutdown_kernel)
from lenet_utils.receptive_fields import receptive_field
from lenet_utils.widgets.draw import CANVAS_SIZE, EXAMPLE_STROKES, GRIDS

pytestmark = pytest.mark.browser  # drives Chromium: pytest -m "not browser" leaves it out

CELLS = ["from lenet_utils.widgets.draw import DrawDigit", "DrawDigit()"]
UNIT = ("c3", 7, 3, 4)  # C3 map 7 reads S2 maps 1-4

BARS = "() => [...document.querySelectorAll('.lenet-bar')].map(e => parseFloat(e.dataset.p))"
PIXEL = """([css, row, col]) => { const c = [...document.querySelectorAll(css)].pop();
  return Array.from(c.getContext('2d').getImageData(col, row, 1, 1).data); }"""


def _notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
             for src in CELLS]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}))


def _draw(page, strokes) -> None:
    """Draw strokes (canvas coordinates) with the mouse on the drawing canvas."""
    canvas = page.locator(".lenet-draw-canvas").last
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / CANVAS_SIZE
    for stroke in strokes:
        points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=4)
        page.mouse.up()


def _canvas_point(page, x: float, y: float) -> tuple:
    """The page position of canvas point (x, y) of the drawing canvas."""
    canvas = page.locator(".lenet-draw-canvas").last
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / CANVAS_SIZE
    return box["x"] + x * scale, box["y"] + y * scale


BUSY = ("(seconds) => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        ".requestExecute({code: `import time; time.sleep(${seconds})`}) && true")
KERNEL_BUSY = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'busy'"


def _wait_prediction(page, digit: str) -> None:
    page.wait_for_selector(f".lenet-prediction[data-digit='{digit}']", timeout=30_000)


def test_notebook_12_draw_a_digit_and_click_a_unit_in_jupyterlab(tmp_path):
    """Notebook 12's draw-a-digit widget (the name lets `pytest -k 12` pick it with the chapter's layout test)."""
    require_browser()
    _notebook(tmp_path / "draw.ipynb")
    with lab_server(tmp_path, env={"LENET_QUICK": "1", "LENET_OFFLINE": "1"}) as url, chromium() as browser:
        page = new_page(browser)
        open_notebook(page, url, "draw.ipynb")
        state = run_all(page, timeout_s=180)
        assert not state["errors"], state["errors"]
        # the file browser closed: the widget's three columns side by side, whole in the screenshots
        page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
        _wait_prediction(page, "")  # "draw a digit"
        assert page.locator(".jp-RenderedImage").count() == 0, \
            "JupyterLab must show the live widget only, not its saved picture as well"
        assert page.evaluate(BARS) == [0.0] * 10

        # The ink appears as the mouse moves even while the kernel cannot answer: the browser paints it.
        page.evaluate(BUSY, 5)
        page.wait_for_function(KERNEL_BUSY, timeout=10_000)
        page.mouse.move(*_canvas_point(page, 140, 50))
        page.mouse.down()
        page.mouse.move(*_canvas_point(page, 140, 230), steps=8)
        ink = page.evaluate(PIXEL, [".lenet-draw-canvas", 140, 140])
        busy = page.evaluate(KERNEL_BUSY)
        assert busy, "the kernel finished sleeping before the ink was checked: the check proves nothing"
        assert max(ink[:3]) < 80 and ink[3] == 255, f"no ink under the moving mouse: {ink}"
        # awake, the kernel gets the moves in a burst; it reads them with the mouse still down
        _wait_prediction(page, "1")
        page.mouse.up()
        page.get_by_role("button", name="Clear").last.click()
        _wait_prediction(page, "")

        # A slow stroke updates the prediction before the mouse is released.
        points = EXAMPLE_STROKES["7"][0]
        page.mouse.move(*_canvas_point(page, *points[0]))
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*_canvas_point(page, *point), steps=10)
            page.wait_for_timeout(150)
        # the mouse is still down: a digit read now comes from the throttled reads during the stroke
        page.wait_for_selector(".lenet-prediction:not([data-digit=''])", timeout=30_000)
        page.mouse.up()
        _wait_prediction(page, "7")
        page.get_by_role("button", name="Clear").last.click()
        _wait_prediction(page, "")

        _draw(page, EXAMPLE_STROKES["1"])
        _wait_prediction(page, "1")
        ones = page.evaluate(BARS)
        assert len(ones) == 10 and max(ones) == ones[1] and abs(sum(ones) - 1) < 0.01

        page.get_by_role("button", name="Clear").last.click()
        _wait_prediction(page, "")
        _draw(page, EXAMPLE_STROKES["0"])
        _wait_prediction(page, "0")
        zeros = page.evaluate(BARS)
        assert max(zeros) == zeros[0] and zeros != ones, "the bars did not change with the drawing"

        # click pixel (row 3, col 4) of C3 map 7 on its (enlarged) canvas
        layer, channel, row, col = UNIT
        grid = GRIDS[layer]
        maps = page.locator(f".lenet-map-{layer}").last
        maps.scroll_into_view_if_needed()
        box = maps.bounding_box()
        top, left = grid.origin(channel)
        scale = box["width"] / grid.size[1]
        page.mouse.click(box["x"] + (left + col + 0.5) * scale, box["y"] + (top + row + 0.5) * scale)
        page.wait_for_function(
            "() => /C3 map 7, row 3, column 4: sees input rows 6-19, columns 8-21.*reads S2 maps "
            "1, 2, 3, 4/.test([...document.querySelectorAll('.lenet-selection')].pop().innerText)",
            timeout=30_000)
        field = receptive_field(*UNIT)
        page.wait_for_function(f"([css, row, col]) => ({PIXEL})([css, row, col])[0] >= 100",
                               arg=[".lenet-seen", field.top, field.left], timeout=30_000)
        inside = page.evaluate(PIXEL, [".lenet-seen", field.top, field.left])
        outside = page.evaluate(PIXEL, [".lenet-seen", 0, 0])
        assert inside[0] > inside[2] and inside[0] >= 100, f"no orange wash in the field: {inside}"
        assert max(outside[:3]) < 30, f"outside the field should stay dark: {outside}"
        widget = page.locator(".lenet-draw-canvas").last.locator(
            "xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]")
        widget.screenshot(path=str(artifact("draw_digit.png")))

        # Deselect clears the selection; a single dot gets the "unlike MNIST" verdict, not a digit.
        page.get_by_role("button", name="Deselect").last.click()
        page.wait_for_function("() => /^Click a unit/.test([...document.querySelectorAll('.lenet-selection')]"
                               ".pop().innerText)", timeout=30_000)
        maps.scroll_into_view_if_needed()
        box = maps.bounding_box()
        page.mouse.click(box["x"] + (left + col + 0.5) * scale, box["y"] + (top + row + 0.5) * scale)
        page.wait_for_function("() => /^C3 map 7/.test([...document.querySelectorAll('.lenet-selection')]"
                               ".pop().innerText)", timeout=30_000)
        page.get_by_role("button", name="Clear").last.click()  # Clear deselects too
        _wait_prediction(page, "")
        page.wait_for_function("() => /^Click a unit/.test([...document.querySelectorAll('.lenet-selection')]"
                               ".pop().innerText)", timeout=30_000)
        _draw(page, [[(140, 140)]])
        page.wait_for_selector(".lenet-prediction[data-unlike='too little ink']", timeout=30_000)
        assert "Unlike the digits LeNet-5 learned from" in page.locator(".lenet-prediction").last.inner_text()
        widget.screenshot(path=str(artifact("draw_dot.png")))
        shutdown_kernel(page)
