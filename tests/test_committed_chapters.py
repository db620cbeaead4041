"""What a reader sees in the committed chapters: a picture of every widget, no warnings.

A chapter is read without a kernel in three places: a static HTML export (``jupyter nbconvert --to
html``, also what nbviewer shows), GitHub, and JupyterLab before anything runs (there the notebook is
untrusted, so widget views are not rendered). Each widget's cell therefore holds, beside the live
widget, a PNG of its state (``lenet_utils.widgets.saved_picture.SavedPicture``). These tests read the
committed chapters: every cell with a live widget shows an image in the HTML export, no output says
``...(children=`` (ipywidgets' text for a widget), and no chapter stores widget state in its metadata
(with it, the export would draw an empty box for the live widget, fetched from a CDN). The browser
tests check the unrun chapter in JupyterLab. And no chapter shows its reader a warning or anything
on stderr.
"""

import json
import re
from pathlib import Path

import pytest
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def live_widget_cells(nb: dict) -> list[dict]:
    """Code cells with an output showing a live widget (a widget view naming a model)."""
    return [c for c in nb["cells"] if c["cell_type"] == "code"
            and any(o.get("data", {}).get(WIDGET_VIEW, {}).get("model_id") for o in c.get("outputs", []))]


def cell_html(page: str, cell_id: str) -> str:
    """The part of an nbconvert HTML page that renders the cell ``cell_id``."""
    start = page.index(f'id="cell-id={cell_id}"')
    end = page.find('id="cell-id=', start + 1)
    return page[start:end if end > 0 else len(page)]


WIDGET_CHAPTERS = [p for p in NOTEBOOKS if live_widget_cells(json.loads(p.read_text(encoding="utf-8")))]


def test_the_widget_chapters_are_found():
    assert [p.name[:2] for p in WIDGET_CHAPTERS] == ["02", "03", "04", "05", "12"]


@pytest.mark.parametrize("notebook", WIDGET_CHAPTERS, ids=[p.stem for p in WIDGET_CHAPTERS])
def test_html_export_shows_an_image_for_every_widget(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    page, _ = HTMLExporter().from_filename(str(notebook))
    for cell in live_widget_cells(nb):
        shown = cell_html(page, cell["id"])
        assert "<img" in shown and "data:image/png;base64," in shown, \
            f"{notebook.name}: the HTML export shows no picture for the widget of cell {cell['id']!r}"
    assert f'<script type="{WIDGET_VIEW}">' not in page, \
        f"{notebook.name}: the export would fetch the live widget from a CDN (an empty box offline)"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_output_shows_a_widget_as_python_text(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("data", {}).get("text/plain", "")) + "".join(output.get("text", ""))
            assert not re.search(r"\w\(children=", text), \
                f"{notebook.name}, cell {cell.get('id')}: an output reads {text[:80]!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapters_store_no_widget_state(notebook):
    metadata = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]
    assert "widgets" not in metadata, (
        f"{notebook.name} stores widget state; execute it with "
        "--ExecutePreprocessor.store_widget_state=False (see README, 'Executing a chapter')")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_chapter_shows_a_warning(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", ""))
            assert output.get("name") != "stderr" and "Warning" not in text, \
                f"{notebook.name}, cell {cell.get('id')} shows {text[:120]!r}: fix its cause"
