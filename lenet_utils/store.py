"""Keep long experiments across kernel restarts: their results as files (the course writes JSON/CSV).

    result = stored("ladder", settings, lambda: run_ladder(...), LadderResult.save, LadderResult.load)

The first call runs the experiment and saves it under ``data/results/<name>-<key>/``
(``LENET_RESULTS_DIR`` moves that folder; ``name`` is a plain folder name, never a path); a later
call with the same key loads it at once and says so, and ``retrain=True`` runs it again. The key is
a hash of what the run receives:

* ``settings``: everything the caller decides (data sizes, epochs, seeds, recipe), by content: a
  function or class by its name and code, a ``functools.partial`` by its function and arguments, a
  tensor by a hash of its values, a set sorted, any other object by its fields; what it cannot key
  (a generator, an open file) is refused with a message, never keyed by its text;
* the data: the tensors ``run`` is handed (its closure and the names it reads, through lists, dicts
  and objects: a ``TensorLoader``'s images and labels) by a hash of their values, and where each
  course data set is found now (:func:`data_sources`), for a run that loads its own;
* the code: :func:`code_fingerprint` of ``run``, so editing a ``#@save`` cell (or the package
  function it calls, or the class of an object it uses, or a function in a dict it reads) trains again.

Only a whole result is stored: a result that says it is not ``complete`` (a run in it was
interrupted by Ctrl-C, stopped or failed; :class:`~lenet_utils.sweep_results.SweepResult`,
:class:`~lenet_utils.ladder.LadderResult` and the paper run's dict say so) is handed back with a
message that nothing was stored. A save writes into a temporary folder that replaces the old one
only once ``meta.json`` (which lists every file with its size and SHA-256) is written: a save cut
short, Ctrl-C included, leaves the previous result whole and still hands back the new one. A folder
whose files are missing, cut short, changed or named outside it, or that ``load`` cannot read, is
trained again with one message saying why, never half-loaded.

Results that ship with the course sit in ``lenet_utils/results/`` (:data:`SHIPPED_DIR`), found by
the settings and the data's kind and size, without any machine path: ``stored`` looks there when
this machine has no result of its own and loads one only when it was made by the same package code
(:func:`package_fingerprint`: a notebook's unedited copy of a ``#@save`` function counts as the
package's) on the same tensors; otherwise it says why and trains here. :func:`ship` copies a
finished result there and :func:`stamp_shipped` re-stamps one after a check that today's code
reproduces it (``scripts/ship_results.py``).
"""

import dis
import enum
import functools
import hashlib
import inspect
import io
import json
import os
import shutil
import sys
import time
import types
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from types import CodeType, ModuleType
from typing import TypeVar

import numpy as np
import torch

from .sources import DATASETS, IDX_FILES, DataNotFoundError, default_data_dir, find_data, idx_shape, raw_file

__all__ = ["RESULTS_ENV", "SHIPPED_DIR", "results_dir", "stored", "ship", "stamp_shipped", "data_sources",
           "code_fingerprint", "package_fingerprint", "tensors_fingerprint"]

RESULTS_ENV = "LENET_RESULTS_DIR"  #: environment variable: where stored results live
META = "meta.json"  #: the file written last, listing what the save wrote
SHIPPED_DIR = Path(__file__).resolve().parent / "results"  #: results that ship with the course (tracked)
T = TypeVar("T")
_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"  # code fingerprints hash its bytecode


def results_dir() -> Path:
    """``LENET_RESULTS_DIR`` if set, else ``results/`` in the project's (git-ignored) data folder."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else default_data_dir() / "results"


def _check_name(name: object) -> str:
    """``name`` when it is a plain folder name; ValueError when it could lead out of its folder."""
    if (not isinstance(name, str) or not name.strip() or name.startswith(".")
            or any(c in name for c in "/\\\0") or PurePath(name).is_absolute()):
        raise ValueError(f"The name {name!r} is not a plain folder name: give text without '/', '\\' or a "
                         f"leading '.', e.g. 'ladder' (it names the result's folder inside the results folder).")
    return name


def _inside(folder: Path, name: object) -> Path:
    """``folder / name`` for a file ``name`` that stays inside ``folder`` (links followed);
    ValueError otherwise."""
    path = folder / name if isinstance(name, str) and name else None
    if (path is None or PurePath(name).is_absolute() or ".." in PurePath(name).parts
            or not path.resolve().is_relative_to(folder.resolve())):
        raise ValueError(f"{META} names the file {name!r}, which leads out of its folder")
    return path


# ---------------------------------------------------------------- what the key is made of


def data_sources() -> dict:
    """Where each course data set would be read from now, without downloading or loading it.

    ``{"mnist": {"kind": "full", "root": "/data", "counts": [60000, 10000]}, ..., "cifar10": None}``:
    kind and root from :func:`~lenet_utils.sources.find_data`, the training and test image counts
    from the IDX headers (MNIST family), ``None`` for a set not found.
    """
    found = {}
    for name, info in DATASETS.items():
        try:
            source = find_data(name, allow_download=False)
        except DataNotFoundError:
            found[name] = None
            continue
        found[name] = {"kind": source.kind, "root": str(source.root)}
        if info.idx:
            raw = source.root / info.folder / "raw"
            shapes = [idx_shape(raw_file(raw, images)) for images, _ in IDX_FILES.values()]
            found[name]["counts"] = [shape[0] if shape else None for shape in shapes]
    return found


def code_fingerprint(obj: Callable) -> str:
    """A hash of ``obj``'s code and of all the code it reaches that a notebook (``__main__``) or
    ``lenet_utils`` defines: functions and classes named in its globals or closure, the classes of
    our objects it uses, and functions held in the lists, dicts and objects it reads, recursively.

    Editing any of them changes the hash; docstrings, comments and line numbers do not, and
    Python's library and torch are not followed. ``code_fingerprint(lambda: run_ladder(...))``
    changes when ``run_ladder`` or ``train_ch6`` changes.
    """
    digest = hashlib.sha256()
    _feed_code_of(obj, digest.update, set(), twins=False, root=True)
    return digest.hexdigest()[:16]


def package_fingerprint(run: Callable) -> str:
    """A hash of the code ``run`` reaches (not of ``run`` itself, the cell's glue): what a shipped
    result is stamped with. A notebook's copy of a package function, as the ``#@save`` cell wrote
    it, counts as the package's own; an edited copy counts by its code, so it trains here.

    ``package_fingerprint(lambda: train_lenet5_paper(num_epochs=20))`` is the same in chapter 6
    and in a script.
    """
    parts = set()
    for value in _received(run):
        digest = hashlib.sha256()
        fed = []
        _feed_reached(value, lambda data: fed.append(1) or digest.update(data), set(), twins=True)
        if fed:  # values without code (numbers, text, tensors) are the settings' and the data's part
            parts.add(digest.hexdigest())
    return hashlib.sha256(" ".join(sorted(parts)).encode()).hexdigest()[:16]


def tensors_fingerprint(run: Callable) -> str:
    """A hash of the values of every tensor ``run`` is handed: in its closure and the globals it
    reads, through lists, tuples, dicts and objects' fields (a ``TensorLoader``'s ``X`` and ``y``).
    Where a tensor sits does not count, only its dtype, shape and values.
    """
    digests: list[str] = []
    seen: set[int] = set()
    for value in _received(run):
        _collect_tensors(value, digests, seen, depth=0)
    return hashlib.sha256(" ".join(sorted(digests)).encode()).hexdigest()[:16]


def _received(run: Callable) -> list:
    """What ``run`` is handed: a partial's arguments, a method's object, the values in its closure
    and those of the global names its code reads (nested functions included)."""
    values = []
    while isinstance(run, functools.partial) or inspect.ismethod(run):
        if inspect.ismethod(run):
            values.append(run.__self__)
            run = run.__func__
        else:
            values += [*run.args, *run.keywords.values()]
            run = run.func
    run = inspect.unwrap(run)
    if not inspect.isfunction(run):
        return [*values, run]
    values += _closure_values(run)
    names = list(_global_loads(run.__code__))
    return values + [run.__globals__[name] for name in dict.fromkeys(names) if name in run.__globals__]


def _ours(obj: object) -> bool:
    """Defined in a notebook (``__main__``) or in ``lenet_utils``: code the fingerprint follows."""
    module = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None) or ""
    return isinstance(module, str) and (module == "__main__" or module.split(".")[0] == "lenet_utils")


def _is_code(obj: object) -> bool:
    """A function, method, partial, decorated function or class: what the fingerprint hashes."""
    return (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)
            or isinstance(obj, functools.partial) or hasattr(obj, "__wrapped__"))


def _feed_code_of(obj, feed: Callable[[bytes], None], seen: set, twins: bool, root: bool = False) -> None:
    """Feed ``obj``'s code (function, method, partial or class) and what it reaches to ``feed``:
    all of it for ours or the ``root``, the name for others; ``twins``: a notebook's unedited copy
    of a package function stands for the package's."""
    if isinstance(obj, functools.partial):
        _feed_code_of(obj.func, feed, seen, twins, root)
        feed(_loose_text((obj.args, obj.keywords)).encode())
        return
    if inspect.ismethod(obj):
        _feed_reached(obj.__self__, feed, seen, twins)
    obj = inspect.unwrap(getattr(obj, "__func__", obj))  # methods, decorated functions
    if twins:
        obj = _twin(obj)
    feed(_name(obj).encode())
    if id(obj) in seen or not (root or _ours(obj)):  # reached a second way, or not ours: its name is enough
        return
    seen.add(id(obj))
    if inspect.isfunction(obj):
        _feed_code(obj.__code__, obj.__globals__, feed, seen, twins, doc=obj.__doc__)
        feed(_loose_text((obj.__defaults__, obj.__kwdefaults__)).encode())
        for value in _closure_values(obj):
            _feed_reached(value, feed, seen, twins)
    elif inspect.isclass(obj):
        for base in obj.__bases__:
            if _ours(base):
                _feed_code_of(base, feed, seen, twins)
        for attr, value in sorted(vars(obj).items()):
            value = getattr(value, "__func__", None) or getattr(value, "fget", None) or value
            if _is_code(value) and _ours(value):  # methods, static/class methods, properties
                _feed_code_of(value, feed, seen, twins)
            elif not attr.startswith("__"):  # class constants and dataclass defaults
                feed(f"{attr}={_loose_text(value)}".encode())


def _feed_reached(value, feed, seen: set, twins: bool, depth: int = 0) -> None:
    """Feed the code inside a value a function reaches: a function or class of ours, the class of
    an object of ours and what its fields hold, what lists, tuples, sets and dicts hold."""
    if _is_code(value):
        if _ours(value) or isinstance(value, functools.partial) or inspect.ismethod(value):
            _feed_code_of(value, feed, seen, twins)
        return
    if depth > 6 or id(value) in seen or isinstance(value, (str, bytes, int, float, torch.Tensor, np.ndarray)):
        return
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, (set, frozenset)):
        items = sorted(value, key=lambda item: _name(item) if _is_code(item) else "")
    elif not isinstance(value, ModuleType) and _ours(type(value)):
        seen.add(id(value))
        _feed_code_of(type(value), feed, seen, twins)
        items = list((_fields(value) or {}).values())
    else:
        return
    seen.add(id(value))
    for item in items:
        _feed_reached(item, feed, seen, twins, depth + 1)


def _twin(obj):
    """The package function a notebook function is an unedited copy of (same name, code, defaults,
    and the same functions behind the names it reads), else ``obj`` itself."""
    if not inspect.isfunction(obj) or obj.__module__ != "__main__" or obj.__closure__:
        return obj
    for module in [m for n, m in list(sys.modules.items()) if n.split(".")[0] == "lenet_utils"]:
        candidate = vars(module).get(obj.__name__)
        if (inspect.isfunction(candidate) and candidate.__module__ == module.__name__
                and candidate.__qualname__ == obj.__qualname__ and _same_function(obj, candidate)):
            return candidate
    return obj


def _same_function(copy, original) -> bool:
    def shallow(func) -> str:
        digest = hashlib.sha256()
        _feed_code(func.__code__, {}, digest.update, set(), False, doc=func.__doc__)
        digest.update(_loose_text((func.__defaults__, func.__kwdefaults__)).encode())
        return digest.hexdigest()

    if original.__closure__ or shallow(copy) != shallow(original):
        return False
    for name in set(_global_loads(copy.__code__)):
        mine, theirs = copy.__globals__.get(name), original.__globals__.get(name)
        if mine is theirs or (_is_code(mine) and _twin(mine) is theirs):
            continue
        try:
            if _is_code(mine) or _is_code(theirs) or isinstance(mine, ModuleType) or not bool(mine == theirs):
                return False
        except Exception:  # noqa: BLE001 - values that cannot say whether they are equal: not the same
            return False
    return True


def _global_loads(code: CodeType) -> Iterator[str]:
    """The global names a code object (nested ones included) reads."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            yield instruction.argval
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _global_loads(const)


def _feed_code(code: CodeType, globals_: dict, feed, seen: set, twins: bool, doc: str | None = None) -> None:
    """Feed one code object: its instructions, names and constants (nested functions included; the
    docstring ``doc`` counts as none), then what the global names it loads stand for (an attribute
    name such as ``rung.name`` is not looked up among the globals)."""
    feed(_instructions(code).encode())
    feed(" ".join(code.co_names).encode())
    consts = code.co_consts
    if doc is not None and consts[:1] == (doc,):
        consts = (None, *consts[1:])  # where Python keeps None when there is no docstring
    for const in consts:
        if isinstance(const, CodeType):
            _feed_code(const, globals_, feed, seen, twins)
        else:
            feed(_const_text(const).encode())
    loaded = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for name in (name for name in code.co_names if name in loaded):  # not `rung.name`'s attribute
        value = globals_.get(name)
        if isinstance(value, ModuleType) and _ours(value):  # lu.pick(...): its attributes used here
            for member in (getattr(value, attr, None) for attr in code.co_names):
                if _is_code(member) and _ours(member):
                    _feed_code_of(member, feed, seen, twins)
        elif value is not None:
            _feed_reached(value, feed, seen, twins)


def _instructions(code: CodeType) -> str:
    """A code object's instructions as text that the same source gives in a module and in a notebook
    cell: Python 3.11 compiles ``torch.f()`` one way where the same file imports ``torch`` and
    another where it does not, so a method load counts as an attribute load and a jump by the
    instruction it goes to."""
    instructions = list(dis.get_instructions(code))
    index = {instruction.offset: n for n, instruction in enumerate(instructions)}
    lines = []
    for instruction in instructions:
        if instruction.opcode in dis.hasjrel or instruction.opcode in dis.hasjabs:
            arg = f"-> {index.get(instruction.argval)}"
        elif instruction.opcode in dis.hasconst:  # the constants are fed on their own
            arg = str(instruction.arg)
        else:
            arg = instruction.argval if isinstance(instruction.argval, str) else str(instruction.arg)
        lines.append(f"{'LOAD_ATTR' if instruction.opname == 'LOAD_METHOD' else instruction.opname} {arg}")
    return "\n".join(lines)


def _closure_values(func) -> list:
    values = []
    for cell in func.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # a cell not yet filled
            pass
    return values


def _fields(obj: object) -> dict | None:
    """An object's fields (``vars``, or its ``__slots__``), None when it has neither."""
    fields = getattr(obj, "__dict__", None)
    slots = [s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ()) if hasattr(obj, s)]
    if fields is None and not slots:
        return None
    return {**{s: getattr(obj, s) for s in slots if s not in ("__dict__", "__weakref__")}, **(fields or {})}


def _name(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _const_text(const: object) -> str:
    """A constant as text, the same in every process (a frozenset's order is not)."""
    if isinstance(const, frozenset):
        return f"frozenset({sorted(map(_const_text, const))})"
    if isinstance(const, tuple):
        return f"({', '.join(map(_const_text, const))})"
    return repr(const)


def _code_text(value: object) -> str:
    """A function or class as key text: ours by name and code, others by name."""
    return f"{_name(value)}@{code_fingerprint(value)}" if _ours(value) else _name(value)


_DIGESTS: dict[int, tuple] = {}  # id -> (weak reference, version, digest): a tensor is hashed once


def _tensor_digest(tensor: torch.Tensor) -> str:
    """A hash of a tensor's dtype, shape and values (a dense copy on the CPU; cached per version)."""
    cached = _DIGESTS.get(id(tensor))
    if cached and cached[0]() is tensor and cached[1] == tensor._version:
        return cached[2]
    data = tensor.detach().cpu().contiguous().reshape(-1)
    digest = hashlib.sha256(f"{data.dtype} {tuple(tensor.shape)} ".encode())
    if data.numel():
        digest.update(memoryview(data.view(torch.uint8).numpy()))
    text = digest.hexdigest()[:32]
    _DIGESTS[id(tensor)] = (weakref.ref(tensor), tensor._version, text)
    return text


def _array_digest(array: np.ndarray) -> str:
    data = np.ascontiguousarray(array)
    return hashlib.sha256(f"{data.dtype} {data.shape} ".encode() + data.tobytes()).hexdigest()[:32]


def _collect_tensors(value, digests: list, seen: set, depth: int) -> None:
    if isinstance(value, torch.Tensor):
        digests.append(_tensor_digest(value))
        return
    if isinstance(value, np.ndarray):
        digests.append(_array_digest(value))
        return
    if (depth > 6 or id(value) in seen or value is None or _is_code(value)
            or isinstance(value, (str, bytes, int, float, ModuleType, type))):
        return
    seen.add(id(value))
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        items = list((_fields(value) or {}).values())
    for item in items:
        _collect_tensors(item, digests, seen, depth + 1)


class _Unkeyable(TypeError):
    """A value the key cannot be built from."""


def _canonical(value: object, where: str, _path: tuple = ()) -> object:
    """``value`` as plain JSON data that stands for its content (see the module docstring); raises
    :class:`_Unkeyable` naming ``where`` for what it cannot stand for. JSON data comes back as it is."""
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value
    if id(value) in _path:
        raise _Unkeyable(f"{where} holds itself, which a key cannot be built from")
    path = (*_path, id(value))
    if isinstance(value, dict):
        items = [(k, _canonical(v, f"{where}[{k!r}]", path)) for k, v in value.items()]
        if all(isinstance(k, str) for k, _ in items):
            return dict(items)
        pairs = [[_canonical(k, f"{where} key {k!r}", path), v] for k, v in items]
        return {"<dict>": sorted(pairs, key=lambda pair: _dumps(pair[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]", path) for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return {"<set>": sorted((_canonical(v, f"{where} item", path) for v in value), key=_dumps)}
    if isinstance(value, functools.partial):
        return {"<partial>": _canonical(value.func, f"{where}.func", path),
                "args": _canonical(value.args, f"{where}.args", path),
                "keywords": _canonical(value.keywords, f"{where}.keywords", path)}
    if _is_code(value):
        return _code_text(value)
    if isinstance(value, torch.Tensor):
        return {"<tensor>": _tensor_digest(value)}
    if isinstance(value, np.ndarray):
        return {"<array>": _array_digest(value)}
    if isinstance(value, np.generic):
        return _canonical(value.item(), where, path)
    if isinstance(value, enum.Enum):
        return f"{_name(type(value))}.{value.name}"
    if isinstance(value, (int, float)):  # subclasses of int and float, such as numpy's float64
        return _canonical(int(value) if isinstance(value, int) else float(value), where, path)
    if isinstance(value, (PurePath, torch.device, torch.dtype)):
        return str(value)
    fields = _fields(value)
    if (fields is None or isinstance(value, (ModuleType, io.IOBase, types.GeneratorType))
            or hasattr(value, "__next__")):
        kind = {types.GeneratorType: "a generator"}.get(type(value), f"a {type(value).__qualname__}")
        raise _Unkeyable(f"{where} is {kind}, which a key cannot be built from")
    return {"<object>": _code_text(type(value)), "fields": _canonical(fields, f"{where}.fields", path)}


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _loose_text(value: object) -> str:
    """Key text for the values inside code (defaults, class constants): by content where
    :func:`_canonical` can, else by type."""
    try:
        return _dumps(_canonical(value, "value"))
    except (_Unkeyable, TypeError, ValueError, RuntimeError):
        return f"<{_name(type(value))}>"


def _key(settings: dict, run: Callable) -> dict:
    return {"settings": _canonical(settings, "settings"), "data": data_sources(),
            "tensors": tensors_fingerprint(run), "code": code_fingerprint(run)}


def _shipped_key(key: dict) -> dict:
    """The part of a key that names a shipped folder on every machine: the settings and each data
    set's kind and image counts, without its folder (the data root); the code and the tensors are
    checked against the shipped ``meta.json`` instead."""
    data = {name: None if found is None else {k: v for k, v in found.items() if k != "root"}
            for name, found in key["data"].items()}
    return {"settings": key["settings"], "data": data}


def _folder(name: str, key: dict, parent: Path | None = None) -> Path:
    text = json.dumps(key, sort_keys=True)
    return (parent or results_dir()) / f"{_check_name(name)}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


# ---------------------------------------------------------------- saving and loading whole


class _Unusable(Exception):
    """A stored folder that cannot be loaded; the message says what is wrong with which file."""


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _complete(result: object) -> bool:
    """False when ``result`` says it is not whole (``complete``: an attribute, or a key of a dict)."""
    flag = result.get("complete", True) if isinstance(result, dict) else getattr(result, "complete", True)
    return flag is not False


def _write(result, folder: Path, save: Callable, meta: dict) -> None:
    """Save into a new temporary folder beside ``folder``, list every file it wrote in ``meta.json``,
    then put it in ``folder``'s place: until that last step the previous result stays whole."""
    parent = folder.parent
    if folder.resolve().parent != parent.resolve():  # a name _check_name let through: refuse, delete nothing
        raise ValueError(f"{folder} is not a folder inside {parent}.")
    parent.mkdir(parents=True, exist_ok=True)
    temp = parent / f".{folder.name}.saving-{os.getpid()}-{time.time_ns()}"
    old = None
    try:
        temp.mkdir()
        save(result, temp)
        files = {p.relative_to(temp).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
                 for p in sorted(temp.rglob("*")) if p.is_file()}
        (temp / META).write_text(json.dumps({**meta, "files": files}, indent=1))
        if os.path.lexists(folder):
            old = parent / f".{folder.name}.replaced-{os.getpid()}-{time.time_ns()}"
            os.rename(folder, old)
        try:
            os.rename(temp, folder)
        except BaseException:
            if old is not None:  # put the previous result back
                os.rename(old, folder)
                old = None
            raise
    finally:
        for leftover in (temp, old):
            if leftover is not None and os.path.lexists(leftover):
                if leftover.is_symlink():
                    leftover.unlink()
                else:
                    shutil.rmtree(leftover, ignore_errors=True)


def _read(folder: Path, load: Callable):
    """``(result, meta)`` from a whole stored folder, None when nothing is stored there; raises
    :class:`_Unusable` when something is."""
    try:
        if not (folder / META).is_file():
            if folder.exists():
                raise _Unusable(f"it has no {META}: its save was cut short")
            return None
        meta = json.loads((folder / META).read_text())
    except OSError as err:
        raise _Unusable(f"{err.strerror or err} on {Path(err.filename or META).name}") from err
    except ValueError as err:
        raise _Unusable(f"{META} is not valid JSON") from err
    if not (isinstance(meta, dict) and isinstance(meta.get("saved"), str)
            and isinstance(meta.get("seconds"), (int, float)) and isinstance(meta.get("files"), dict)):
        raise _Unusable(f"{META} lacks its fields 'saved', 'seconds' and 'files'")
    for name, expected in meta["files"].items():
        try:
            path = _inside(folder, name)
        except ValueError as err:
            raise _Unusable(str(err)) from err
        try:
            if not path.is_file():
                raise _Unusable(f"{name} is missing")
            size = path.stat().st_size
            if size != expected["size"]:
                raise _Unusable(f"{name} has {size:,} bytes where {expected['size']:,} were saved")
            if _sha256(path) != expected["sha256"]:
                raise _Unusable(f"{name} changed after it was saved")
        except (OSError, TypeError, KeyError) as err:
            raise _Unusable(f"{name} cannot be checked ({type(err).__name__})") from err
    try:
        result = load(folder)
    except Exception as err:  # any reason at all: train again rather than half-load
        raise _Unusable(f"loading it failed with {type(err).__name__}") from err
    if not _complete(result):  # stored by older code that kept interrupted runs
        raise _Unusable("a run in it ended early (interrupted, stopped or failed)")
    return result, meta


def _shown(folder: Path) -> str:
    try:
        return str(folder.relative_to(default_data_dir().parent))
    except ValueError:
        return str(folder)


def ship(folder: "str | Path") -> Path:
    """Copy the stored result in ``folder`` (made by :func:`stored`) into :data:`SHIPPED_DIR` under
    its machine-independent key, with the fingerprints of the package code and the tensors that made
    it, and return where it went. Only the files its ``meta.json`` lists, each inside ``folder``, are
    copied, into a folder named by the key. Raises ValueError for a folder that is not a whole stored
    result or names a place outside.

    ``ship("data/results/ladder-0123456789ab")``
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text())
        _read(folder, lambda f: None)
        name, key = meta["name"], _shipped_key(meta)
    except (OSError, ValueError, KeyError, TypeError, _Unusable) as err:
        raise ValueError(f"{folder} is not a whole stored result ({err}): run the chapter that "
                         f"makes it to the end first.") from err
    if not isinstance(meta.get("package_code"), str) or not isinstance(meta.get("tensors"), str):
        raise ValueError(f"{folder} was stored before results carried the fingerprints of their code and "
                         f"data: run the chapter that makes it again (retrain=True), then ship that.")
    stamps = {"code": meta["package_code"], "tensors": meta["tensors"], "python": _PYTHON}
    target = _folder(name, key, SHIPPED_DIR)

    def copy(result, into: Path) -> None:
        for rel in meta["files"]:
            source, copied = _inside(folder, rel), _inside(into, rel)
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copied)

    _write(None, target, copy, {"name": name, **key, **stamps, "seconds": meta["seconds"],
                                "saved": meta["saved"]})
    return target


def stamp_shipped(folder: "str | Path", settings: dict, run: Callable) -> Path:
    """Write into the shipped result in ``folder`` the fingerprints of the package code and the
    tensors ``run`` reaches, exactly as ``stored(name, settings, run, ...)`` computes them, rewriting
    only its ``meta.json`` (a new file put in place at once). Only for a maintainer who has checked
    that ``run``'s code reproduces that result: ``scripts/ship_results.py --restamp`` does. Raises
    ValueError for a folder that is not a whole result in :data:`SHIPPED_DIR` or that ``stored``
    would not look up for these settings on this machine's data.
    """
    folder = Path(folder)
    if folder.resolve().parent != SHIPPED_DIR.resolve():
        raise ValueError(f"{folder} is not a folder inside {SHIPPED_DIR}: only shipped results are stamped.")
    try:
        found = _read(folder, lambda f: None)
    except _Unusable as why:
        raise ValueError(f"{folder} is not a whole shipped result ({why}).") from why
    if not found:
        raise ValueError(f"{folder} holds no shipped result ({META} is missing).")
    key = _key(settings, run)
    expected = _folder(found[1].get("name", ""), _shipped_key(key), SHIPPED_DIR)
    if expected.name != folder.name:
        raise ValueError(f"{folder.name} is not where stored() looks for these settings on this machine's "
                         f"data ({expected.name}): run it with the data it was trained on "
                         f"(LENET_DATA_DIR) and the settings in its {META}.")
    meta = {**found[1], "code": package_fingerprint(run), "tensors": key["tensors"], "python": _PYTHON}
    temp = folder / f".{META}.stamping-{os.getpid()}"
    temp.write_text(json.dumps(meta, indent=1))
    os.replace(temp, folder / META)
    return folder


def _shipped(name: str, key: dict, run: Callable, load: Callable):
    """The shipped result for ``key`` and its meta, or None (also, with a message, when unusable or
    made by other code or from other tensors)."""
    folder = _folder(name, _shipped_key(key), SHIPPED_DIR)
    try:
        found = _read(folder, load)
    except _Unusable as why:
        print(f"The shipped {name} in {folder} could not be read ({why}): training it here instead.")
        return None
    if not found:
        return None
    meta = found[1]
    if "code" in meta and meta.get("python") != _PYTHON:
        print(f"The {name} that ships with the course was stamped under Python {meta.get('python')}, whose "
              f"compiled code this Python {_PYTHON} cannot compare with its own: training it here instead.")
        return None
    if meta.get("code") != package_fingerprint(run):
        why = ("carries no fingerprint of the code that made it" if "code" not in meta else
               "was made by other code than this cell runs (a function it reaches was edited)")
        print(f"The {name} that ships with the course {why}: training it here instead.")
        return None
    if meta.get("tensors") != key["tensors"]:
        print(f"The {name} that ships with the course was trained on other tensors than this cell "
              f"hands its run: training it here instead.")
        return None
    return found


def stored(name: str, settings: dict, run: Callable[[], T], save: Callable[[T, Path], None],
           load: Callable[[Path], T], retrain: bool = False) -> T:
    """``run()``'s result, saved with ``save(result, folder)``; loaded with ``load(folder)`` when an
    earlier call with the same settings, data and code finished (see the module docstring).

    ``stored("sweep", {"grid": grid}, lambda: run_sweep(...), SweepResult.save, SweepResult.load)``
    """
    _check_name(name)
    if not isinstance(retrain, bool):
        raise TypeError(f"retrain is True or False, got {retrain!r}: write retrain=True to train again.")
    try:
        key = _key(settings, run)
    except _Unkeyable as err:
        raise TypeError(f"stored({name!r}, ...): {err}. Give it in the settings by its content instead "
                        f"(numbers, text, lists, dicts, sets, tensors, functions, or an object with fields).") from None
    folder = _folder(name, key)
    if not retrain:
        try:
            found = _read(folder, load)
        except _Unusable as why:
            print(f"The stored {name} in {_shown(folder)} could not be read ({why}): training it "
                  f"again, which replaces it (or delete that folder).")
        else:
            if found:
                result, meta = found
                print(f"Loaded the stored {name} from {_shown(folder)} (saved {meta['saved']} after "
                      f"{meta['seconds'] / 60:.1f} min of training); pass retrain=True to run it again.")
                return result
            shipped = _shipped(name, key, run, load)
            if shipped:
                result, meta = shipped
                print(f"Loaded the {name} that ships with the course (lenet_utils/results/; trained "
                      f"{meta['saved']} in {meta['seconds'] / 60:.1f} min with these settings, code "
                      f"and data); pass retrain=True to train it here instead.")
                return result
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    if not _complete(result):
        print(f"The {name} ended early (a run in it was interrupted, stopped or failed): nothing was "
              f"stored, and running this cell again trains it whole.")
        return result
    key = {**key, "data": data_sources()}  # run() may have downloaded the data it trained on
    folder = _folder(name, key)
    try:
        _write(result, folder, save, {"name": name, **key, "package_code": package_fingerprint(run),
                                      "seconds": seconds, "saved": time.strftime("%Y-%m-%d %H:%M")})
    except KeyboardInterrupt:
        print(f"The save of the {name} was interrupted: nothing was stored (a result stored before "
              f"is whole). The result is here; running this cell again trains it again.")
        return result
    except Exception as err:  # the finished run is worth more than its copy on disk
        warnings.warn(f"Could not save the {name} to {folder} ({type(err).__name__}: {err}). The "
                      f"result is here, but the next run trains again: make that folder writable "
                      f"or set {RESULTS_ENV} to one that is.", stacklevel=2)
        return result
    print(f"Saved the {name} to {_shown(folder)}: running this cell again with the same settings, "
          f"data and code loads it (retrain=True runs it again).")
    return result
