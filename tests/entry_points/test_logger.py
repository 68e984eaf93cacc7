"""``init_logger`` / ``get_logger`` on fastpot's logging hierarchy."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from fastpot.utils.logger import (
    get_logger,
    init_logger,
    is_initialized,
    progress_bar_enabled,
    reset_logger,
)


@pytest.fixture(autouse=True)
def _clean_logging():
    reset_logger()
    yield
    reset_logger()


def test_format_level_and_no_propagation(tmp_path: Path) -> None:
    stream = io.StringIO()
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    collector = Collect()
    root.addHandler(collector)
    try:
        init_logger("WARNING", stream=stream, file_name=tmp_path / "log.txt")
        log = get_logger("fastpot.some.module")
        log.info("hidden")
        log.warning("shown %d", 1)
        get_logger("openvino.tools.pot.user").error("from a POT script")
    finally:
        root.removeHandler(collector)
    assert stream.getvalue().splitlines() == [
        "WARNING:fastpot.some.module:shown 1",
        "ERROR:fastpot.pot.user:from a POT script",
    ]
    assert (tmp_path / "log.txt").read_text().splitlines() == stream.getvalue().splitlines()
    assert seen == []  # fastpot's lines do not reach the application's root handlers
    assert logging.getLogger("fastpot").propagate is False


def test_last_call_wins(tmp_path: Path) -> None:
    # POT kept the first call's settings; re-running a notebook cell must take effect here.
    first, second = io.StringIO(), io.StringIO()
    init_logger("DEBUG", stream=first, file_name=tmp_path / "first.log", progress_bar=True)
    get_logger("fastpot.x").debug("one")
    first_file = [h for h in logging.getLogger("fastpot").handlers if hasattr(h, "baseFilename")]
    init_logger("ERROR", stream=second, file_name=tmp_path / "second.log")
    log = get_logger("fastpot.x")
    log.debug("two")
    log.warning("three")
    log.error("four")
    assert first.getvalue() == "DEBUG:fastpot.x:one\n"
    assert second.getvalue() == "ERROR:fastpot.x:four\n"
    assert (tmp_path / "first.log").read_text() == "DEBUG:fastpot.x:one\n"
    assert (tmp_path / "second.log").read_text() == "ERROR:fastpot.x:four\n"
    assert len(first_file) == 1
    assert first_file[0].stream is None  # the first log file was closed
    assert len(logging.getLogger("fastpot").handlers) == 2  # replaced, not added
    assert logging.getLogger("fastpot").level == logging.ERROR
    assert is_initialized()
    assert not progress_bar_enabled()


def test_default_stream_is_stdout_at_call_time(capsys: pytest.CaptureFixture[str]) -> None:
    init_logger(progress_bar=True)
    get_logger("fastpot.y").info("hello")
    assert capsys.readouterr().out == "INFO:fastpot.y:hello\n"
    assert progress_bar_enabled()


def test_bad_level() -> None:
    with pytest.raises(ValueError, match="'LOUD' is not a logging level"):
        init_logger("LOUD")
    assert not is_initialized()


def test_reset_restores_propagation() -> None:
    init_logger(stream=None)
    assert logging.getLogger("fastpot").propagate is False
    reset_logger()
    assert logging.getLogger("fastpot").propagate is True
    assert logging.getLogger("fastpot").handlers == []
