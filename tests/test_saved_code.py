"""The code a chapter teaches is written in its cells, marked ``#@save`` (d2l's way), and kept
identical in ``lenet_utils``: this test fails when a saved definition and the package drift apart."""

import ast
import copy
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PACKAGE = ROOT / "lenet_utils"
#: Chapters that teach code, each of which must save at least one definition.
TEACHING_CHAPTERS = ("01", "02", "03", "04", "05", "06")


def _strip_docstrings(node: ast.AST) -> ast.AST:
    """A copy of ``node`` without docstrings (they may differ between chapter and package)."""
    node = copy.deepcopy(node)
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            sub.body = body[1:] or [ast.Pass()]
    return node


def _names(node: ast.stmt) -> list[str]:
    """The names a top-level statement defines ([] for anything that is not a definition)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _fingerprint(node: ast.stmt) -> str:
    return ast.dump(_strip_docstrings(node), annotate_fields=False, include_attributes=False)


def package_definitions(package: Path = PACKAGE) -> dict[str, list[tuple[str, ast.stmt]]]:
    """Every top-level definition of the package: name -> [(module path, node), ...]."""
    found: dict[str, list[tuple[str, ast.stmt]]] = {}
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package.parent).as_posix()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            for name in _names(node):
                found.setdefault(name, []).append((module, node))
    return found


def saved_cells(notebook: Path) -> list[str]:
    """The sources of the code cells whose first line is ``#@save``."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return [s for s in sources if s.lstrip().splitlines()[:1] == ["#@save"]]


def drift(notebook: Path, package: Path = PACKAGE) -> list[str]:
    """One message per saved definition of ``notebook`` that the package lacks or holds differently."""
    chapter = notebook.stem
    definitions = package_definitions(package)
    problems = []
    for source in saved_cells(notebook):
        try:
            tree = ast.parse(source)
        except SyntaxError as err:
            problems.append(f"{chapter}: a #@save cell does not parse ({err})")
            continue
        for node in tree.body:
            names = _names(node)
            if not names:
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    problems.append(f"{chapter}: a #@save cell holds `{ast.unparse(node)[:60]}`, "
                                    f"which is not a definition; move it to a cell of its own")
                continue
            for name in names:
                where = definitions.get(name, [])
                if not where:
                    problems.append(f"{chapter}: `{name}` is saved in the chapter but defined in "
                                    f"no module of lenet_utils; paste it into the module it belongs to")
                elif len(where) > 1:
                    modules = ", ".join(m for m, _ in where)
                    problems.append(f"{chapter}: `{name}` is defined in several modules ({modules}); "
                                    f"a saved name must be unique in the package")
                elif _fingerprint(where[0][1]) != _fingerprint(node):
                    problems.append(f"{chapter}: `{name}` differs from its copy in {where[0][0]}; "
                                    f"make the cell and the package the same code")
    return problems


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_saved_definitions_match_the_package(notebook):
    assert drift(notebook) == []


def test_every_teaching_chapter_saves_its_code():
    saved = {n.stem[:2]: len(saved_cells(n)) for n in NOTEBOOKS}
    assert [c for c in TEACHING_CHAPTERS if not saved.get(c)] == []


#: What chapter 4 builds d2l's loop into, step by step: the fast engine and the pieces it calls.
FAST_ENGINE = ("correct_count", "DeviceAccumulator", "channels_last", "CudaGraphStep", "device_batches",
               "evaluate", "init_weights", "train_step", "train_ch6")


def test_chapter_4_writes_the_fast_train_ch6_in_its_cells():
    chapter = next(n for n in NOTEBOOKS if n.stem.startswith("04"))
    saved = {name for source in saved_cells(chapter) for node in ast.parse(source).body
             for name in _names(node)}
    assert [name for name in FAST_ENGINE if name not in saved] == []


def test_a_saved_name_is_saved_by_one_chapter_only():
    owners: dict[str, list[str]] = {}
    for notebook in NOTEBOOKS:
        for source in saved_cells(notebook):
            for node in ast.parse(source).body:
                for name in _names(node):
                    owners.setdefault(name, []).append(notebook.stem)
    assert {n: c for n, c in owners.items() if len(c) > 1} == {}


def _doctor(notebook: Path, tmp_path: Path, change) -> Path:
    """A copy of ``notebook`` whose first #@save cell is rewritten by ``change(tree)``."""
    copy_path = tmp_path / notebook.name
    shutil.copy(notebook, copy_path)
    nb = json.loads(copy_path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code"
                and "".join(c["source"]).lstrip().splitlines()[:1] == ["#@save"])
    tree = ast.parse("".join(cell["source"]))
    change(tree)
    cell["source"] = "#@save\n" + ast.unparse(tree)
    copy_path.write_text(json.dumps(nb), encoding="utf-8")
    return copy_path


def _first_saved_name(notebook: Path) -> str:
    return next(n for node in ast.parse(saved_cells(notebook)[0]).body for n in _names(node))


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if saved_cells(n)],
                         ids=[n.stem for n in NOTEBOOKS if saved_cells(n)])
def test_a_doctored_cell_is_caught_and_named(notebook, tmp_path):
    def change(tree):  # one more statement in the first definition's body
        node = next(n for n in tree.body if _names(n))
        if hasattr(node, "body"):
            node.body.append(ast.parse("_drifted = 1").body[0])
        else:
            node.value = ast.Constant("drifted")

    name = _first_saved_name(notebook)
    problems = drift(_doctor(notebook, tmp_path, change))
    assert len(problems) == 1
    assert problems[0].startswith(f"{notebook.stem}: `{name}` differs from its copy in lenet_utils/")


def test_a_definition_missing_from_the_package_is_caught(tmp_path):
    notebook = next(n for n in NOTEBOOKS if saved_cells(n))
    problems = drift(_doctor(notebook, tmp_path, lambda tree: tree.body.append(
        ast.parse("def only_in_the_chapter():\n    return 1").body[0])))
    assert problems == [f"{notebook.stem}: `only_in_the_chapter` is saved in the chapter but defined "
                        f"in no module of lenet_utils; paste it into the module it belongs to"]


def test_a_docstring_may_differ(tmp_path):
    notebook = next(n for n in NOTEBOOKS if saved_cells(n) and any(
        isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in ast.parse(saved_cells(n)[0]).body))

    def change(tree):
        node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
        new = ast.Expr(ast.Constant("A docstring the package does not have."))
        first = node.body[0]
        has_docstring = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                         and isinstance(first.value.value, str))
        node.body[0:1] = [new] if has_docstring else [new, first]

    assert drift(_doctor(notebook, tmp_path, change)) == []


def _saved_names(stem: str) -> set[str]:
    return {name for source in saved_cells(ROOT / "notebooks" / f"{stem}.ipynb")
            for node in ast.parse(source).body for name in _names(node)}


def test_make_lenet_is_written_where_it_is_first_used_and_batch_norm_is_not_saved():
    """``make_lenet`` is first used in chapter 3, so chapter 3 writes it; batch norm from scratch is a
    teaching cell in chapter 6, as in d2l: the ladder uses PyTorch's layers."""
    assert {"ACTIVATIONS", "POOLS", "activation_layer", "pooling_layer", "make_lenet"} <= _saved_names(
        "03_lenet_layer_by_layer")
    chapter6 = _saved_names("06_classic_vs_modern")
    assert "run_ladder" in chapter6 and not {"batch_norm", "BatchNorm", "make_lenet"} & chapter6


# ---------------------------------------------------------------- the boundary, both ways


def saved_owners() -> dict[str, str]:
    """Every saved name -> the chapter (notebook stem) whose #@save cell writes it."""
    return {name: notebook.stem for notebook in NOTEBOOKS for source in saved_cells(notebook)
            for node in ast.parse(source).body for name in _names(node)}


def lesson_modules(package: Path = PACKAGE) -> dict[str, set[str]]:
    """The modules a chapter writes (those holding a saved definition) -> the chapters that do."""
    owners, found = saved_owners(), {}
    for name, where in package_definitions(package).items():
        for module, _ in where:
            if name in owners:
                found.setdefault(module, set()).add(owners[name])
    return found


def unsaved_definitions(module: str, package: Path = PACKAGE) -> set[str]:
    """The top-level definitions of a lesson module that no #@save cell writes (dunders aside)."""
    owners = saved_owners()
    return {name for name, where in package_definitions(package).items() for m, _ in where
            if m == module and name not in owners and not (name.startswith("__") and name.endswith("__"))}


def _references(tree: ast.AST) -> set[str]:
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(tree)
            if isinstance(n, (ast.Name, ast.Attribute))}


def code_cells(notebook: Path) -> list[str]:
    """The sources of ``notebook``'s code cells, IPython magics and shell lines left out."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["\n".join(line for line in "".join(c["source"]).splitlines()
                      if not line.lstrip().startswith(("%", "!"))) for c in cells if c["cell_type"] == "code"]


def unused_saved_definitions() -> set[str]:
    """Saved names that nothing outside their own chapter refers to: no other definition of the
    package, no script or benchmark, no other chapter (tests do not count)."""
    owners, used = saved_owners(), set()
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "scripts").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            used |= _references(node) - set(_names(node))
    for notebook in NOTEBOOKS:
        for source in code_cells(notebook):
            used |= {name for name in _references(ast.parse(source)) if owners.get(name) != notebook.stem}
    return set(owners) - used


@pytest.mark.parametrize("module", sorted(lesson_modules()))
def test_a_lesson_module_holds_only_what_a_chapter_writes(module):
    assert unsaved_definitions(module) == set()


def test_every_saved_definition_is_used_outside_its_chapter():
    assert unused_saved_definitions() == set()


def test_the_boundary_test_catches_a_stray_definition(tmp_path):
    package = tmp_path / "lenet_utils"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("sample_data", "results", "weights"))
    with open(package / "train.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef helper_no_chapter_writes():\n    return 1\n")
    assert unsaved_definitions("lenet_utils/train.py", package) == {"helper_no_chapter_writes"}
    assert "lenet_utils/checks.py" not in lesson_modules(package)  # support code is not a lesson module


def chapter_self_imports(notebook: Path) -> set[str]:
    """The modules ``notebook`` writes (holds saved definitions of) that one of its cells imports from."""
    writes = {Path(m).stem for m, chapters in lesson_modules().items() if notebook.stem in chapters}
    imported = set()
    for source in code_cells(notebook):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lenet_utils."):
                imported.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                imported |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lenet_utils.")}
    return writes & imported


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_a_chapter_imports_nothing_from_a_module_it_writes(notebook):
    assert chapter_self_imports(notebook) == set()


def test_the_cells_that_write_train_ch6_are_at_most_80_lines():
    """The engine reads in one sitting: the #@save cells defining ``train_ch6`` (and the step it
    calls), docstrings and imports included."""
    cells = [source for notebook in NOTEBOOKS for source in saved_cells(notebook)
             if {"train_ch6", "train_step"} & {n for node in ast.parse(source).body for n in _names(node)}]
    assert cells and sum(len(source.splitlines()) for source in cells) <= 80
