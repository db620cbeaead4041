"""The README's measured figures are the executed chapters' outputs, copied by scripts/update_readme.py."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
update_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(update_readme)


def test_readme_blocks_match_the_executed_notebooks():
    text = update_readme.README.read_text(encoding="utf-8")
    assert update_readme.BLOCK.search(text), "README.md has no block filled from a notebook"
    assert update_readme.COURSE_MAP.search(text), "README.md has no course map block"
    assert update_readme.updated(text) == text, "README.md is out of date: run scripts/update_readme.py"


def test_a_block_is_filled_from_its_tagged_cell(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    cell = {"cell_type": "code", "source": ["print(1)  # demo\n"],
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["measured 1\n"]}]}
    (notebooks / "x.ipynb").write_text('{"cells": [' + __import__("json").dumps(cell) + "]}")
    monkeypatch.setattr(update_readme, "ROOT", tmp_path)
    text = "a\n<!-- from x.ipynb: print(1) -->\nstale\n<!-- end -->\nb\n"
    assert update_readme.updated(text) == "a\n<!-- from x.ipynb: print(1) -->\n```\nmeasured 1\n```\n<!-- end -->\nb\n"
    cell["outputs"][0]["text"] = ["noise\n", "measured 2\n"]
    (notebooks / "x.ipynb").write_text('{"cells": [' + __import__("json").dumps(cell) + "]}")
    text = "<!-- from x.ipynb: print(1) | last 1 -->\nstale\n<!-- end -->\n"
    assert update_readme.updated(text) == "<!-- from x.ipynb: print(1) | last 1 -->\n```\nmeasured 2\n```\n<!-- end -->\n"
