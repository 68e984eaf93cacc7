"""``init_logger`` / ``get_logger`` (spec 1.13) on fastpot's logging hierarchy."""

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


def test_first_call_wins() -> None:
    first, second = io.StringIO(), io.StringIO()
    init_logger("DEBUG", stream=first)
    init_logger("ERROR", stream=second, progress_bar=True)
    get_logger("fastpot.x").debug("d")
    assert first.getvalue() == "DEBUG:fastpot.x:d\n"
    assert second.getvalue() == ""
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
