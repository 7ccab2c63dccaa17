"""Long auditor jobs: a progress bar with rate and ETA, Ctrl-C to stop cleanly,
and a cursor stored in the database so a stopped job resumes where it stopped."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from hub.store.auditjobs import JOBS_DDL, Cursors, Job

__all__ = ["JOBS_DDL", "Cancel", "Cursors", "Job", "Progress"]


class Progress:
    """``done/total pct rate ETA`` on one line, redrawn at most ``every`` seconds."""

    def __init__(self, total: int, label: str = "", out: TextIO | None = None, every: float = 0.25,
                 done: int = 0) -> None:
        self.total = total
        self.label = label
        self.out = out if out is not None else sys.stderr
        self.every = every
        self.done = done
        self._start_done = done
        self._began = time.monotonic()
        self._drawn = 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self._began
        return (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        width = 24
        fill = int(width * pct / 100)
        eta = self.eta
        eta_text = "--:--" if eta is None else _clock(eta)
        return (f"{self.label}[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} {pct:5.1f}% "
                f"{self.rate:,.0f}/s ETA {eta_text}")

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._drawn >= self.every or self.done >= self.total:
            self._drawn = now
            if self.out.isatty():
                self.out.write("\r" + self.line())
                self.out.flush()

    def finish(self) -> None:
        if not self.total and not self.done:  # nothing was selected: the command's summary says so
            return
        if self.out.isatty():
            self.out.write("\r" + self.line() + "\n")
        else:
            self.out.write(self.line() + "\n")
        self.out.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Cancel:
    """Set by the first Ctrl-C (SIGINT): the job stops after the current step. A second Ctrl-C aborts."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @contextlib.contextmanager
    def on_sigint(self) -> Iterator[Cancel]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: Any) -> None:
            if self._event.is_set():
                raise KeyboardInterrupt
            self._event.set()
            sys.stderr.write("\nstopping after the current step (Ctrl-C again to abort)...\n")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)
