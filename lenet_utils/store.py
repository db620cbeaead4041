"""Keep long experiments across kernel restarts: results as JSON/CSV, trained weights as state dicts.

    result = stored("ladder", settings, lambda: run_ladder(...), LadderResult.save, LadderResult.load)

The first call runs the experiment and saves it under ``data/results/<name>-<hash of settings>/``
(``LENET_RESULTS_DIR`` moves that folder); a later call with the same settings loads it at once and
says so, and ``retrain=True`` runs it again. Weights are read back with ``torch.load(...,
weights_only=True)``, which never executes code from the file. ``settings`` must name everything
that decides the result (data sizes, epochs, seeds, recipe): it is the only key.
"""

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .sources import default_data_dir

__all__ = ["RESULTS_ENV", "results_dir", "stored"]

RESULTS_ENV = "LENET_RESULTS_DIR"  #: environment variable: where stored results live
T = TypeVar("T")


def results_dir() -> Path:
    """``LENET_RESULTS_DIR`` if set, else ``results/`` in the project's (git-ignored) data folder."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else default_data_dir() / "results"


def _key(settings: dict) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _shown(folder: Path) -> str:
    try:
        return str(folder.relative_to(default_data_dir().parent))
    except ValueError:
        return str(folder)


def stored(name: str, settings: dict, run: Callable[[], T], save: Callable[[T, Path], None],
           load: Callable[[Path], T], retrain: bool = False) -> T:
    """``run()``'s result, saved with ``save(result, folder)``; loaded with ``load(folder)`` when
    an earlier call with the same ``settings`` finished. A folder whose files cannot be read is
    trained again (with a message), never half-loaded."""
    folder = results_dir() / f"{name}-{_key(settings)}"
    meta = folder / "meta.json"
    if meta.is_file() and not retrain:
        try:
            info = json.loads(meta.read_text())
            result = load(folder)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            print(f"The stored {name} in {_shown(folder)} could not be read ({err}); running it again.")
        else:
            print(f"Loaded the stored {name} from {_shown(folder)} (saved {info['saved']} after "
                  f"{info['seconds'] / 60:.1f} min of training); pass retrain=True to run it again.")
            return result
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    meta.unlink(missing_ok=True)  # written last: a save cut short is never taken for a result
    save(result, folder)
    meta.write_text(json.dumps({"name": name, "settings": settings, "seconds": seconds,
                                "saved": time.strftime("%Y-%m-%d %H:%M")}, indent=1, default=str))
    print(f"Saved the {name} to {_shown(folder)}: running this cell again with the same settings "
          f"loads it (retrain=True runs it again).")
    return result
