"""POT's ``init_logger`` / ``get_logger`` on fastpot's ``logging`` hierarchy.

Every fastpot module logs through ``logging.getLogger("fastpot.<module>")``. :func:`init_logger`
configures the ``"fastpot"`` logger: its level, its own handlers (a stream handler and
optionally a file handler) with Python's ``BASIC_FORMAT`` (``LEVEL:logger.name:message``), and
``propagate = False`` so that the application's root logging configuration neither duplicates
nor filters fastpot's lines. Without it, fastpot's warnings reach stderr through Python's
last-resort handler and nothing else is printed.

POT kept the first call's settings; here the last call wins: calling :func:`init_logger`
again (re-running a notebook cell, say) replaces the level, the handlers (closing the old log
file) and the progress-bar setting. The stream handler clears a progress bar drawn on the
terminal before each record and redraws it after, so that log lines never glue onto a bar.

POT kept a private logger tree; fastpot uses the standard one, so an application may also
configure ``logging.getLogger("fastpot")`` itself instead of calling :func:`init_logger`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from fastpot.utils.progress import output_above_bars

__all__ = [
    "ROOT_NAME",
    "get_logger",
    "init_logger",
    "is_initialized",
    "progress_bar_enabled",
    "progress_wanted",
    "reset_logger",
    "show_progress",
]

ROOT_NAME = "fastpot"
_LEVELS = {"CRITICAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "INFO": 20, "DEBUG": 10}


class _State:
    """What :func:`init_logger` set up (one per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.initialized = False
        self.progress_bar = False
        self.handlers: list[logging.Handler] = []


_state = _State()


def get_logger(name: str) -> logging.Logger:
    """Return the logger for `name` inside fastpot's hierarchy.

    Parameters
    ----------
    name : str
        A module name. ``fastpot.*`` names are used as they are; POT's names
        (``openvino.tools.pot.*``) and any other name are placed under ``fastpot.`` so that
        :func:`init_logger` configures them too.

    Returns
    -------
    logging.Logger
    """
    if name == ROOT_NAME or name.startswith(ROOT_NAME + "."):
        return logging.getLogger(name)
    prefix = "openvino.tools.pot"
    if name == prefix or name.startswith(prefix + "."):
        name = "pot" + name[len(prefix) :]
    return logging.getLogger(f"{ROOT_NAME}.{name}")


def _level(level: int | str) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    value = _LEVELS.get(str(level).upper())
    if value is None:
        raise ValueError(
            f"level: {level!r} is not a logging level (CRITICAL, ERROR, WARNING, INFO, DEBUG)"
        )
    return value


_STDOUT: Any = object()  # init_logger's default stream: sys.stdout at call time


def init_logger(
    level: int | str = "INFO",
    stream: TextIO | None = _STDOUT,
    file_name: str | os.PathLike[str] | None = None,
    progress_bar: bool = False,
) -> None:
    """Configure fastpot's logging; a later call replaces an earlier call's settings.

    Parameters
    ----------
    level : str or int
        ``CRITICAL``, ``ERROR``, ``WARNING``, ``INFO`` (default) or ``DEBUG``.
    stream : file-like, optional
        Where log lines go (default: ``sys.stdout`` as it is at the call); ``None`` for no
        stream handler.
    file_name : path, optional
        Also append the log to this file (its directory must exist).
    progress_bar : bool
        Show progress bars for inference passes run by fastpot's command line and engines
        created by it (:func:`progress_bar_enabled` tells them). POT put INFO text into a
        tqdm bar instead; here log lines stay lines, printed above the bar, and the bars go
        to stderr.

    Notes
    -----
    POT ignored every call after the first; here each call undoes the previous one (its
    handlers are removed, a log file closed) before applying its own arguments.

    Raises
    ------
    ValueError
        `level` is not a logging level.
    """
    value = _level(level)
    with _state.lock:
        logger = logging.getLogger(ROOT_NAME)
        _remove_handlers(logger)
        logger.setLevel(value)
        logger.propagate = False
        formatter = logging.Formatter(logging.BASIC_FORMAT)
        handlers: list[logging.Handler] = []
        if stream is _STDOUT:
            stream = sys.stdout
        if stream is not None:
            handlers.append(_BarAwareStreamHandler(stream))
        if file_name is not None:
            handlers.append(logging.FileHandler(os.fspath(file_name), encoding="utf-8"))
        for handler in handlers:
            handler.setFormatter(formatter)
            handler.setLevel(value)
            logger.addHandler(handler)
        _state.handlers.extend(handlers)
        _state.progress_bar = bool(progress_bar)
        _state.initialized = True


class _BarAwareStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that prints records above a progress bar instead of onto it."""

    def emit(self, record: logging.LogRecord) -> None:
        with output_above_bars(self.stream):
            super().emit(record)


def _remove_handlers(logger: logging.Logger) -> None:
    """Detach (and close) the handlers an earlier :func:`init_logger` installed."""
    for handler in _state.handlers:
        logger.removeHandler(handler)
        handler.close()
    _state.handlers.clear()


def is_initialized() -> bool:
    """Whether :func:`init_logger` has run (and :func:`reset_logger` has not undone it)."""
    return _state.initialized


def progress_bar_enabled() -> bool:
    """Whether :func:`init_logger` was called with ``progress_bar=True``."""
    return _state.progress_bar


# Set by show_progress(): the one-call API shows a bar by default, as NNCF does.
_FORCED: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "fastpot_progress_forced", default=None
)


@contextlib.contextmanager
def show_progress(enabled: bool | None = True) -> Iterator[None]:
    """Within the block, draw (``True``) or hide (``False``) progress bars whatever the logging.

    ``None`` leaves the decision to :func:`progress_wanted`'s usual rule.
    """
    token = _FORCED.set(enabled)
    try:
        yield
    finally:
        _FORCED.reset(token)


def progress_wanted() -> bool:
    """Whether long runs should draw progress bars.

    Inside :func:`show_progress` its setting decides; otherwise ``--progress-bar``
    (``init_logger(progress_bar=True)``) or INFO logging turns them on.
    """
    forced = _FORCED.get()
    if forced is not None:
        return forced
    return progress_bar_enabled() or logging.getLogger(ROOT_NAME).isEnabledFor(logging.INFO)


def reset_logger() -> None:
    """Undo :func:`init_logger` (remove its handlers, closing files); for tests and tools."""
    with _state.lock:
        logger = logging.getLogger(ROOT_NAME)
        _remove_handlers(logger)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        _state.progress_bar = False
        _state.initialized = False
