"""Keep long experiments across kernel restarts: their results as files (the course writes JSON/CSV).

    result = stored("ladder", settings, lambda: run_ladder(...), LadderResult.save, LadderResult.load)

The first call runs the experiment and saves it under ``data/results/<name>-<key>/``
(``LENET_RESULTS_DIR`` moves that folder); a later call with the same key loads it at once and says
so, and ``retrain=True`` runs it again. The key is a hash of three things:

* ``settings``: everything the caller decides (data sizes, epochs, seeds, recipe, an explicit
  ``root=``); a function or class in it counts by its name and code, never its memory address;
* the data: where each course data set is found now (:func:`data_sources`), so a result trained on
  the bundled sample is not loaded once the full set is in place;
* the code: :func:`code_fingerprint` of ``run``, so editing a ``#@save`` cell (or the package
  function it calls) trains again.

Results that ship with the course sit in ``lenet_utils/results/`` (:data:`SHIPPED_DIR`), keyed by
the settings and the data's kind and size only, without the code or any machine path, so that a
fresh clone loads them: ``stored`` looks there when this machine has no result of its own, says
that it loaded the shipped one, and ``retrain=True`` trains here instead. :func:`ship` copies a
finished result there (``scripts/ship_results.py``).

``meta.json``, written last, lists every file of the save with its size and SHA-256; a folder whose
files are missing, cut short or changed, or that ``load`` cannot read, is trained again with one
message saying why, never half-loaded. A save that fails (say the results
folder is not writable) warns and still returns the result.
"""

import functools
import hashlib
import inspect
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import CodeType, ModuleType
from typing import TypeVar

from .sources import DATASETS, IDX_FILES, DataNotFoundError, default_data_dir, find_data, idx_shape, raw_file

__all__ = ["RESULTS_ENV", "SHIPPED_DIR", "results_dir", "stored", "ship", "data_sources", "code_fingerprint"]

RESULTS_ENV = "LENET_RESULTS_DIR"  #: environment variable: where stored results live
META = "meta.json"  #: the file written last, listing what the save wrote
SHIPPED_DIR = Path(__file__).resolve().parent / "results"  #: results that ship with the course (tracked)
T = TypeVar("T")


def results_dir() -> Path:
    """``LENET_RESULTS_DIR`` if set, else ``results/`` in the project's (git-ignored) data folder."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else default_data_dir() / "results"


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
    ``lenet_utils`` defines: functions and classes named in its globals or closure, recursively.

    Editing any of them changes the hash; docstrings, comments and line numbers do not, and
    Python's library and torch are not followed. ``code_fingerprint(lambda: run_ladder(...))``
    changes when ``run_ladder`` or ``train_ch6`` changes.
    """
    digest = hashlib.sha256()
    _feed_code_of(obj, digest.update, set())
    return digest.hexdigest()[:16]


def _ours(obj: object) -> bool:
    """Defined in a notebook (``__main__``) or in ``lenet_utils``: code the fingerprint follows."""
    module = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None) or ""
    return module == "__main__" or module.split(".")[0] == "lenet_utils"


def _is_code(obj: object) -> bool:
    """A function, method, partial, decorated function or class: what the fingerprint hashes."""
    return (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)
            or isinstance(obj, functools.partial) or hasattr(obj, "__wrapped__"))


def _feed_code_of(obj, feed: Callable[[bytes], None], seen: set) -> None:
    """Feed ``obj``'s code (function, method, partial or class) and what it reaches to ``feed``."""
    if isinstance(obj, functools.partial):
        _feed_code_of(obj.func, feed, seen)
        feed(_text((obj.args, obj.keywords)).encode())
        return
    obj = inspect.unwrap(getattr(obj, "__func__", obj))  # methods, decorated functions
    feed(_name(obj).encode())
    if id(obj) in seen:  # a cycle, or reached a second way: its name is enough
        return
    seen.add(id(obj))
    if inspect.isfunction(obj):
        _feed_code(obj.__code__, obj.__globals__, feed, seen, doc=obj.__doc__)
        feed(_text((obj.__defaults__, obj.__kwdefaults__)).encode())
        for value in _closure_values(obj):
            if _is_code(value) and _ours(value):
                _feed_code_of(value, feed, seen)
    elif inspect.isclass(obj):
        for base in obj.__bases__:
            if _ours(base):
                _feed_code_of(base, feed, seen)
        for attr, value in sorted(vars(obj).items()):
            value = getattr(value, "__func__", None) or getattr(value, "fget", None) or value
            if _is_code(value) and _ours(value):  # methods, static/class methods, properties
                _feed_code_of(value, feed, seen)
            elif not attr.startswith("__"):  # class constants and dataclass defaults
                feed(f"{attr}={_text(value)}".encode())


def _feed_code(code: CodeType, globals_: dict, feed, seen: set, doc: str | None = None) -> None:
    """Feed one code object: its bytecode, names and constants (nested functions included; the
    docstring ``doc`` counts as none), then the functions and classes of ours its global names
    stand for."""
    feed(code.co_code)
    feed(" ".join(code.co_names).encode())
    consts = code.co_consts
    if doc is not None and consts[:1] == (doc,):
        consts = (None, *consts[1:])  # where Python keeps None when there is no docstring
    for const in consts:
        if isinstance(const, CodeType):
            _feed_code(const, globals_, feed, seen)
        else:
            feed(_const_text(const).encode())
    for name in code.co_names:
        value = globals_.get(name)
        if isinstance(value, ModuleType) and _ours(value):  # lu.pick(...): its attributes used here
            for member in (getattr(value, attr, None) for attr in code.co_names):
                if _is_code(member) and _ours(member):
                    _feed_code_of(member, feed, seen)
        elif _is_code(value) and _ours(value):
            _feed_code_of(value, feed, seen)


def _closure_values(func) -> list:
    values = []
    for cell in func.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # a cell not yet filled
            pass
    return values


def _name(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _const_text(const: object) -> str:
    """A constant as text, the same in every process (a frozenset's order is not)."""
    if isinstance(const, frozenset):
        return f"frozenset({sorted(map(_const_text, const))})"
    if isinstance(const, tuple):
        return f"({', '.join(map(_const_text, const))})"
    return repr(const)


def _text(value: object) -> str:
    """A value as key text: a function or class of ours by name and code, others by name, never
    a memory address."""
    if _is_code(value):
        return f"{_name(value)}@{code_fingerprint(value)}" if _ours(value) else _name(value)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", str(value))


def _key(settings: dict, run: Callable) -> dict:
    return {"settings": settings, "data": data_sources(), "code": code_fingerprint(run)}


def _shipped_key(key: dict) -> dict:
    """The part of a key that holds on every machine: the settings and each data set's kind and
    image counts, without its folder (the data root) and without the code fingerprint."""
    data = {name: None if found is None else {k: v for k, v in found.items() if k != "root"}
            for name, found in key["data"].items()}
    return {"settings": key["settings"], "data": data}


def _folder(name: str, key: dict, parent: Path | None = None) -> Path:
    text = json.dumps(key, sort_keys=True, default=_text)
    return (parent or results_dir()) / f"{name}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


# ---------------------------------------------------------------- saving and loading whole


class _Unusable(Exception):
    """A stored folder that cannot be loaded; the message says what is wrong with which file."""


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write(result, folder: Path, save: Callable, meta: dict) -> None:
    """Save into an emptied ``folder``, then list every file it wrote in ``meta.json``."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    save(result, folder)
    files = {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(folder.rglob("*")) if p.is_file()}
    (folder / META).write_text(json.dumps({**meta, "files": files}, indent=1, default=_text))


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
        path = folder / name
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
        return load(folder), meta
    except Exception as err:  # any reason at all: train again rather than half-load
        raise _Unusable(f"loading it failed with {type(err).__name__}") from err


def _shown(folder: Path) -> str:
    try:
        return str(folder.relative_to(default_data_dir().parent))
    except ValueError:
        return str(folder)


def ship(folder: "str | Path") -> Path:
    """Copy the stored result in ``folder`` (made by :func:`stored`) into :data:`SHIPPED_DIR` under
    its machine-independent key, and return where it went. Raises ValueError for a folder that
    is not a whole stored result.

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
    target = _folder(name, key, SHIPPED_DIR)

    def copy(result, into: Path) -> None:
        for rel in meta["files"]:
            (into / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / rel, into / rel)

    _write(None, target, copy, {"name": name, **key, "trained_with_code": meta.get("code"),
                                "seconds": meta["seconds"], "saved": meta["saved"]})
    return target


def _shipped(name: str, key: dict, load: Callable):
    """The shipped result for ``key`` and its meta, or None (also, with a message, when unusable)."""
    folder = _folder(name, _shipped_key(key), SHIPPED_DIR)
    try:
        return _read(folder, load)
    except _Unusable as why:
        print(f"The shipped {name} in {folder} could not be read ({why}): training it here instead.")
        return None


def stored(name: str, settings: dict, run: Callable[[], T], save: Callable[[T, Path], None],
           load: Callable[[Path], T], retrain: bool = False) -> T:
    """``run()``'s result, saved with ``save(result, folder)``; loaded with ``load(folder)`` when an
    earlier call with the same settings, data and code finished (see the module docstring).

    ``stored("sweep", {"grid": grid}, lambda: run_sweep(...), SweepResult.save, SweepResult.load)``
    """
    folder = _folder(name, _key(settings, run))
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
            shipped = _shipped(name, _key(settings, run), load)
            if shipped:
                result, meta = shipped
                print(f"Loaded the {name} that ships with the course (lenet_utils/results/; trained "
                      f"{meta['saved']} in {meta['seconds'] / 60:.1f} min with these settings on the "
                      f"same data); pass retrain=True to train it here instead.")
                return result
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    key = _key(settings, run)  # again: run() may have downloaded the data it trained on
    folder = _folder(name, key)
    try:
        _write(result, folder, save, {"name": name, **key, "seconds": seconds,
                                      "saved": time.strftime("%Y-%m-%d %H:%M")})
    except Exception as err:  # the finished run is worth more than its copy on disk
        warnings.warn(f"Could not save the {name} to {folder} ({type(err).__name__}: {err}). The "
                      f"result is here, but the next run trains again: make that folder writable "
                      f"or set {RESULTS_ENV} to one that is.", stacklevel=2)
        return result
    print(f"Saved the {name} to {_shown(folder)}: running this cell again with the same settings, "
          f"data and code loads it (retrain=True runs it again).")
    return result
