"""What the progress display prints: on a terminal, into pipes, and in a Jupyter kernel.

The terminal, pipe and notebook cases run a real fastpot pipeline (or bar) in a child
process whose stderr is a pseudo-terminal, a pipe, or a Jupyter kernel's output.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

from fastpot.utils.progress import Progress, _Timing, format_seconds, run_progress

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"

# A DefaultQuantization run on plain_cnn with INFO logging: one "quantization" bar for its
# statistics passes, log lines from the pipeline while the bar is drawn.
PIPELINE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from fastpot import DataLoader, IEEngine, create_pipeline, init_logger, load_model

    init_logger("INFO")
    xml, count = sys.argv[1], int(sys.argv[2])

    class Data(DataLoader):
        def __init__(self):
            pass

        def __len__(self):
            return count

        def __getitem__(self, i):
            rng = np.random.default_rng(i)
            return rng.standard_normal((1, 3, 32, 32)).astype(np.float32), 0

    model = load_model({"model_name": "net", "model": xml, "weights": xml[:-4] + ".bin"})
    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, data_loader=Data())
    algorithm = {
        "name": "DefaultQuantization",
        "params": {"target_device": "CPU", "preset": "performance", "stat_subset_size": count},
    }
    create_pipeline([algorithm], engine).run(model)
    """
)

# One plain-line progress line: label, percent, count, elapsed and maybe an ETA.
LINE = re.compile(r"quantization: (\d+)% (\d+)/(\d+) elapsed (\d+\.\d)s( ETA \d+\.\ds)?")


def _run_in_pty(code: str, *args: str) -> str:
    """Run ``python -c code args`` with stdin, stdout and stderr on one pseudo-terminal."""
    master, slave = pty.openpty()
    # A real window size: tqdm sizes the bar from it (0 columns would hide the bar).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("COLUMNS", None)
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        returncode = child.wait(timeout=120)
    output = b"".join(chunks).decode("utf-8", "replace")
    assert returncode == 0, output
    return output


def test_terminal_bar_redraws_and_log_lines_start_at_line_start() -> None:
    output = _run_in_pty(PIPELINE, str(ZOO / "plain_cnn.xml"), "200")
    redraws = output.replace("\r\n", "\n").count("\r")
    assert redraws >= 2, output  # the bar is redrawn in place
    assert "quantization:" in output
    assert "elapsed" in output

    starts = [m.start() for m in re.finditer("INFO:fastpot", output)]
    assert len(starts) >= 3, output
    cleared = 0
    for start in starts:
        before = output[:start]
        assert before == "" or before[-1] in "\r\n", repr(output[max(start - 120, 0) : start + 40])
        if before.endswith("\r") and not before.endswith("\r\n"):
            # Cursor back at column 0 after a clearing: the cleared segment is blank.
            segment = re.split(r"[\r\n]", before[:-1])[-1]
            assert segment.strip() == "", repr(segment)
            cleared += 1
    assert cleared >= 1, output  # some record was printed while the bar was on screen
    # The finished bar stays, complete, on its own line.
    last = [line for line in re.split(r"[\r\n]", output) if line.startswith("quantization:")][-1]
    done, total = re.search(r"(\d+)/(\d+)", last).groups()  # type: ignore[union-attr]
    assert done == total


def test_pipes_get_whole_lines_without_carriage_returns() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(ZOO / "plain_cnn.xml"), "200"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert "\r" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("quantization:")]
    assert len(lines) >= 4, result.stderr  # first update, some tenths, the final line
    matches = [LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    first, last = matches[0], matches[-1]
    assert first is not None
    assert last is not None
    assert first.group(5) is None  # one update: no rate yet, so no ETA
    assert any(m is not None and m.group(5) for m in matches[1:-1]), lines
    assert last.group(2) == last.group(3)
    assert last.group(1) == "100"
    assert last.group(5) is None  # nothing left
    elapsed = [float(m.group(4)) for m in matches if m is not None]
    assert elapsed == sorted(elapsed)
    # Log lines go to stdout, whole.
    assert "INFO:fastpot.pipeline:Start algorithm: DefaultQuantization" in (
        result.stdout.splitlines()
    )


def test_plain_lines_eta_needs_a_measured_rate() -> None:
    stream = io.StringIO()
    with Progress(10, "steps", stream=stream) as bar:
        bar.advance(1)
        assert re.fullmatch(r"steps: 10% 1/10 elapsed \d+\.\ds\n", stream.getvalue())
        time.sleep(0.01)
        bar.advance(1)
        second = stream.getvalue().splitlines()[-1]
        assert re.fullmatch(r"steps: 20% 2/10 elapsed \d+\.\ds ETA \d+\.\ds", second), second
        for _ in range(3):
            bar.advance(1)  # one line per tenth
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["10%", "20%", "30%", "40%", "50%", "100%"]
    # Leaving the block early marks the run as done: 5 of an estimated 10.
    assert re.fullmatch(r"steps: 100% 5/5 elapsed \d+\.\ds", lines[-1]), lines[-1]


def test_eta_uses_the_rate_after_the_first_update() -> None:
    now = [100.0]
    timing = _Timing(clock=lambda: now[0])
    assert timing.eta(0, 11) is None
    now[0] = 105.0  # the first sample took 5 s (compilation, warm-up)
    timing.note(1)
    assert timing.eta(1, 11) is None
    now[0] = 106.0
    timing.note(3)  # 2 samples in 1 s after the first: 8 left take 4 s
    assert timing.eta(3, 11) == pytest.approx(4.0)
    assert timing.fields(3, 11) == {
        "fp_percent": "27%",
        "fp_elapsed": "6.0s",
        "fp_eta": " ETA 4.0s",
    }
    assert timing.fields(11, 11)["fp_eta"] == ""
    assert [format_seconds(s) for s in (0.04, 59.9, 65, 3725)] == [
        "0.0s",
        "59.9s",
        "1m05s",
        "1h02m",
    ]


def test_disabled_and_nested_bars_print_nothing_of_their_own() -> None:
    stream = io.StringIO()
    with Progress(5, "silent", enabled=False, stream=stream) as bar:
        bar.advance(5)
    assert stream.getvalue() == ""
    assert bar.done == 5

    with run_progress(4, "run", enabled=False), Progress(4, "inner", stream=stream) as inner:
        inner.advance(4)  # counts into the (silent) run bar instead of drawing
    assert stream.getvalue() == ""


# ---- Jupyter -----------------------------------------------------------------------------

NOTEBOOK_RUNNER = textwrap.dedent(
    """
    import json, sys
    import nbformat
    from nbclient import NotebookClient

    cells, out = json.loads(sys.argv[1]), sys.argv[2]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, kernel_name="fastpot-test-python", timeout=120).execute()
    nbformat.write(nb, out)
    """
)

BAR_CELL = textwrap.dedent(
    """
    import time, warnings
    warnings.simplefilter("error")  # the display must not warn (tqdm's notebook warnings)
    from fastpot.utils.logger import get_logger, init_logger
    from fastpot.utils.progress import Progress

    init_logger("INFO")
    with Progress(50, "steps") as bar:
        for i in range(50):
            time.sleep(0.01)
            bar.advance()
            if i == 25:
                get_logger("fastpot.test").info("halfway")
    """
)


def _run_notebook(tmp_path: Path, cells: list[str]) -> list[dict[str, object]]:
    """Execute `cells` in a fresh kernel of this interpreter; return the cells' outputs."""
    # A kernelspec of our own, for sys.executable, found through JUPYTER_PATH only: no user
    # or system kernelspec, config or IPython profile takes part.
    spec = tmp_path / "jupyter" / "kernels" / "fastpot-test-python"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "fastpot test", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    env = {
        **os.environ,
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    out = tmp_path / "executed.ipynb"
    result = subprocess.run(
        [sys.executable, "-c", NOTEBOOK_RUNNER, json.dumps(cells), str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    notebook = json.loads(out.read_text())
    return notebook["cells"][-1]["outputs"]  # type: ignore[no-any-return]


def _stream_text(outputs: list[dict[str, object]]) -> str:
    """The text of the stream outputs (a saved notebook may split it into a list of lines)."""
    pieces = [o["text"] for o in outputs if o["output_type"] == "stream"]
    return "".join(p if isinstance(p, str) else "".join(p) for p in pieces)  # type: ignore[arg-type]


@pytest.mark.slow
def test_notebook_shows_one_live_widget(tmp_path: Path) -> None:
    outputs = _run_notebook(tmp_path, [BAR_CELL])
    widgets = [
        o
        for o in outputs
        if o["output_type"] == "display_data"
        and "application/vnd.jupyter.widget-view+json" in o["data"]  # type: ignore[operator]
    ]
    assert len(widgets) == 1, outputs
    assert all(o["output_type"] in ("display_data", "stream") for o in outputs), outputs
    text = _stream_text(outputs)
    assert "steps:" not in text  # the bar is the widget, not text
    assert "INFO:fastpot.test:halfway\n" in text
    assert len(outputs) <= 3, outputs  # the widget and the log line, not one output per update


@pytest.mark.slow
def test_notebook_without_ipywidgets_prints_lines(tmp_path: Path) -> None:
    hide = "import sys\nsys.modules['ipywidgets'] = None  # as if ipywidgets were not installed"
    outputs = _run_notebook(tmp_path, [hide, BAR_CELL])
    assert not [o for o in outputs if o["output_type"] == "display_data"], outputs
    text = _stream_text(outputs)
    assert "\r" not in text
    lines = [line for line in text.splitlines() if line.startswith("steps:")]
    assert re.fullmatch(r"steps: 2% 1/50 elapsed \d+\.\ds", lines[0]), lines
    assert lines[-1].startswith("steps: 100% 50/50 elapsed ")
    assert len(lines) == 11  # the first update, then one per tenth (the last is the final)
    assert "INFO:fastpot.test:halfway" in text.splitlines()
