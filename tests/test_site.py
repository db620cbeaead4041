"""The course site (``scripts/build_site.py``, Jupyter Book 1) built from the committed notebooks and
read in headless Chromium from a local server on 127.0.0.1, as a person would.

Every page (the landing page, then each ``notebooks/NN_*.ipynb`` in reading order, reached by the
"next" links) loads with no console error, no failed request and no request to another host; every
``<img>`` has loaded; each notebook's page shows as many output pictures as the notebook holds
images, each widget cell its saved picture under the one line saying it runs live in JupyterLab;
every hidden solution cell is collapsed until its toggle is clicked; no ``NBVAL`` marker shows;
the math is typeset by the site's own MathJax; every internal link (fragments included) resolves;
each page offers its ``.ipynb`` for download, byte for byte the committed file; the search page
finds ``train_ch6`` on chapter 4's page; the landing page shows the measured course map and the
README's setup commands. Screenshots go to ``test-artifacts/site-*.png``.

Needs ``pip install -e ".[site]"`` and Chromium: skipped with a reason without them, a failure in
CI (``LENET_REQUIRE_BROWSER=1``).
"""

import functools
import http.server
import importlib.util
import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from lab import artifact, chromium, new_page, require_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
LIVE_NOTE = "This is a live widget: in JupyterLab, run the notebook to use it."
BUILD_LIMIT_S = 120


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


course_map = _script("course_map")
NOTEBOOKS = course_map.course_notebooks()
PAGES = ["site/index.html"] + [f"notebooks/{p.stem}.html" for p in NOTEBOOKS]


def expected(notebook: Path) -> dict:
    """What a notebook's page must show, counted from the committed notebook."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    markdown = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return {"pictures": course_map.measure(notebook).pictures,
            "widgets": sum(any(WIDGET_VIEW in o.get("data", {}) for o in c.get("outputs", [])) for c in code),
            "hidden": sum(bool(c["metadata"].get("jupyter", {}).get("source_hidden")) for c in code),
            "math": bool(re.search(r"\$[^$\s][^$\n]*\$", markdown))}


def require_site_tools() -> None:
    """Skip (or fail in CI) where the ``site`` extra is not installed."""
    missing = [m for m in ("jupyter_book", "sphinx-mathjax-offline") if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"the site's packages are not installed ({', '.join(missing)}): pip install -e '.[site]'"
        if os.environ.get("LENET_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built into a temporary folder and served on 127.0.0.1; yields its base URL."""
    require_browser()
    require_site_tools()
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    html = _script("build_site").build(out)
    seconds = time.perf_counter() - start
    artifact("site-build-time.txt").write_text(f"{seconds:.1f} s\n")
    assert seconds < BUILD_LIMIT_S, f"the site took {seconds:.0f} s to build (limit {BUILD_LIMIT_S} s)"
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    require_browser()
    with chromium() as b:
        yield b


PAGE_STATE = """() => {
  const text = el => el ? el.innerText : '';
  const cells = [...document.querySelectorAll('.cell.tag_widget-picture')];
  return {
    images: [...document.querySelectorAll('img')].map(i => ({src: i.src, width: i.naturalWidth, done: i.complete})),
    outputImages: document.querySelectorAll('.cell_output img').length,
    widgets: cells.map(c => ({note: text(c).includes(NOTE),
                              pictures: [...c.querySelectorAll('.cell_output img')].filter(i => i.naturalWidth > 0).length})),
    hidden: document.querySelectorAll('.cell.tag_hide-input details.above-input:not([open])').length,
    math: [...document.querySelectorAll('.math')].map(m => !!m.querySelector('mjx-container')),
    searchBoxes: document.querySelectorAll('input[name="q"]').length,
    next: (document.querySelector('a.right-next') || {}).href || null,
    previous: (document.querySelector('a.left-prev') || {}).href || null,
    download: (document.querySelector('a.btn-download-source-button') || {}).href || null,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    rows: [...document.querySelectorAll('table tr')].map(r => [...r.cells].map(c => c.innerText.trim())),
    text: document.body.innerText,
  };
}""".replace("NOTE", json.dumps(LIVE_NOTE))


def visit(browser, url: str, name: str) -> dict:
    """Open ``url``; return what :data:`PAGE_STATE` reads once images and math are done, with the
    page's console errors, failed requests and requests to other hosts."""
    page = new_page(browser, 1400, 1000)
    host = urllib.parse.urlsplit(url).netloc
    problems = {"console": [], "failed": [], "foreign": []}
    page.on("console", lambda m: m.type == "error" and problems["console"].append(m.text))
    page.on("pageerror", lambda e: problems["console"].append(str(e)))
    page.on("requestfailed", lambda r: problems["failed"].append(r.url))
    page.on("response", lambda r: r.status >= 400 and problems["failed"].append(f"{r.status} {r.url}"))
    page.on("request", lambda r: urllib.parse.urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
            and urllib.parse.urlsplit(r.url).netloc != host and problems["foreign"].append(r.url))
    page.goto(url, wait_until="load")
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    page.screenshot(path=str(artifact(f"site-{name}.png")))
    state = page.evaluate(PAGE_STATE)
    page.context.close()
    return {**state, **problems, "url": url}


@pytest.fixture(scope="module")
def pages(site, browser) -> dict:
    """Each page reached from the landing page by the "next" links, in that order: {path: state}."""
    seen, url = {}, site + PAGES[0]
    while url and len(seen) <= len(PAGES):
        path = url[len(site):].split("#")[0]
        seen[path] = visit(browser, url, Path(path).stem)
        url = seen[path]["next"]
    return seen


def test_pages_come_in_reading_order_with_previous_and_next(site, pages):
    assert list(pages) == PAGES, "the 'next' links do not walk the landing page, then each notebook in order"
    for before, after in zip(PAGES, PAGES[1:]):
        assert pages[after]["previous"] == site + before, f"{after}: 'previous' does not lead to {before}"


def test_pages_load_without_errors_or_other_hosts(pages):
    for path, state in pages.items():
        assert not state["console"], f"{path}: console errors {state['console']}"
        assert not state["failed"], f"{path}: failed requests {state['failed']}"
        assert not state["foreign"], f"{path}: requests to other hosts {state['foreign']}"
        assert state["searchBoxes"] >= 1, f"{path}: no search box"
        assert "NBVAL" not in state["text"], f"{path}: shows an NBVAL test marker"


def test_every_picture_and_widget_picture_shows(pages):
    total = 0
    for notebook in NOTEBOOKS:
        state, want = pages[f"notebooks/{notebook.stem}.html"], expected(notebook)
        broken = [i["src"] for i in state["images"] if not i["width"]]
        assert not broken, f"{notebook.name}: images that did not load: {broken}"
        assert state["outputImages"] == want["pictures"], \
            f"{notebook.name}: {state['outputImages']} output pictures on the page, {want['pictures']} in the notebook"
        assert len(state["widgets"]) == want["widgets"], f"{notebook.name}: widget cells {state['widgets']}"
        for k, widget in enumerate(state["widgets"]):
            assert widget["note"] and widget["pictures"] == 1, f"{notebook.name}: widget cell {k}: {widget}"
        assert "(children=" not in state["text"], f"{notebook.name}: a widget shows as its Python repr"
        total += want["widgets"]
    assert total >= 1, "no widget found in any notebook: this test would check nothing"


def test_math_is_typeset(pages):
    with_math = {f"notebooks/{n.stem}.html" for n in NOTEBOOKS if expected(n)["math"]}
    assert with_math, "no notebook has math: this test would check nothing"
    for path, state in pages.items():
        assert bool(state["math"]) == (path in with_math), f"{path}: {len(state['math'])} math elements"
        assert all(state["math"]), f"{path}: {state['math'].count(False)} of {len(state['math'])} not typeset"


def test_internal_links_resolve_and_downloads_are_the_notebooks(site, pages):
    bodies = {}

    def body(url: str) -> bytes:
        if url not in bodies:
            with urllib.request.urlopen(url, timeout=10) as response:
                bodies[url] = response.read()
        return bodies[url]

    links = {link for state in pages.values() for link in state["links"] if link.startswith(site)}
    for link in sorted(links):
        target, _, fragment = link.partition("#")
        text = body(target)  # raises HTTPError for a missing page
        if fragment:
            anchor = urllib.parse.unquote(fragment)
            assert f'id="{anchor}"'.encode() in text, f"{link}: no element with id {anchor!r}"
    for notebook in NOTEBOOKS:
        download = pages[f"notebooks/{notebook.stem}.html"]["download"]
        assert download == f"{site}_sources/notebooks/{notebook.name}", f"{notebook.name}: download link {download}"
        assert body(download) == notebook.read_bytes(), f"{download} is not the committed notebook"
    assert len(links) > 2 * len(PAGES), f"only {len(links)} internal links found"


def test_landing_page_shows_the_measured_course_map_and_setup(pages):
    text, rows = pages[PAGES[0]]["text"], pages[PAGES[0]]["rows"]
    for entry in course_map.course_map():
        row = [entry.title.replace("`", ""), course_map.minutes(entry.reading_min),
               course_map.minutes(entry.running_s / 60)]
        assert row in rows, f"the course map lacks the row {row}: {rows}"
    assert len(rows) == 1 + len(NOTEBOOKS), f"the course map has {len(rows)} rows"
    for command in re.findall(r"^(\S.*?)\s+#", course_map.setup_section().split("```bash")[1], re.M):
        assert command in text, f"the landing page lacks the setup command {command!r}"


def test_search_finds_train_ch6_on_chapter_4(site, browser):
    page = new_page(browser, 1400, 1000)
    page.goto(site + "search.html?q=train_ch6")
    hit = page.locator('#search-results a[href*="04_training_with_train_ch6"]')
    hit.first.wait_for(timeout=20_000)
    page.screenshot(path=str(artifact("site-search.png")))
    page.context.close()


def test_solutions_stay_hidden_until_their_toggle_is_clicked(site, browser, pages):
    for notebook in NOTEBOOKS:
        hidden = pages[f"notebooks/{notebook.stem}.html"]["hidden"]
        assert hidden == expected(notebook)["hidden"], f"{notebook.name}: {hidden} collapsed solution cells"
    chapter = next(n for n in NOTEBOOKS if expected(n)["hidden"])
    page = new_page(browser, 1400, 1000)
    page.goto(f"{site}notebooks/{chapter.stem}.html")
    toggle = page.locator(".cell.tag_hide-input details.above-input").first
    solution = toggle.locator(".cell_input")
    assert not solution.is_visible(), f"{chapter.name}: a solution shows before its toggle is clicked"
    toggle.locator("summary").click()
    solution.wait_for(state="visible", timeout=5_000)
    assert "Solution" in solution.inner_text()
    page.context.close()
