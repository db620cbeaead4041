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

The browser tests (marked ``browser``) need ``pip install -e ".[site]"`` and Chromium: skipped with
a reason without them, a failure in CI (``LENET_REQUIRE_BROWSER=1``). The tests of the course map
and of how the site reads a notebook need neither.
"""

import functools
import http.server
import importlib.util
import json
import math
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from lab import artifact, chromium, new_page, require_browser

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


@pytest.mark.browser
def test_pages_come_in_reading_order_with_previous_and_next(site, pages):
    assert list(pages) == PAGES, "the 'next' links do not walk the landing page, then each notebook in order"
    for before, after in zip(PAGES, PAGES[1:]):
        assert pages[after]["previous"] == site + before, f"{after}: 'previous' does not lead to {before}"


@pytest.mark.browser
def test_pages_load_without_errors_or_other_hosts(pages):
    for path, state in pages.items():
        assert not state["console"], f"{path}: console errors {state['console']}"
        assert not state["failed"], f"{path}: failed requests {state['failed']}"
        assert not state["foreign"], f"{path}: requests to other hosts {state['foreign']}"
        assert state["searchBoxes"] >= 1, f"{path}: no search box"
        assert "NBVAL" not in state["text"], f"{path}: shows an NBVAL test marker"


@pytest.mark.browser
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


@pytest.mark.browser
def test_math_is_typeset(pages):
    with_math = {f"notebooks/{n.stem}.html" for n in NOTEBOOKS if expected(n)["math"]}
    assert with_math, "no notebook has math: this test would check nothing"
    for path, state in pages.items():
        assert bool(state["math"]) == (path in with_math), f"{path}: {len(state['math'])} math elements"
        assert all(state["math"]), f"{path}: {state['math'].count(False)} of {len(state['math'])} not typeset"


@pytest.mark.browser
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


@pytest.mark.browser
def test_landing_page_shows_the_measured_course_map_and_setup(pages):
    text, rows = pages[PAGES[0]]["text"], pages[PAGES[0]]["rows"]
    rows = [[cell.replace("\u2019", "'") for cell in row] for row in rows]  # Sphinx's typographic apostrophe
    for entry in course_map.course_map():
        row = [entry.title.replace("`", ""), course_map.minutes(entry.reading_min),
               course_map.minutes(entry.running_s / 60), entry.assumes.replace("`", ""),
               entry.after.replace("`", "")]
        assert row in rows, f"the course map lacks the row {row}: {rows}"
    entries = [row for row in rows if row[0] != "notebook"]  # one table per group, each with its header
    assert len(entries) == len(NOTEBOOKS), f"the course map has {len(entries)} notebook rows"
    for command in re.findall(r"^(\S.*?)\s+#", course_map.setup_section().split("```bash")[1], re.M):
        assert command in text, f"the landing page lacks the setup command {command!r}"


@pytest.mark.browser
def test_search_finds_train_ch6_on_chapter_4(site, browser):
    page = new_page(browser, 1400, 1000)
    page.goto(site + "search.html?q=train_ch6")
    hit = page.locator('#search-results a[href*="04_training_with_train_ch6"]')
    hit.first.wait_for(timeout=20_000)
    page.screenshot(path=str(artifact("site-search.png")))
    page.context.close()


@pytest.mark.browser
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


# --- the course map and how the site reads a notebook (no browser, no build) ---

def _cell(kind: str, source: str, **fields) -> dict:
    cell = {"cell_type": kind, "metadata": fields.pop("metadata", {}), "source": source}
    if kind == "code":
        cell |= {"execution_count": 1, "outputs": fields.pop("outputs", [])}
    return cell


def _timed(busy: str, idle: str) -> dict:
    return {"execution": {"iopub.status.busy": busy, "iopub.status.idle": idle}}


def _notebook(path: Path, cells: list[dict], metadata: dict | None = None) -> Path:
    cells = [{"id": f"cell-{k}", **cell} for k, cell in enumerate(cells)]
    path.write_text(json.dumps({"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


PNG = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}


def test_course_map_measures_words_pictures_and_stored_cell_times(tmp_path):
    _notebook(tmp_path / "10_deeper.ipynb", [
        _cell("markdown", "# Going deeper\n\n" + "word " * 398),  # 400 words: 2 minutes
        _cell("code", "plot()", metadata=_timed("2026-01-01T00:00:00Z", "2026-01-01T00:01:30.5Z"),
              outputs=[{"output_type": "display_data", "data": PNG, "metadata": {}}] * 3),  # 3 pictures: 1 minute
        _cell("code", "x = 1", metadata=_timed("2026-01-01T00:05:00Z", "2026-01-01T00:05:29.5Z"))])
    _notebook(tmp_path / "01_first.ipynb", [_cell("markdown", "# First"),
                                            _cell("code", "1", metadata=_timed("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"))],
              {"lenet_course": {"assumes": "Python and a little NumPy", "after": "count parameters"}})
    (tmp_path / "scratch.ipynb").write_text("{}")  # not a course notebook: no NN_ prefix
    first, deeper = course_map.course_map(tmp_path)
    assert (first.title, first.going_further) == ("First", False)
    assert (deeper.title, deeper.words, deeper.pictures, deeper.going_further) == ("Going deeper", 400, 3, True)
    assert deeper.reading_min == pytest.approx(3.0)
    assert deeper.running_s == pytest.approx(120.0)  # the cells' busy-to-idle times, not the gap between them
    assert (first.assumes, first.after, deeper.assumes) == ("Python and a little NumPy", "count parameters", "")
    tables = course_map.markdown_tables([first, deeper], "../notebooks/")
    assert "| [First](../notebooks/01_first.ipynb) | <1 | <1 | Python and a little NumPy | count parameters |" in tables
    assert "| [Going deeper](../notebooks/10_deeper.ipynb) | 3 | 2 | — | — |" in tables
    assert "None yet." in course_map.markdown_tables([first])


def test_every_course_notebook_says_what_it_assumes_and_what_it_leaves_a_learner_able_to_do():
    for entry in course_map.course_map():
        assert entry.assumes and entry.after, (f"{entry.path.name}: add metadata "
                                               '{"lenet_course": {"assumes": ..., "after": ...}}')


def test_course_map_names_the_notebook_and_cell_without_timestamps(tmp_path):
    path = _notebook(tmp_path / "02_unrun.ipynb", [_cell("markdown", "# Unrun"), _cell("code", "1")])
    with pytest.raises(ValueError, match=r"02_unrun.ipynb: code cell 1 has no execution timestamps.*Executing a chapter"):
        course_map.measure(path)
    draft = course_map.measure(path, require_times=False)  # a notebook being written: reading minutes only
    assert draft.words == 1 and math.isnan(draft.running_s)


def test_setup_section_is_the_readmes_and_says_when_it_is_missing(tmp_path):
    assert 'pip install -e ".[test]"' in course_map.setup_section()
    readme = tmp_path / "README.md"
    readme.write_text("# Course\n\n## Setup\n\npip install x\n")
    with pytest.raises(ValueError, match=r"README.md has no '## Setup: two commands' section"):
        course_map.setup_section(readme)


def test_site_shows_widget_pictures_hidden_solutions_and_no_test_markers():
    pytest.importorskip("sphinx", reason="the site's packages are not installed: pip install -e '.[site]'")
    spec = importlib.util.spec_from_file_location("course_site", ROOT / "site" / "_ext" / "course_site.py")
    course_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course_site)
    view = {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "abc"}}
    cells = [_cell("code", "# NBVAL_CHECK_OUTPUT\nprint(2)"),
             _cell("code", "# Solution\nanswer = 3", metadata={"jupyter": {"source_hidden": True}}),
             _cell("code", "Panel()", outputs=[
                 {"output_type": "stream", "name": "stdout", "text": "ready\n"},
                 {"output_type": "display_data", "metadata": {}, "data": {**view, "text/plain": "Panel (live)"}},
                 {"output_type": "display_data", "metadata": {}, "data": {**view, **PNG}}])]
    cells = [{"id": f"cell-{k}", **cell} for k, cell in enumerate(cells)]
    text = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    checked, solution, widget = course_site.read_notebook(text).cells
    assert checked.source == "print(2)" and "hide-input" not in checked.metadata.get("tags", [])
    assert solution.metadata.tags == ["hide-input"] and solution.source == "# Solution\nanswer = 3"
    assert widget.metadata.tags == [course_site.WIDGET_TAG]
    assert [list(o.get("data", {"stream": 1})) for o in widget.outputs] == [
        ["stream"], ["text/markdown"], ["image/png", "text/plain"]]
    assert widget.outputs[1].data["text/markdown"] == course_site.LIVE_NOTE
    assert LIVE_NOTE in course_site.LIVE_NOTE
    assert json.loads(text)["cells"] == cells, "the notebook's text was changed"
