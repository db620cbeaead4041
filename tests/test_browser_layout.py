"""Every widget fits any JupyterLab window and theme: layout, text size and contrast, in Chromium.

For each chapter with widgets (found as ``tests/test_browser.py`` finds them: a code cell imports
``lenet_utils.widgets``), a small notebook is built from the chapter's live-widget cells and the
earlier cells they need (the cells that define the names they use, found with ``ast``), and run
live in JupyterLab (quick mode). Each widget output is then checked at 1280x720 and at 1400x900,
with the file browser open (about 260 px), in the light and in the dark theme:

* nothing clipped or scrolling inside it: no element of the output (the output box included) has
  ``scrollWidth > clientWidth + 1`` or ``scrollHeight > clientHeight + 1``, and the widget is no
  wider than the notebook's visible area;
* no visible text under 11 px (the computed font-size of every visible text node's element, and of
  every form control showing a value); text drawn inside pictures is checked by the unit tests;
* text contrast of at least 4.5:1 (WCAG) between the computed text colour and what is behind it:
  the first non-transparent background up the tree, blended through translucent ones, with CSS
  opacity applied. Text of a disabled control is exempt, as WCAG 1.4.3 exempts inactive controls.

One screenshot per widget, size and theme goes to ``test-artifacts/layout/`` (git-ignored), e.g.
``12_inside_lenet5_hands_on-widget3-1280x720-dark.png`` (for a widget taller than the window, the
window grows taller for the picture only). A failure lists every problem found in the
chapter: which widget (cell and class), which element, which size and theme. One JupyterLab server
and one page serve the whole module; one chapter runs with ``pytest tests/test_browser_layout.py -k 05``.
"""

import ast
import json
import shutil
from pathlib import Path

import pytest
from lab import (artifact, chromium, lab_server, new_page, open_notebook, require_browser, run_all,
                 shutdown_kernel)
from test_browser import CHAPTERS, LIVE_WIDGET, ROOT, widget_cells

pytestmark = pytest.mark.browser  # drives Chromium: pytest -m "not browser" leaves it out

SIZES = [(1280, 720), (1400, 900)]
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
FILE_BROWSER_PX = 260
MIN_FONT_PX = 11
MIN_CONTRAST = 4.5


def _names(source: str) -> tuple[set[str], set[str]]:
    """The names a cell defines (assigns, imports, defines) and the names it reads."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    defined, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
    return defined, used


def needed_cells(chapter: str) -> list[int]:
    """Positions (among all cells) of the chapter's live-widget cells and of the earlier code cells
    they need: for each name a needed cell reads, the latest earlier cell that defines it."""
    cells = json.loads((ROOT / "notebooks" / chapter).read_text(encoding="utf-8"))["cells"]
    names = {i: _names("".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"}
    keep, todo = set(), list(widget_cells(chapter))
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        for name in names[i][1] - names[i][0]:
            earlier = [j for j in names if j < i and name in names[j][0]]
            if earlier:
                todo.append(max(earlier))
    return sorted(keep)


def widget_notebook(chapter: str, path: Path) -> list[int]:
    """Write to ``path`` a notebook of :func:`needed_cells` (outputs cleared); return the live
    widgets' cell numbers in the chapter (1-based), in order."""
    nb = json.loads((ROOT / "notebooks" / chapter).read_text(encoding="utf-8"))
    nb["cells"] = [dict(nb["cells"][i], outputs=[], execution_count=None) for i in needed_cells(chapter)]
    path.write_text(json.dumps(nb), encoding="utf-8")
    return [i + 1 for i in widget_cells(chapter)]


#: ipywidgets' slider track: 4 px high, its handle overhangs it by design (not clipping).
SLIDER_TRACK = ".slider-container, .noUi-target, .noUi-base"
# For every rendered live widget: its box against the notebook's visible area, and the problems
# found inside it (elements that clip or scroll, small text, low contrast).
INSPECT = """([live, minFont, minContrast, SLIDER_TRACK]) => {
  const area = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
            || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const a = area.getBoundingClientRect();
  const rgba = (s) => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, bottom) => { const k = top[3];
    return [0, 1, 2].map(i => top[i] * k + bottom[i] * (1 - k)).concat([1]); };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  // what is behind an element: its own and its ancestors' backgrounds blended, down to the first opaque one
  const behind = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = rgba(getComputedStyle(e).backgroundColor);
      if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
    }
    let c = [255, 255, 255, 1];
    for (const l of layers.reverse()) c = over(l, c);
    return c; };
  const opacity = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity); return o; };
  const name = (e) => { const cls = typeof e.className === 'string' ? e.className.trim().split(/\\s+/).filter(c => c).slice(0, 3).join('.') : '';
    return e.tagName.toLowerCase() + (cls ? '.' + cls : ''); };
  const visible = (e) => { const st = getComputedStyle(e); const r = e.getBoundingClientRect();
    return st.visibility !== 'hidden' && st.display !== 'none' && r.width > 0 && r.height > 0 && opacity(e) > 0; };
  const views = [...document.querySelectorAll(live)].filter(v => v.getBoundingClientRect().height > 0);
  return views.map(v => {
    const r = v.getBoundingClientRect();
    const problems = [];
    if (r.right > a.right + 1) problems.push(`the widget (${Math.round(r.width)} px) is wider than the notebook's visible area (${Math.round(a.right - r.left)} px from its left edge)`);
    for (const e of [v, ...v.querySelectorAll('*')]) {
      if (!(e instanceof HTMLElement) || !visible(e)) continue;
      if (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
        problems.push(`${name(e)} clips or scrolls sideways: ${e.scrollWidth} px of content in ${e.clientWidth} px ("${e.innerText.trim().slice(0, 40)}")`);
      if (e.scrollHeight > e.clientHeight + 1 && e.clientHeight > 0 && !e.matches(SLIDER_TRACK))
        problems.push(`${name(e)} clips or scrolls down: ${e.scrollHeight} px of content in ${e.clientHeight} px ("${e.innerText.trim().slice(0, 40)}")`);
    }
    const texts = [];
    const walker = document.createTreeWalker(v, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode())
      if (n.textContent.trim() && n.parentElement && !n.parentElement.closest('style,script'))
        texts.push([n.parentElement, n.textContent.trim()]);
    for (const e of v.querySelectorAll('input:not([type=checkbox]):not([type=radio]):not([type=range]), select, textarea'))
      if ((e.value || '').trim()) texts.push([e, (e.tagName === 'SELECT' ? (e.selectedOptions[0] || {}).text || e.value : e.value).trim()]);
    const seen = new Set();
    for (const [e, text] of texts) {
      if (seen.has(e) || !visible(e)) continue;
      seen.add(e);
      const st = getComputedStyle(e);
      const size = parseFloat(st.fontSize);
      if (size < minFont) problems.push(`text "${text.slice(0, 40)}" in ${name(e)} is ${size} px (under ${minFont} px)`);
      if (e.closest(':disabled, [disabled], .mod-disabled')) continue;  // inactive control: WCAG 1.4.3 exempts it
      const isSvg = e instanceof SVGElement;
      const fg = rgba(isSvg ? st.fill : st.color);
      if (!fg) continue;
      const bg = behind(e);
      const ink = over([fg[0], fg[1], fg[2], fg[3] * opacity(e)], bg);
      const [l1, l2] = [lum(ink), lum(bg)].sort((x, y) => y - x);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      if (ratio < minContrast)
        problems.push(`text "${text.slice(0, 40)}" in ${name(e)} has contrast ${ratio.toFixed(2)}:1 (under ${minContrast}:1): ` +
                      `${st.color} on rgb(${bg.slice(0, 3).map(Math.round).join(', ')})`);
    }
    const classes = [...v.querySelectorAll('[class*=lenet-]')].flatMap(e => [...e.classList]).filter(c => c.startsWith('lenet-'));
    return {problems, height: r.height, kind: classes[0] || 'no lenet- class'};
  });
}"""

THEME_IS = "(light) => document.body.dataset.jpThemeLight === String(light)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server (quick mode) on small notebooks of each chapter's widget cells; yields
    (base URL, {chapter: its widgets' cell numbers})."""
    require_browser()
    work = tmp_path_factory.mktemp("layout")
    (work / "notebooks").mkdir()
    cells = {chapter: widget_notebook(chapter, work / "notebooks" / chapter) for chapter in CHAPTERS}
    with lab_server(work, env={"LENET_QUICK": "1", "LENET_OFFLINE": "1"}) as url:
        yield url, cells


@pytest.fixture(scope="module")
def page(lab):
    """One Chromium page for the module."""
    with chromium() as browser:
        page = new_page(browser, *SIZES[0])
        yield page
        page.context.close()


def set_theme(page, theme: str) -> None:
    light = theme == "light"
    if page.evaluate(THEME_IS, light):
        return
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{THEMES[theme]}'}})")
    page.wait_for_function(THEME_IS, arg=light, timeout=30_000)
    page.wait_for_timeout(1000)  # the theme's stylesheet applies


def open_file_browser(page) -> float:
    """Open the file browser at about FILE_BROWSER_PX wide; return its width."""
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_selector("#filebrowser", state="visible", timeout=10_000)
    page.evaluate(f"""() => {{ const panel = document.querySelector('#jp-left-stack');
      const split = window.jupyterapp.shell._hsplitPanel;
      const total = split.node.getBoundingClientRect().width;
      split.setRelativeSizes([{FILE_BROWSER_PX} / total, 1 - {FILE_BROWSER_PX} / total, 0]); }}""")
    page.wait_for_timeout(300)
    return page.evaluate("() => document.querySelector('#jp-left-stack').getBoundingClientRect().width")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[Path(c).stem for c in CHAPTERS])
def test_widgets_fit_every_window_and_theme(lab, page, chapter):
    """Every widget of the chapter, run live, at 1280x720 and 1400x900 with the file browser open,
    in the light and the dark theme: nothing clips or scrolls inside it, no text under 11 px, text
    contrast of at least 4.5:1."""
    url, cells = lab
    stem = Path(chapter).stem
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
    open_notebook(page, url, f"notebooks/{chapter}")
    set_theme(page, "light")
    state = run_all(page, timeout_s=300)
    assert not state["errors"], f"{chapter}'s widget cells show error outputs: {state['errors']}"
    page.wait_for_timeout(3000)  # widgets finish their first drawing
    numbers = cells[chapter]
    problems = {}  # (widget, problem) -> the sizes and themes it shows at, and a screenshot
    shots = artifact("layout")
    shots.mkdir(exist_ok=True)
    for theme in THEMES:
        set_theme(page, theme)
        for width, height in SIZES if theme == "light" else SIZES[::-1]:
            page.set_viewport_size({"width": width, "height": height})
            browser_px = open_file_browser(page)
            assert abs(browser_px - FILE_BROWSER_PX) < 30, f"the file browser is {browser_px:.0f} px wide"
            page.wait_for_timeout(1000)  # re-layout after the resize
            found = page.evaluate(INSPECT, [LIVE_WIDGET, MIN_FONT_PX, MIN_CONTRAST, SLIDER_TRACK])
            assert len(found) == len(numbers), \
                f"{chapter}: {len(found)} live widgets rendered, expected {len(numbers)} (cells {numbers})"
            for n, (cell, widget) in enumerate(zip(numbers, found), start=1):
                name = f"{stem}-widget{n}-{width}x{height}-{theme}.png"
                _screenshot(page, n - 1, widget["height"], width, height, shots / name)
                for problem in widget["problems"]:
                    key = (f"{stem} widget {n} (cell {cell}, {widget['kind']})", problem)
                    problems.setdefault(key, []).append((f"{width}x{height} {theme}", name))
    shutdown_kernel(page, close=False)
    report = [f"{where}: {problem}\n    at {', '.join(c for c, _ in seen)}  [test-artifacts/layout/{seen[0][1]}]"
              for (where, problem), seen in problems.items()]
    assert not report, f"{len(report)} layout problems in {chapter}:\n" + "\n".join(report)


def _screenshot(page, index: int, widget_height: float, width: int, height: int, path: Path) -> None:
    """Screenshot the index-th live widget whole: the window grows taller for the picture when the
    widget is taller than it (the checks ran at the real size; the width stays)."""
    tall = widget_height + 200 > height
    if tall:
        page.set_viewport_size({"width": width, "height": int(widget_height) + 200})
        page.wait_for_timeout(300)
    view = page.locator(LIVE_WIDGET).nth(index)
    view.scroll_into_view_if_needed()
    view.screenshot(path=str(path))
    if tall:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
