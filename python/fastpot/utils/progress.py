"""A dependency-free progress bar with rate and ETA, for long loops."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Progress", "run_progress"]

# The whole-run bar while run_progress() is active: inner bars feed it instead of drawing.
_RUN: Progress | None = None


@contextmanager
def run_progress(total: int, label: str, *, enabled: bool = True) -> Iterator[Progress]:
    """One bar, and one ETA, for a run made of several loops (a pipeline's passes).

    Every :class:`Progress` opened inside counts into this bar instead of drawing its own;
    `total` is the run's estimated number of units (it grows if the loops do more).
    """
    global _RUN  # noqa: PLW0603 - one run at a time, by design
    outer = _RUN
    with Progress(total, label, enabled=enabled) as bar:
        _RUN = bar if outer is None else outer
        try:
            yield bar
        finally:
            _RUN = outer


class Progress:
    """``with Progress(total, "statistics") as p: ... p.advance(n)``; prints to stderr.

    Draws at most ten times a second; ``enabled=False`` makes it silent.
    """

    def __init__(
        self, total: int, label: str, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total = max(total, 0)
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._start = time.perf_counter()
        self._drawn = 0.0
        self._parent: Progress | None = None

    def __enter__(self) -> Progress:  # noqa: PYI034
        self._start = time.perf_counter()
        self._parent = _RUN
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._draw(force=True)
        if self.enabled and self._parent is None:
            self.stream.write("\n")
            self.stream.flush()

    def advance(self, n: int = 1) -> None:
        """Count `n` more units of work."""
        self.done += n
        if self._parent is not None:
            self._parent.advance(n)
            return
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled or getattr(self, "_parent", None) is not None:
            return
        self.total = max(self.total, self.done)
        now = time.perf_counter()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        eta = f"{left:5.1f}s" if not math.isnan(left) else "  ?  "
        self.stream.write(
            f"\r{self.label}: [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} {rate:7.1f}/s ETA {eta}"
        )
        self.stream.flush()
