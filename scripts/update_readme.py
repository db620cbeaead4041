"""Copy measured figures from the executed chapters into README.md (never typed in by hand).

    python scripts/update_readme.py          # rewrite the marked blocks
    python scripts/update_readme.py --check  # exit 1 if README.md is out of date

A block in README.md sits between ``<!-- from NOTEBOOK: CODE -->`` and ``<!-- end -->``; it is filled
with the output of the one code cell of ``notebooks/NOTEBOOK`` whose source contains ``CODE`` (its
Markdown output if it has one, else its printed text as a code block; ``<!-- from NOTEBOOK: CODE |
last N -->`` keeps the last N printed lines only). The block between ``<!-- course map -->`` and
``<!-- end -->`` is the course map that ``scripts/course_map.py`` measures from the notebooks.
"""

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"(?P<head><!-- from (?P<nb>[\w.]+): (?P<code>.+?)(?: \| last (?P<last>\d+))? -->\n)"
                   r"(?P<body>.*?)(?P<end><!-- end -->)", re.S)


def cell_output(notebook: str, marker: str, last: int = 0) -> str:
    """The output of the code cell whose source contains ``marker`` in the executed notebook
    (only its last ``last`` printed lines when ``last`` > 0)."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if c["cell_type"] == "code" and marker in "".join(c["source"])]
    if len(tagged) != 1:
        raise SystemExit(f"{notebook}: expected one cell marked '{marker}', found {len(tagged)}")
    outputs = tagged[0].get("outputs", [])
    for out in outputs:
        if "text/markdown" in out.get("data", {}):
            return "".join(out["data"]["text/markdown"]).strip() + "\n"
    text = "".join("".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream")
    if not text:
        raise SystemExit(f"{notebook}: the cell marked '{marker}' has no output; execute the notebook first")
    lines = text.rstrip().splitlines()
    return "```\n" + "\n".join(lines[-last:] if last else lines) + "\n```\n"


COURSE_MAP = re.compile(r"(?P<head><!-- course map -->\n)(?P<body>.*?)(?P<end><!-- end -->)", re.S)


def course_map_tables() -> str:
    """The course map as Markdown tables, linked from the README (``scripts/course_map.py``)."""
    spec = importlib.util.spec_from_file_location("course_map", Path(__file__).with_name("course_map.py"))
    course_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course_map)
    return course_map.markdown_tables(course_map.course_map(ROOT / "notebooks"), "notebooks/")


def updated(readme: str) -> str:
    readme = BLOCK.sub(lambda m: m["head"] + cell_output(m["nb"], m["code"], int(m["last"] or 0)) + m["end"], readme)
    return COURSE_MAP.sub(lambda m: m["head"] + course_map_tables() + m["end"], readme)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether README.md is up to date")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    new = updated(text)
    if args.check:
        print("README.md is up to date" if new == text else "README.md is out of date: run scripts/update_readme.py")
        return int(new != text)
    README.write_text(new, encoding="utf-8")
    print(f"README.md: {len(BLOCK.findall(text))} block(s) filled from the notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
