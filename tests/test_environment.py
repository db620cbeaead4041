"""environment.yml (conda) and pyproject.toml (pip) must name the same packages and bounds."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda-forge name where they differ
PIP_ONLY = {"sphinx-mathjax-offline"}  # installed by environment.yml's pip line, not by conda


def requirement(spec: str) -> tuple:
    name, bound = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(.*)", spec).groups()
    return name.lower(), bound.replace(" ", "")


def conda_dependencies() -> tuple:
    packages, pip = {}, []
    in_pip = False
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:\n", 1)[1].splitlines():
        line = line.split("#")[0].rstrip()
        item = re.match(r"(\s*)- (.+)", line)
        if not item:
            continue
        indent, value = len(item.group(1)), item.group(2).strip()
        if value == "pip:":
            in_pip = True
        elif in_pip and indent > 2:
            pip.append(value)
        else:
            in_pip = False
            name, bound = requirement(value)
            packages[name] = bound
    return packages, pip


def test_conda_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["test"] + extras["site"]
    packages, pip = conda_dependencies()
    for spec in wanted:
        name, bound = requirement(spec)
        if name in PIP_ONLY:
            continue
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in packages, f"environment.yml lacks {conda_name} (pyproject needs {spec})"
        assert packages[conda_name] == bound, f"{conda_name}: conda says {packages[conda_name]!r}, pip {bound!r}"
    extra = set(packages) - {CONDA_NAMES.get(requirement(s)[0], requirement(s)[0]) for s in wanted}
    assert extra <= {"python", "pip"}, f"environment.yml has packages pyproject lacks: {extra}"
    assert pip == ['-e ".[test,site]"'], "the conda route installs this package (with its test and site extras) by pip"


def test_conda_environment_uses_conda_forge_only():
    text = (ROOT / "environment.yml").read_text()
    channels = re.search(r"channels:\n((?:\s+- .+\n)+)", text).group(1)
    assert [c.strip("- ").strip() for c in channels.splitlines()] == ["conda-forge"]
