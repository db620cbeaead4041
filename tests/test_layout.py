"""The package's shape: one idea per module (sized by its idea, no line limit), no import cycles,
typed public API, every module named in the README."""

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import lenet_utils

PACKAGE = Path(lenet_utils.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path: Path) -> set[str]:
    """The lenet_utils modules that ``path`` imports at module level or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[:len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                          or (PACKAGE.parent / candidate.replace(".", "/")).is_dir() else target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lenet_utils"):
            found.add(node.module)
    return {f for f in found if f != name}


def test_no_import_cycles():
    graph = {_module_name(p): _imports_of(p) for p in MODULES}
    for name in graph:  # the package __init__ re-exports; cycles through it do not count
        graph[name].discard("lenet_utils")
    cycles = []

    def visit(node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt in graph and len(path) < 20:
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    assert cycles == []


def _public_functions():
    for info in pkgutil.walk_packages(lenet_utils.__path__, "lenet_utils."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj):
                for meth_name, meth in vars(obj).items():
                    if inspect.isfunction(meth) and not meth_name.startswith("_") :
                        yield f"{module.__name__}.{name}.{meth_name}", meth


#: d2l's code is saved as the book writes it (chapter 4): no type hints there.
AS_THE_BOOK_WRITES_IT = ("lenet_utils.plain_loop.",)


def test_public_functions_have_type_hints():
    missing = []
    for qualname, fn in _public_functions():
        if qualname.startswith(AS_THE_BOOK_WRITES_IT):
            continue
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values()
                  if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if any(p.annotation is p.empty for p in params) or sig.return_annotation is sig.empty:
            missing.append(qualname)
    assert missing == []


def test_readme_names_every_module():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| module | its one idea |"):]
    for path in MODULES:
        name = _module_name(path).removeprefix("lenet_utils").lstrip(".").replace(".", "/")
        if name in ("", "widgets"):
            continue
        shown = name + "/" if path.name == "__init__.py" else name
        assert f"`{shown}`" in table, f"README's module table lacks {shown}"
