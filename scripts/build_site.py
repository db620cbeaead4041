"""Build the course site (Jupyter Book 1) from the committed, executed notebooks, without running them.

    pip install -e ".[site]"
    python scripts/build_site.py             # -> build/site/_build/html/index.html
    python scripts/build_site.py OUT_DIR     # -> OUT_DIR/_build/html/index.html

Settings, reading order and landing page live in ``site/``; warnings fail the build.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
DEFAULT_OUT = ROOT / "build" / "site"  # git-ignored


def build(out: Path = DEFAULT_OUT) -> Path:
    """Build the site into ``out``; return the folder holding its ``index.html``."""
    subprocess.run([sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(ROOT), "--config", str(SITE / "_config.yml"),
                    "--toc", str(SITE / "_toc.yml"), "--path-output", str(out), "-W", "-n", "--keep-going"],
                   check=True, cwd=ROOT)
    return out / "_build" / "html"


if __name__ == "__main__":
    html = build(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_OUT)
    print(f"The site: {html / 'index.html'}")
