"""The course map: per notebook, in reading order, its title, reading minutes, running minutes,
what it assumes and what a learner can do after it.

    python scripts/course_map.py        # a table, measured from the committed notebooks

Reading minutes count the markdown cells' words at 200 a minute plus 20 seconds for each picture
in the outputs (a figure, a table drawn as an image, a widget's saved picture). Running minutes add
up each code cell's time from busy to idle, read from the ``execution`` timestamps that executing a
notebook (``jupyter nbconvert --execute``) stores in its cells; the chapters are committed executed
in full mode. The course site's landing page is this map (``site/_ext/course_site.py``), so its
numbers are measured, never typed. Notebooks ``00``-``09`` are the setup and the chapters; ``10``
and above are the going-further notebooks. What a notebook assumes and what it leaves a learner
able to do are the two sentences in its metadata, ``{"lenet_course": {"assumes": ..., "after":
...}}``, kept with the notebook they describe. The README's chapter table is this map too
(``scripts/update_readme.py`` fills it), and so is chapter 0's.
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
WORDS_PER_MINUTE = 200
SECONDS_PER_PICTURE = 20
WORD = re.compile(r"\w[\w'’-]*")  # a word of prose; markdown's #, *, | and - are not
FIRST_GOING_FURTHER = 10  # notebooks numbered from here on go further than the core chapters


@dataclass(frozen=True)
class Entry:
    """One notebook of the course map."""

    path: Path
    title: str
    words: int
    pictures: int
    running_s: float
    assumes: str = ""
    after: str = ""

    @property
    def going_further(self) -> bool:
        return int(self.path.name[:2]) >= FIRST_GOING_FURTHER

    @property
    def reading_min(self) -> float:
        return self.words / WORDS_PER_MINUTE + self.pictures * SECONDS_PER_PICTURE / 60


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course's notebooks in reading order: ``NN_name.ipynb`` sorted by name."""
    return sorted(p for p in folder.glob("*.ipynb") if re.fullmatch(r"\d\d_\w+\.ipynb", p.name))


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def measure(path: Path, require_times: bool = True) -> Entry:
    """The course-map entry of one executed notebook; a ValueError naming the notebook and cell
    when a code cell has no execution timestamps (execute the notebook, README 'Executing a
    chapter'). With ``require_times=False`` an unexecuted cell counts as 0 s, and the entry's
    ``running_s`` is NaN (a notebook still being written: its reading minutes are what count)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    about = notebook.get("metadata", {}).get("lenet_course", {})
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    title = next((m.group(1).strip() for text in markdown
                  for m in [re.search(r"^# (.+)$", text, re.M)] if m), path.stem)
    pictures, running_s = 0, 0.0
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        pictures += sum(any(k.startswith("image/") for k in out.get("data", {}))
                        for out in cell.get("outputs", []))
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.status.busy" not in timing or "iopub.status.idle" not in timing:
            if not require_times:
                running_s = math.nan
                continue
            raise ValueError(f"{path.name}: code cell {index} has no execution timestamps; execute the "
                             "notebook top to bottom (README, 'Executing a chapter') and commit it")
        running_s += (_when(timing["iopub.status.idle"]) - _when(timing["iopub.status.busy"])).total_seconds()
    words = sum(len(WORD.findall(text)) for text in markdown)
    return Entry(path, title, words, pictures, running_s, about.get("assumes", ""), about.get("after", ""))


def course_map(folder: Path = NOTEBOOKS) -> list[Entry]:
    """Every course notebook's entry, in reading order."""
    return [measure(p) for p in course_notebooks(folder)]


def minutes(value: float) -> str:
    """Minutes as the map prints them: ``"<1"``, ``"4"``, ``"12"``; ``"?"`` for a notebook not yet
    executed (NaN)."""
    return "?" if math.isnan(value) else "<1" if value < 0.5 else f"{value:.0f}"


def setup_section(readme: Path = README) -> str:
    """The README's 'Setup: two commands' section, without its heading (one home for the commands)."""
    found = re.search(r"^## Setup: two commands\n(.*?)(?=^## )", readme.read_text(encoding="utf-8"), re.M | re.S)
    if not found:
        raise ValueError(f"{readme} has no '## Setup: two commands' section for the course map to show")
    return found.group(1).strip() + "\n"


def markdown_tables(entries: list[Entry], link_prefix: str = "notebooks/") -> str:
    """The map as Markdown: one table for the chapters, one for the going-further notebooks (or a
    line saying there are none yet); each title links to ``link_prefix + NAME.ipynb``.

        markdown_tables(course_map(), "notebooks/")   # the README; chapter 0 passes ""
    """
    header = ("| notebook | reading (min) | running in full mode (min) | assumes | after it you can |\n"
              "|---|--:|--:|---|---|\n")
    parts = []
    for heading, group in [("Chapters", [e for e in entries if not e.going_further]),
                           ("Going further", [e for e in entries if e.going_further])]:
        rows = "".join(f"| [{e.title}]({link_prefix}{e.path.name}) | {minutes(e.reading_min)} | "
                       f"{minutes(e.running_s / 60)} | {e.assumes or '—'} | {e.after or '—'} |\n" for e in group)
        parts.append(f"### {heading}\n\n" + (header + rows if group else "None yet.\n"))
    total_read = sum(e.reading_min for e in entries)
    total_run = sum(e.running_s for e in entries) / 60
    parts.append(f"In all: about {minutes(total_read)} minutes of reading and {minutes(total_run)} "
                 f"minutes of running in full mode. Reading counts {WORDS_PER_MINUTE} words a minute "
                 f"and {SECONDS_PER_PICTURE} seconds a picture; running adds up the cells' times "
                 "stored in each committed notebook by its full-mode execution.\n")
    return "\n".join(parts)


def main() -> None:
    entries = [measure(p, require_times=False) for p in course_notebooks()]
    print(f"{'notebook':<44} {'words':>6} {'pictures':>8} {'reading min':>11} {'running min':>11}")
    for e in entries:
        print(f"{e.path.name:<44} {e.words:>6} {e.pictures:>8} {e.reading_min:>11.1f} {e.running_s / 60:>11.1f}")


if __name__ == "__main__":
    main()
