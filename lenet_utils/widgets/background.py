"""Work a widget does in threads of its own: a run that a newer request cancels (:class:`Job`), and
a picture redrawn while it runs (:class:`RedrawThread`).

    job = Job({"lr": 0.1})                      # the training loop asks job.stop() before each batch
    redraw = RedrawThread(picture.png, show, every=0.25)
    redraw.request()                            # from the training thread: a fresh picture, soon
    redraw.finish()
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Job", "RedrawThread"]


@dataclass
class Job:
    """A run in progress: its settings, its cancel flag and the batches it has started.

        job = Job({"lr": 0.1}); job.cancel.set(); job.stop()   # True
    """

    settings: dict
    cancel: threading.Event = field(default_factory=threading.Event)
    batches: int = 0

    def stop(self) -> bool:
        """Asked before every batch (by the run's ``train_ch6`` hook): True once it is cancelled."""
        self.batches += 1
        return self.cancel.is_set()


class RedrawThread:
    """Redraws a picture in a thread of its own while a run trains, at most every ``every`` seconds.

    ``request()`` (cheap, from the training thread) asks for a fresh picture; the drawing thread
    calls ``draw()`` and hands the PNG to ``show(png)``, coalescing requests that arrive while it
    draws. Training runs on one CPU thread and matplotlib on another, so the curves move without
    slowing the run down much. ``finish()`` stops the thread (without a last picture).

        redraw = RedrawThread(lambda: picture.png(), widget.set_png, every=0.25)
    """

    def __init__(self, draw: Callable[[], bytes], show: Callable[[bytes], None], every: float):
        self.draw, self.show, self.every = draw, show, every
        self._wanted, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="lenet-panel-drawing")
        self._thread.start()

    def request(self) -> None:
        """Ask for a fresh picture (the thread draws it as soon as the last one is old enough)."""
        self._wanted.set()

    def finish(self) -> None:
        """Stop drawing; returns once a picture being drawn has been shown."""
        self._stop.set()
        self._wanted.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            started = time.perf_counter()
            self.show(self.draw())
            self._stop.wait(max(0.0, self.every - (time.perf_counter() - started)))
