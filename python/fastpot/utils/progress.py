"""Progress display for long loops: a Jupyter widget, a terminal bar, or plain lines.

The display is chosen when a bar opens:

* in a Jupyter kernel with ipywidgets (and the default stream), tqdm's notebook widget: one
  live display per bar, updated in place;
* on a terminal, a tqdm bar redrawn in place on the stream (stderr by default);
* anywhere else (a pipe, a file, a notebook without ipywidgets), whole lines without carriage
  returns: one at the first update, one each time another tenth is done or 10 s have
  passed, and a final one, e.g. ``statistics: 40% 480/1200 elapsed 2.1s ETA 3.2s``.

Every display shows the elapsed time. The ETA appears from the second update on and uses the
rate measured after the first one, which includes the warm-up (compiling, the first inference)
and would overestimate the rest.

While a terminal bar is drawn, text for the same terminal must go through
:func:`output_above_bars` (fastpot's log handlers do): it clears the bar line, lets the text
print, and redraws the bar, so a log line is never glued onto a bar.

tqdm is imported only when a widget or a terminal bar opens.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "output_above_bars", "run_progress"]

# The whole-run bar while run_progress() is active: inner bars feed it instead of drawing.
_RUN: Progress | None = None
# Terminal bars on screen now, which output_above_bars() clears and redraws.
_LIVE: list[Any] = []
_LIVE_LOCK = threading.RLock()

LINE_EVERY_SECONDS = 10.0  # plain-line mode: at least one line this often ...
LINE_EVERY_FRACTION = 0.1  # ... and one each time this much more of the total is done
_BAR_FORMAT = "{desc}: {fp_percent}|{bar}| {n_fmt}/{total_fmt} elapsed {fp_elapsed}{fp_eta}"


@contextmanager
def run_progress(total: int, label: str, *, enabled: bool = True) -> Iterator[Progress]:
    """One bar, and one ETA, for a run made of several loops (a pipeline's passes).

    Every :class:`Progress` opened inside counts into this bar instead of drawing its own;
    `total` is the run's estimated number of units (it grows if the loops do more).

    Parameters
    ----------
    total : int
        Estimated number of units of the whole run.
    label : str
        Text before the bar.
    enabled : bool
        ``False`` draws nothing (inner bars stay silent too).

    Yields
    ------
    Progress
        The run's bar (the enclosing run's bar, if runs nest).
    """
    global _RUN  # noqa: PLW0603 - one run at a time, by design
    outer = _RUN
    with Progress(total, label, enabled=enabled) as bar:
        _RUN = bar if outer is None else outer
        try:
            yield bar
        finally:
            _RUN = outer


def format_seconds(seconds: float) -> str:
    """``2.1s``, ``3m05s`` or ``1h02m``: short enough for a bar."""
    if seconds < 59.95:
        return f"{max(seconds, 0.0):.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class _Timing:
    """Elapsed time and an ETA measured from the first update on."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.start = clock()
        self.updates = 0
        self._first_at = 0.0
        self._first_done = 0

    def elapsed(self) -> float:
        return self._clock() - self.start

    def note(self, done: int) -> None:
        """Record an update that brought the count to `done`."""
        self.updates += 1
        if self.updates == 1:
            self._first_at, self._first_done = self._clock(), done

    def eta(self, done: int, total: int) -> float | None:
        """Seconds left, or None while no rate has been measured yet."""
        span = self._clock() - self._first_at
        if self.updates < 2 or done <= self._first_done or span <= 0:
            return None
        return max(total - done, 0) * span / (done - self._first_done)

    def fields(self, done: int, total: int) -> dict[str, str]:
        """Return the text pieces every display shows."""
        percent = f"{100 * done // total}%" if total > 0 else "?%"
        eta = self.eta(done, total) if total > 0 and done < total else None
        return {
            "fp_percent": percent,
            "fp_elapsed": format_seconds(self.elapsed()),
            "fp_eta": "" if eta is None else f" ETA {format_seconds(eta)}",
        }


class Progress:
    """``with Progress(total, "statistics") as p: ... p.advance(n)``; draws on stderr.

    Parameters
    ----------
    total : int
        Expected number of units (grows if more are done).
    label : str
        Text before the bar.
    enabled : bool
        ``False`` makes it silent.
    stream : file-like, optional
        Where to draw (default: ``sys.stderr``). In Jupyter, the default stream gives a
        widget; an explicit stream gives lines or a terminal bar, as for any other stream.
    """

    def __init__(
        self, total: int, label: str, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total = max(total, 0)
        self.label = label
        self.enabled = enabled
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self._widget_allowed = stream is None
        self.done = 0
        self._parent: Progress | None = None
        self._timing = _Timing()
        self._view: _LineView | _TqdmView | None = None

    def __enter__(self) -> Progress:  # noqa: PYI034
        self._parent = _RUN if _RUN is not self else None
        self._timing = _Timing()
        if self.enabled and self._parent is None:
            self._view = _open_view(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        view, self._view = self._view, None
        if view is not None:
            if exc_type is None and self.done > 0:
                self.total = self.done  # finished: a high estimate shows as complete
            view.close(self.done, self.total, failed=exc_type is not None)

    def advance(self, n: int = 1) -> None:
        """Count `n` more units of work."""
        self.done += n
        if self._parent is not None:
            self._parent.advance(n)
            return
        if self._view is None:
            return
        self._timing.note(self.done)
        self.total = max(self.total, self.done)
        self._view.advance(n, self.done, self.total)


def _open_view(progress: Progress) -> _LineView | _TqdmView:
    if progress._widget_allowed:
        widget = _notebook_tqdm()
        if widget is not None:
            return _TqdmView(widget, progress, terminal=False)
    if _isatty(progress.stream):
        from tqdm.std import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415

        return _TqdmView(tqdm, progress, terminal=True)
    return _LineView(progress)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        return False


def _notebook_tqdm() -> type[Any] | None:
    """Return tqdm's widget class in a Jupyter kernel that has ipywidgets, else None."""
    if "ipykernel" not in sys.modules:  # not a kernel: no need to import tqdm to find out
        return None
    from tqdm.std import TqdmExperimentalWarning, TqdmWarning  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415

    with warnings.catch_warnings():
        # tqdm.auto warns when ipywidgets is missing (then it is plain tqdm: lines here)
        # and that its notebook mode is experimental.
        warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
        warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
        from tqdm.notebook import tqdm_notebook  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    return tqdm if issubclass(tqdm, tqdm_notebook) else None


@contextmanager
def output_above_bars(stream: object) -> Iterator[None]:
    """Write to `stream` inside this block without gluing the text onto a terminal bar.

    If `stream` is a terminal and a terminal bar is drawn, the bar line is cleared before the
    block and redrawn after it; otherwise nothing is done.
    """
    if not _LIVE or not _isatty(stream):
        yield
        return
    with _LIVE_LOCK:
        bars = list(_LIVE)
        lock = type(bars[0]).get_lock()  # tqdm's drawing lock: no redraw mid-record
        with lock:
            for bar in bars:
                bar.clear(nolock=True)
            try:
                yield
            finally:
                for bar in bars:
                    bar.refresh(nolock=True)


class _LineView:
    """Whole lines, no carriage returns: for pipes, files and notebooks without widgets."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._last_at = progress._timing.elapsed()
        self._last_step = 0
        self._last_done = -1
        self._last_total = -1

    def advance(self, n: int, done: int, total: int) -> None:
        step = int(done / (total * LINE_EVERY_FRACTION)) if total > 0 else 0
        now = self._progress._timing.elapsed()
        first = self._last_done < 0  # the first update: how long the warm-up took
        if first or step > self._last_step or now - self._last_at >= LINE_EVERY_SECONDS:
            self._last_step = max(step, self._last_step)
            self._write(done, total)

    def close(self, done: int, total: int, *, failed: bool) -> None:
        if (done, total) != (self._last_done, self._last_total) or failed:
            self._write(done, total, " (stopped)" if failed else "")

    def _write(self, done: int, total: int, note: str = "") -> None:
        timing = self._progress._timing
        self._last_at, self._last_done, self._last_total = timing.elapsed(), done, total
        f = timing.fields(done, total)
        stream = self._progress.stream
        stream.write(
            f"{self._progress.label}: {f['fp_percent']} {done}/{total} "
            f"elapsed {f['fp_elapsed']}{f['fp_eta']}{note}\n"
        )
        stream.flush()


_BAR_CLASSES: dict[type[Any], type[Any]] = {}


def _bar_class(base: type[Any]) -> type[Any]:
    """Subclass `base` (a tqdm class) to show fastpot's elapsed time and ETA."""
    cls = _BAR_CLASSES.get(base)
    if cls is None:

        class _Bar(base):  # type: ignore[misc]
            monitor_interval = 0  # no tqdm monitor thread

            def __init__(self, *args: Any, timing: _Timing, **kwargs: Any) -> None:
                self._fp_timing = timing
                super().__init__(*args, **kwargs)

            @property
            def format_dict(self) -> dict[str, Any]:
                values: dict[str, Any] = super().format_dict
                values.update(self._fp_timing.fields(int(self.n), int(self.total or 0)))
                return values

        cls = _BAR_CLASSES[base] = _Bar
    return cls


class _TqdmView:
    """A tqdm bar: redrawn in place on a terminal, or a Jupyter widget."""

    def __init__(self, base: type[Any], progress: Progress, *, terminal: bool) -> None:
        self._terminal = terminal
        options: dict[str, Any] = {"file": progress.stream} if terminal else {}
        with _LIVE_LOCK:
            self._bar = _bar_class(base)(
                total=progress.total or None,
                desc=progress.label,
                leave=True,
                dynamic_ncols=True,
                mininterval=0.1,
                bar_format=_BAR_FORMAT,
                timing=progress._timing,
                **options,
            )
            if terminal:
                _LIVE.append(self._bar)

    def _set_total(self, total: int) -> None:
        if self._bar.total != total:
            self._bar.total = total
            container = getattr(self._bar, "container", None)  # the widget's progress bar
            if container is not None:
                container.children[1].max = total

    def advance(self, n: int, done: int, total: int) -> None:
        self._set_total(total)
        self._bar.update(n)

    def close(self, done: int, total: int, *, failed: bool) -> None:
        if not failed:
            self._set_total(total)
        with _LIVE_LOCK:
            if self._terminal:
                _LIVE.remove(self._bar)
            self._bar.close()
