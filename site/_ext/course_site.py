"""The course site's own Sphinx pieces (loaded by site/_config.yml).

* :func:`read_notebook` reads each committed notebook for the site (MyST-NB's ``nb_custom_formats``),
  without touching the file, which the page offers for download as it is: a widget's cell shows the
  picture the widget saved, below one line saying it runs live in JupyterLab (the widget views, which
  need a kernel, are dropped; the cell gets the tag ``widget-picture``); a solution cell hidden in
  JupyterLab (``source_hidden``) is collapsed behind a toggle (tag ``hide-input``); ``# NBVAL_...``
  lines, which only the tests read, are dropped; a Markdown output's links to a course notebook
  (chapter 0's course map) point to its page, as the Markdown cells' links do.
* Pages carry an empty inline icon: the site has no icon, and a browser's request for one fails.
* The landing page's ``<!-- course map -->`` and ``<!-- setup -->`` become the course map and the
  README's setup commands, from ``scripts/course_map.py``.
"""

import importlib.util
import re
from pathlib import Path

import nbformat
from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
LANDING_PAGE = "site/index"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_TAG = "widget-picture"
NOTEBOOK_LINK = re.compile(r"\]\((\d\d_\w+)\.ipynb\)")
LIVE_NOTE = ("*This is a live widget: in JupyterLab, run the notebook to use it. Below is the "
             "picture it saved.*")


def read_notebook(text: str) -> nbformat.NotebookNode:
    """A notebook as the site shows it (see the module's docstring).

        read_notebook(Path("notebooks/02_shape_arithmetic.ipynb").read_text())
    """
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = "\n".join(line for line in cell.source.split("\n")
                                if not line.lstrip().startswith("# NBVAL_"))
        for out in cell.outputs:
            if "text/markdown" in out.get("data", {}):
                out["data"]["text/markdown"] = NOTEBOOK_LINK.sub(r"](\1.html)", out["data"]["text/markdown"])
        tags = cell.metadata.setdefault("tags", [])
        if cell.metadata.get("jupyter", {}).get("source_hidden"):
            tags.append("hide-input")
        if not any(WIDGET_VIEW in out.get("data", {}) for out in cell.outputs):
            continue
        tags.append(WIDGET_TAG)
        outputs, noted = [], False
        for out in cell.outputs:
            if WIDGET_VIEW in out.get("data", {}):
                if not noted:
                    outputs.append(nbformat.v4.new_output("display_data", {"text/markdown": LIVE_NOTE}))
                    noted = True
                del out["data"][WIDGET_VIEW]
                if not any(key.startswith("image/") for key in out["data"]):
                    continue  # the live view's stand-in text: the note says it instead
            outputs.append(out)
        cell.outputs = outputs
    return nb


def _course_map():
    spec = importlib.util.spec_from_file_location("course_map", ROOT / "scripts" / "course_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill_landing_page(app, docname: str, source: list[str]) -> None:
    """Put the measured course map and the README's setup commands into the landing page."""
    if docname != LANDING_PAGE:
        return
    course_map = _course_map()
    for marker, text in [("<!-- course map -->", course_map.markdown_tables(course_map.course_map(), "../notebooks/")),
                         ("<!-- setup -->", course_map.setup_section())]:
        if marker not in source[0]:
            raise ExtensionError(f"{LANDING_PAGE}.md lacks the line {marker!r} that the course site fills in")
        source[0] = source[0].replace(marker, text)


def no_favicon_request(app, pagename, templatename, context, doctree) -> None:
    """An empty inline icon, so that browsers do not ask the server for /favicon.ico (a 404)."""
    context["metatags"] = context.get("metatags", "") + '\n<link rel="icon" href="data:,">'


def setup(app):
    app.connect("source-read", fill_landing_page)
    app.connect("html-page-context", no_favicon_request)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
