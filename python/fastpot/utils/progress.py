"""A dependency-free progress bar with rate and ETA, for long loops."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["Progress"]


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

    def __enter__(self) -> Progress:  # noqa: PYI034
        self._start = time.perf_counter()
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._draw(force=True)
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def advance(self, n: int = 1) -> None:
        """Count `n` more units of work."""
        self.done += n
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
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
