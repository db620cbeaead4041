"""The course as a person uses it: JupyterLab in a real (headless) Chromium, driven by Playwright
(helpers in ``tests/lab.py``).

* Every chapter with widgets (code that imports ``lenet_utils.widgets``), opened in a 1400x900
  window: before it runs, each widget's cell shows its saved picture and no output reads
  ``...(children=``; run (quick mode), it renders with no error output and each widget fits the
  notebook's visible area with nothing scrolling inside it, text of at least 11 px and pictures at
  their natural size (one screenshot per widget in ``test-artifacts/``). The other chapters print
  and plot only: nbval already runs every chapter in the same ``pytest``.
* The slider panel, in FULL mode (its kernel sees ``LENET_QUICK=0``), from a small notebook holding
  chapter 5's panel cell: the learning-rate slider (keyboard on its handle) and the activation
  dropdown each start a run whose curves redraw while it trains (at least two different pictures
  before the result line says it finished) and whose result differs from the one before; "run
  again" trains the same setting with the next seed, to another result. With
  ``LENET_DATA_DIR`` it trains on the full data set, else on the bundled sample (the same checks).

Screenshots go to the git-ignored ``test-artifacts/`` only. The README's picture,
``images/jupyterlab_sliders.png``, is retaken only on purpose: ``LENET_RETAKE_README_PICTURE=1``
with ``LENET_DATA_DIR`` set (the README never shows sample runs), e.g.
``LENET_RETAKE_README_PICTURE=1 LENET_DATA_DIR=../shared/datasets pytest tests/test_browser.py``.

Skipped with a clear reason where Debian's Chromium is missing, except when LENET_REQUIRE_BROWSER=1
(CI), where a missing browser is a failure.
"""

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from lab import (artifact, chromium, lab_server, new_page, open_notebook, require_browser, run_all,
                 shutdown_kernel)

pytestmark = pytest.mark.browser  # drives Chromium: pytest -m "not browser" leaves it out

ROOT = Path(__file__).resolve().parents[1]
README_PICTURE = ROOT / "images" / "jupyterlab_sliders.png"
RETAKE_README_PICTURE = os.environ.get("LENET_RETAKE_README_PICTURE") == "1"


def has_widgets(notebook: Path) -> bool:
    """Whether a code cell of ``notebook`` imports from ``lenet_utils.widgets``."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return any("lenet_utils.widgets" in "".join(c["source"]) for c in cells if c["cell_type"] == "code")


CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb") if has_widgets(p))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server (quick mode) on copies of the chapters with widgets; yields its base URL."""
    require_browser()
    work = tmp_path_factory.mktemp("lab")
    (work / "notebooks").mkdir()
    for chapter in CHAPTERS:
        shutil.copy(ROOT / "notebooks" / chapter, work / "notebooks" / chapter)
    with lab_server(work, env={"LENET_QUICK": "1"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module (Playwright's sync API allows one at a time per process)."""
    require_browser()
    with chromium() as b:
        yield b


@pytest.fixture
def page(lab, browser):
    page = new_page(browser, 1400, 900)
    yield page
    shutdown_kernel(page)  # so the next chapter has the CPU to itself


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def widget_cells(chapter: str) -> list[int]:
    """Positions (0-based, among all cells) of the committed chapter's code cells whose output is a
    live widget."""
    cells = json.loads((ROOT / "notebooks" / chapter).read_text(encoding="utf-8"))["cells"]
    return [i for i, c in enumerate(cells) if c["cell_type"] == "code" and any(
        o.get("data", {}).get(WIDGET_VIEW, {}).get("model_id") for o in c.get("outputs", []))]

#: A rendered live widget's output (its saved picture's output is hidden, lm-mod-hidden).
LIVE_WIDGET = ".jp-OutputArea-output:not(.lm-mod-hidden):has(> .jupyter-widgets)"
# For each rendered live widget: its box, the visible notebook area, and any element inside it that
# scrolls (content larger than its box with overflow auto/scroll) or whose text is under 11 px.
WIDGET_LAYOUT = """() => {
  const area = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
            || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const a = area.getBoundingClientRect();
  const views = [...document.querySelectorAll(LIVE)].filter(v => v.getBoundingClientRect().height > 0);
  return views.map(v => {
    const r = v.getBoundingClientRect();
    const scrolling = [...v.querySelectorAll('*')].filter(e => {
      const st = getComputedStyle(e);
      return (/(auto|scroll)/.test(st.overflowY) && e.scrollHeight > e.clientHeight + 2)
          || (/(auto|scroll)/.test(st.overflowX) && e.scrollWidth > e.clientWidth + 2);
    }).map(e => e.className);
    const small = [...v.querySelectorAll('*')].filter(e =>
        [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
        && parseFloat(getComputedStyle(e).fontSize) < 11).map(e => e.textContent.trim().slice(0, 30));
    const imgs = [...v.querySelectorAll('img')].filter(i => i.naturalWidth > 0)
        .map(i => ({natural: i.naturalWidth, shown: i.getBoundingClientRect().width}));
    return {width: r.width, height: r.height, areaWidth: a.width, areaHeight: a.height,
            scrolling, small, imgs};
  });
}"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_in_jupyterlab_without_errors(lab, page, chapter):
    """Unrun, the chapter shows a picture for each widget and no widget as Python text; run, it
    shows no error, and each widget fits a 1400x900 window: no bigger than the notebook's visible
    area, nothing scrolling inside it, text at least 11 px, pictures at their natural size."""
    stem = Path(chapter).stem
    open_notebook(page, lab, f"notebooks/{chapter}")
    page.wait_for_timeout(1000)  # let the saved outputs render
    text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").inner_text()
    assert "(children=" not in text, f"unrun, {chapter} shows a widget as Python text"
    for n, index in enumerate(widget_cells(chapter), start=1):
        cell = page.locator(f".jp-Cell[data-windowed-list-index='{index}'] .jp-OutputArea")
        assert cell.locator(".jp-RenderedImage img").count() >= 1, \
            f"unrun, {chapter} shows no picture for the widget of cell {index + 1}"
        cell.scroll_into_view_if_needed()
        cell.screenshot(path=str(artifact(f"{stem}-unrun-widget{n}.png")))

    state = run_all(page)
    assert not state["errors"], f"{chapter} shows error outputs: {state['errors']}"
    assert page.locator(".jp-OutputArea-output").count() > 0, "the chapter rendered no outputs"
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
                              has_text="Traceback")
    assert tracebacks.count() == 0, f"{chapter} printed a traceback"
    page.screenshot(path=str(artifact(f"{stem}.png")))
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    page.wait_for_timeout(500)
    views = page.locator(LIVE_WIDGET)
    layouts = page.evaluate(WIDGET_LAYOUT.replace("LIVE", json.dumps(LIVE_WIDGET)))
    assert len(layouts) == len(widget_cells(chapter)), layouts
    for i, box in enumerate(layouts):
        views.nth(i).scroll_into_view_if_needed()
        views.nth(i).screenshot(path=str(artifact(f"{stem}-widget{i + 1}.png")))
        assert box["width"] <= box["areaWidth"] and box["height"] <= box["areaHeight"], \
            f"{chapter}, widget {i + 1} ({box['width']:.0f}x{box['height']:.0f} px) does not fit the " \
            f"notebook's visible area ({box['areaWidth']:.0f}x{box['areaHeight']:.0f} px) of a 1400x900 window"
        assert not box["scrolling"], f"{chapter}, widget {i + 1} scrolls inside: {box['scrolling']}"
        assert not box["small"], f"{chapter}, widget {i + 1} has text under 11 px: {box['small']}"
        for img in box["imgs"]:
            assert abs(img["shown"] - img["natural"]) <= 1, \
                f"{chapter}, widget {i + 1}: a {img['natural']} px picture is shown {img['shown']:.0f} px wide"


PANEL_CELL = """from lenet_utils.widgets.panel import TrainingPanel

panel = TrainingPanel("fashion-mnist")
panel"""

# Records every picture the curves show (a hash of its bytes) with the result line at that moment.
WATCH_CURVES = """() => {
  window.curvesLog = [];
  const hash = (buf) => { const b = new Uint8Array(buf); let h = 2166136261;
    for (let i = 0; i < b.length; i++) { h ^= b[i]; h = Math.imul(h, 16777619); } return h >>> 0; };
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const img = m.target;
      if (!img.closest || !img.closest('.lenet-curves') && !img.classList.contains('lenet-curves')) continue;
      const result = [...document.querySelectorAll('.lenet-result')].pop().innerText;
      fetch(img.src).then(r => r.arrayBuffer()).then(b => window.curvesLog.push({hash: hash(b), result}))
        .catch(() => {});
    }
  }).observe(document.body, {attributes: true, attributeFilter: ['src'], subtree: true});
}"""

FINISHED = """(before) => { const r = [...document.querySelectorAll('.lenet-result')].pop();
  return r && r.innerText !== before && /test acc/i.test(r.innerText) && !/^training/i.test(r.innerText); }"""


def _result(page) -> str:
    return page.locator(".lenet-result").last.inner_text()


def _wait_for_new_result(page, before: str) -> str:
    page.wait_for_function(FINISHED, arg=before, timeout=180_000)
    return _result(page)


def _pictures_while_training(page) -> set:
    log = page.evaluate("() => window.curvesLog")
    return {entry["hash"] for entry in log if entry["result"].startswith("Training run")}


@pytest.fixture
def full_mode_lab(tmp_path):
    """JupyterLab whose kernels run in full mode, serving a notebook with chapter 5's panel cell."""
    require_browser()
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "panel", "metadata": {},
                     "outputs": [], "source": PANEL_CELL}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "panel.ipynb").write_text(json.dumps(nb))
    env = {"LENET_QUICK": "0", "LENET_OFFLINE": "1"}  # no download attempt: full data or the sample
    with lab_server(tmp_path, env=env) as url:
        yield url


def test_panel_curves_move_while_training_in_full_mode(full_mode_lab, browser):
    page = new_page(browser, 1400, 1050)
    open_notebook(page, full_mode_lab, "panel.ipynb")
    state = run_all(page, timeout_s=180)
    assert not state["errors"], state["errors"]
    assert page.locator(".jp-RenderedImage").count() == 0, \
        "JupyterLab must show the live panel only, not its saved picture as well"
    first = _wait_for_new_result(page, "")
    # Full mode shows in the data line: all 60,000 images (or the sample's 3,000), not quick
    # mode's 2,000-image subset.
    info = page.locator(".lenet-panel").last.inner_text()
    full_data = "from 60,000 training images" in info
    assert "from 2,000 training images" not in info, f"the kernel ran in quick mode: {info}"
    if os.environ.get("LENET_DATA_DIR"):
        assert full_data, f"LENET_DATA_DIR is set but the panel did not train on the full set: {info}"
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    page.evaluate(WATCH_CURVES)

    # The learning rate, the way a person moves it: focus the handle, press the arrow key.
    handle = page.locator(".lenet-panel .widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.click()
    for _ in range(3):
        handle.press("ArrowRight")
    time.sleep(1)  # past the panel's debounce: the run of the last setting has started
    after_lr = _wait_for_new_result(page, first)
    lr = float(re.search(r"lr ([0-9.]+)", after_lr).group(1))
    assert lr > 0.1, after_lr  # the default is 0.1; the arrow key moved it up
    assert len(_pictures_while_training(page)) >= 2, "the curves did not move while the run trained"

    page.evaluate("() => { window.curvesLog = []; }")
    page.locator(".lenet-panel .lenet-activation select").last.select_option(label="sigmoid")
    after_activation = _wait_for_new_result(page, after_lr)
    assert "sigmoid" in after_activation and after_activation != after_lr
    assert len(_pictures_while_training(page)) >= 2, "the curves did not move while the run trained"
    assert page.locator(".lenet-runs tr").count() == 4  # header + three runs

    # "run again": the same setting with the next seed, a curve of its own beside the last one
    page.evaluate("() => { window.curvesLog = []; }")
    page.locator(".lenet-panel .lenet-rerun").last.click()
    again = _wait_for_new_result(page, after_activation)
    setting = re.compile(r"^Run \d+ (\(.*\)), seed (\d+): test acc")
    assert setting.match(again).groups() == (setting.match(after_activation).group(1), "1"), (after_activation, again)
    assert page.locator(".lenet-runs tr").count() == 5

    panel = page.locator(".lenet-panel").last
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(artifact("panel_full_mode.png")))
    artifact("panel_results.json").write_text(json.dumps(
        {"first": first, "after_lr": after_lr, "after_activation": after_activation,
         "full_data": full_data}))
    if RETAKE_README_PICTURE:
        assert full_data, ("LENET_RETAKE_README_PICTURE=1 retakes the README's picture from a run "
                           "on the full data set: set LENET_DATA_DIR to the folder that holds it")
        page.screenshot(path=str(README_PICTURE))
    shutdown_kernel(page)
