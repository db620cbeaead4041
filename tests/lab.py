"""JupyterLab in a real headless Chromium, for browser tests (``from lab import ...`` in tests/).

    require_browser()                                   # skip (or fail in CI) without Chromium/Playwright
    with lab_server(work_dir, env={"LENET_QUICK": "1"}) as url, chromium() as browser:
        page = new_page(browser)
        open_notebook(page, url, "notebooks/05_hyperparameter_sweeps.ipynb")
        state = run_all(page)                           # {"kernel", "counts", "errors"}
        assert not state["errors"]
        page.screenshot(path=str(artifact("05.png")))     # test-artifacts/05.png (git-ignored)
        shutdown_kernel(page)

``lab_server`` serves ``work_dir`` (put *copies* of notebooks there: JupyterLab may write to what it
serves) on 127.0.0.1 at a free port, with no token, its own settings and workspace folders (no news
fetching, no autosave) and the given environment variables added for its kernels. Each server
picks its own free port, so two test sessions never share one. ``chromium`` is Debian's
``/usr/bin/chromium`` driven by Playwright with flags for a container (no sandbox, no GPU, no
background networking); Playwright's sync API allows one ``chromium()`` at a time per process, so
a test module shares one (a module-scoped fixture) among its tests. Screenshots go to
``test-artifacts/`` (git-ignored, see :func:`artifact`): no browser test writes into tracked files.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  #: git-ignored
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: JupyterLab settings for a test: no news fetching (no network), no autosave, and every cell
#: rendered (no windowing), so a test sees the whole notebook in the page.
LAB_SETTINGS = {"apputils-extension/notification": {"fetchNews": "false"},
                "docmanager-extension/plugin": {"autosave": False},
                "notebook-extension/tracker": {"windowingMode": "none"}}

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

KERNEL_IDLE = ("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
               " const k = w && w.sessionContext && w.sessionContext.session"
               " && w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }")


def require_browser() -> None:
    """Skip the test when Debian's Chromium or Playwright is missing; fail instead when
    ``LENET_REQUIRE_BROWSER=1`` (CI), where a missing browser is an error."""
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


def artifact(name: str) -> Path:
    """Where a test keeps the file ``name`` (a screenshot, a log): ``test-artifacts/name``, a
    git-ignored folder that is created on first use."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(work: Path, env: dict, port: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={work / '.lab-workspaces'}"],
        cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)


@contextmanager
def lab_server(work: Path, env: dict[str, str] | None = None, timeout_s: float = 90) -> Iterator[str]:
    """Run ``jupyter lab`` serving ``work`` on a free 127.0.0.1 port; yield its base URL
    (``http://127.0.0.1:PORT``) and stop it afterwards. ``env`` is added to this process's
    environment (the kernels inherit it). The server's log is ``work/jupyter.log``."""
    work = Path(work)
    settings = work / ".lab-settings"
    for plugin, value in LAB_SETTINGS.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    full_env = {**os.environ, **(env or {}), "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    log_path = work / "jupyter.log"
    with open(log_path, "w") as log:
        for _attempt in range(3):  # another process may grab the free port before the server does
            port = free_port()
            server = _start(work, full_env, port, log)
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + timeout_s
            while server.poll() is None and time.time() < deadline:
                try:
                    urllib.request.urlopen(f"{url}/api/status", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                server.kill()
                server.wait()
                if "already in use" in log_path.read_text():
                    continue
                pytest.fail(f"jupyter lab did not start within {timeout_s} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            break
        else:
            pytest.fail(f"jupyter lab found no free port:\n{log_path.read_text()[-3000:]}")
        try:
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def chromium() -> Iterator["playwright.sync_api.Browser"]:  # noqa: F821
    """Debian's Chromium, headless, driven by Playwright; closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, width: int = 1400, height: int = 1000):
    """A page in a fresh browser context (own storage) with the given viewport."""
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def open_notebook(page, url: str, path: str, timeout_s: float = 120) -> None:
    """Open ``path`` (relative to the served folder) in a fresh workspace and wait until its
    kernel is idle."""
    page.goto(f"{url}/lab/tree/{path}?reset")
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_s * 1000)


def notebook_state(page) -> dict | None:
    """The open notebook's kernel status, code-cell execution counts and error outputs."""
    return page.evaluate(NOTEBOOK_STATE)


def run_all(page, timeout_s: float = 240) -> dict:
    """Run every cell the way the Run menu does; return :func:`notebook_state` once the kernel is
    idle with every code cell run, or as soon as an error output appears."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        state = notebook_state(page)
        if state and state["errors"]:
            return state
        if state and state["kernel"] == "idle" and all(n is not None for n in state["counts"]):
            time.sleep(1)  # let the last outputs render
            return notebook_state(page)
        time.sleep(0.5)
    pytest.fail(f"the notebook did not finish within {timeout_s} s: {notebook_state(page)}")


def shutdown_kernel(page, close: bool = True) -> None:
    """Shut down the open notebook's kernel (frees the CPU for the next test) and, unless
    ``close=False`` (a page reused for the next notebook), close the page's browser context."""
    page.evaluate("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                  " return w && w.sessionContext ? w.sessionContext.shutdown() : null; }")
    if close:
        page.context.close()
