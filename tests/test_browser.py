"""The course as a person uses it: JupyterLab in a real (headless) Chromium, driven by Playwright.

The test starts ``jupyter lab`` on 127.0.0.1 with a free port and no token, serving a *copy* of the
chapters (so autosave never touches the committed notebooks), runs every chapter and checks that it
renders with no error output, then drags the learning-rate slider and changes the activation in the
sliders chapter and checks that the curves and the printed result change.

Skipped with a clear reason where Debian's Chromium is missing, except when LENET_REQUIRE_BROWSER=1
(CI), where a missing browser is a failure.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
SLIDERS_CHAPTER = next((c for c in CHAPTERS if c.startswith("05_")), None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _require_browser():
    reason = None
    if not CHROMIUM.exists():
        reason = f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the Playwright package is not installed (pip install -e '.[test]')"
    if reason:
        if os.environ.get("LENET_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (LENET_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the notebooks; yields its base URL."""
    _require_browser()
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    settings = work / "lab-settings" / "@jupyterlab"
    for plugin, value in [("apputils-extension/notification", {"fetchNews": "false"}),
                          ("docmanager-extension/plugin", {"autosave": False})]:
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(value))
    port = _free_port()
    log = open(work / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True"],
        cwd=work, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "LENET_QUICK": "1", "JUPYTERLAB_SETTINGS_DIR": str(work / "lab-settings")})
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f"jupyter lab did not start:\n{(work / 'jupyter.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield base
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    # Shut the chapter's kernel down so the next chapter has the CPU to itself.
    page.evaluate("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                  " return w && w.sessionContext ? w.sessionContext.shutdown() : null; }")
    context.close()


NOTEBOOK_STATE = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  if (!nb || !nb.content || !nb.sessionContext.session) return null;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  const outputs = cells.map(c => c.model.outputs.toJSON());
  return {
    kernel: nb.sessionContext.session.kernel ? nb.sessionContext.session.kernel.status : 'none',
    counts: cells.map(c => c.model.executionCount),
    errors: outputs.flat().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
  };
}"""


def open_notebook(page, base, name):
    page.goto(f"{base}/lab/tree/notebooks/{name}?reset")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=120_000)


def run_all(page, timeout_s=240):
    """Run every cell the way the menu does and wait until the kernel has finished them all."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        state = page.evaluate(NOTEBOOK_STATE)
        if state and state["errors"]:
            return state
        if state and state["kernel"] == "idle" and all(n is not None for n in state["counts"]):
            time.sleep(1)  # let the last outputs render
            return page.evaluate(NOTEBOOK_STATE)
        time.sleep(1)
    pytest.fail(f"the notebook did not finish within {timeout_s} s: {page.evaluate(NOTEBOOK_STATE)}")


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_in_jupyterlab_without_errors(lab, page, chapter):
    open_notebook(page, lab, chapter)
    state = run_all(page)
    assert not state["errors"], f"{chapter} shows error outputs: {state['errors']}"
    assert page.locator(".jp-OutputArea-output").count() > 0, "the chapter rendered no outputs"
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
                              has_text="Traceback")
    assert tracebacks.count() == 0, f"{chapter} printed a traceback"
    screenshot(page, f"{Path(chapter).stem}.png")


def _result_text(page):
    return page.locator(".lenet-result").last.inner_text()


def _curves_image(page):
    return page.locator(".lenet-curves").last.screenshot()


@pytest.mark.skipif(SLIDERS_CHAPTER is None, reason="the sliders chapter (05_*) is not written yet")
def test_sliders_retrain_and_redraw(lab, page):
    open_notebook(page, lab, SLIDERS_CHAPTER)
    state = run_all(page)
    assert not state["errors"], state["errors"]
    result = page.locator(".lenet-result").last
    result.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const r = [...document.querySelectorAll('.lenet-result')].pop();"
        " return r && /test acc/i.test(r.innerText); }", timeout=120_000)
    first_text, first_curves = _result_text(page), _curves_image(page)

    # Drag the learning rate the way a person does: focus the handle, press the arrow key.
    handle = page.locator(".lenet-panel .widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.click()
    for _ in range(3):
        handle.press("ArrowRight")
    page.wait_for_function(
        "(before) => { const r = [...document.querySelectorAll('.lenet-result')].pop();"
        " return r && r.innerText !== before && /test acc/i.test(r.innerText)"
        " && !/training/i.test(r.innerText); }",
        arg=first_text, timeout=120_000)
    second_text, second_curves = _result_text(page), _curves_image(page)
    assert second_text != first_text
    assert second_curves != first_curves, "the curves did not redraw after the slider moved"
    screenshot(page, "sliders_after_lr.png")

    # Change the activation with the dropdown.
    page.locator(".lenet-panel .lenet-activation select").select_option(label="ReLU")
    page.wait_for_function(
        "(before) => { const r = [...document.querySelectorAll('.lenet-result')].pop();"
        " return r && r.innerText !== before && /relu/i.test(r.innerText)"
        " && !/training/i.test(r.innerText); }",
        arg=second_text, timeout=120_000)
    assert _curves_image(page) != second_curves
    page.locator(".lenet-panel").last.scroll_into_view_if_needed()
    screenshot(page, "sliders_after_activation.png")
    (ARTIFACTS / "sliders_results.json").write_text(
        json.dumps({"first": first_text, "after_lr": second_text, "after_activation": _result_text(page)}))
