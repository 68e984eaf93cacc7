"""The scripts in ``examples/`` run as a user runs them and produce what their docstrings say.

Each example runs in a subprocess with this interpreter, in a fresh working directory; its
output files are then checked independently here (models read back and run with OpenVINO,
accuracies computed from the bundled labels, report files parsed).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BUNDLED = Path(str(resources.files("fastpot") / "data"))
TIMEOUT = 240  # seconds; each example takes a few seconds on an idle 2-core machine
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _run(script: str, cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _op_types(model: ov.Model) -> list[str]:
    return [op.get_type_name() for op in model.get_ops()]


def _int8_constants(model: ov.Model) -> int:
    return sum(
        op.get_type_name() == "Constant" and op.get_element_type() in (ov.Type.i8, ov.Type.u8)
        for op in model.get_ops()
    )


def _top1(model: ov.Model, images: np.ndarray, labels: np.ndarray) -> float:
    compiled = ov.Core().compile_model(model, "CPU", F32)
    logits = np.concatenate([compiled(images[i : i + 1])[0] for i in range(len(images))])
    return float(np.mean(logits.argmax(axis=1) == labels))


def test_every_example_is_tested() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == [
        "cli_json_config.py",
        "multi_input.py",
        "pot_api_accuracy_aware.py",
        "quantize_onnx.py",
    ]
    for script in scripts:  # each says what it shows and how to run it
        text = (EXAMPLES / script).read_text()
        assert f"python examples/{script}" in text
        assert "What it shows" in text


@pytest.mark.parametrize(
    ("args", "max_drop"),
    [((), 0.005), (("--stat-subset-size", "3", "--max-drop", "0"), 0.0)],
    ids=["defaults", "three-calibration-images"],
)
def test_pot_api_accuracy_aware(tmp_path: Path, args: tuple[str, ...], max_drop: float) -> None:
    out = _run("pot_api_accuracy_aware.py", tmp_path, "--output-dir", "out", *args)
    xml = tmp_path / "out" / "digits_cnn_int8.xml"
    int8 = ov.Core().read_model(xml)
    fp32 = ov.Core().read_model(BUNDLED / "digits_cnn.xml")
    with np.load(BUNDLED / "digits.npz") as data:
        images, labels = data["test_images"], data["test_labels"]
    fp32_top1, int8_top1 = _top1(fp32, images, labels), _top1(int8, images, labels)
    # The saved IR meets the accuracy target, measured here on the 500 labelled images.
    assert int8_top1 >= fp32_top1 - max_drop - 1e-9
    assert f"FP32 top-1: {fp32_top1:.4f}" in out
    assert f"INT8 top-1: {int8_top1:.4f}" in out
    summary = json.loads((tmp_path / "out" / "aa" / "accuracy_aware_summary.json").read_text())
    assert summary["result"]["reached"] is True
    # Still an INT8 model unless every layer went back (then it is the FP32 model).
    types = _op_types(int8)
    if not summary["result"]["all_reverted"]:
        assert "FakeQuantize" in types
        assert _int8_constants(int8) > 0
    for step in summary["steps"]:  # the layers reverted, in order, as the script prints them
        assert step["fake_quantize"] in out


def test_cli_json_config(tmp_path: Path) -> None:
    out = _run("cli_json_config.py", tmp_path, "--workdir", "work")
    work = tmp_path / "work"
    (run_dir,) = (work / "results" / "tiny_cnn_DefaultQuantization").iterdir()
    assert (run_dir / "log.txt").read_text().count("Finished: DefaultQuantization") == 1
    int8 = ov.Core().read_model(run_dir / "optimized" / "tiny_cnn.xml")
    assert _op_types(int8).count("FakeQuantize") >= 2
    assert _int8_constants(int8) == 3  # the two convolutions and the fully connected layer
    assert "quantized IR: results/tiny_cnn_DefaultQuantization/" in out
    # The INT8 model computes about what the FP32 model does on one of the calibration images.
    fp32 = ov.Core().compile_model(work / "tiny_cnn.xml", "CPU", F32)
    compiled = ov.Core().compile_model(int8, "CPU", F32)
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 32, 32)).astype(np.float32)
    ref, got = fp32(x)[0], compiled(x)[0]
    assert np.abs(got - ref).max() <= 0.2 * np.abs(ref).max()


def test_quantize_onnx(tmp_path: Path) -> None:
    out = _run("quantize_onnx.py", tmp_path, "--workdir", "work")
    work = tmp_path / "work"
    assert (work / "tiny_cnn.onnx").is_file()
    int8 = ov.Core().read_model(work / "tiny_cnn_int8.xml")
    assert _op_types(int8).count("FakeQuantize") >= 2
    report = work / "report"
    assert (report / "quantization_report.html").read_text().lstrip().lower().startswith("<!")
    assert isinstance(json.loads((report / "quantization_report.json").read_text()), dict)
    fp32 = ov.Core().compile_model(work / "tiny_cnn.onnx", "CPU", F32)
    compiled = ov.Core().compile_model(int8, "CPU", F32)
    x = np.random.default_rng(5).random((1, 3, 32, 32), dtype=np.float32)
    ref, got = fp32(x)[0], compiled(x)[0]
    assert np.abs(got - ref).max() <= 0.2 * np.abs(ref).max()
    assert "largest output difference to FP32" in out


def test_multi_input(tmp_path: Path) -> None:
    out = _run("multi_input.py", tmp_path, "--output", "two.xml")
    int8 = ov.Core().read_model(tmp_path / "two.xml")
    assert sorted(p.get_friendly_name() for p in int8.get_parameters()) == ["features", "image"]
    # Both branches are quantized: the FakeQuantize nodes read from both inputs.
    quantized_inputs = {
        node.input_value(0).get_node().get_friendly_name()
        for node in int8.get_ops()
        if node.get_type_name() == "FakeQuantize"
    }
    assert {"image", "features"} <= quantized_inputs
    assert "saved to two.xml" in out
    # Same class as the FP32 model on most of 50 fresh inputs (the script's own model builder).
    spec = importlib.util.spec_from_file_location("multi_input", EXAMPLES / "multi_input.py")
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    fp32 = ov.Core().compile_model(example.two_input_model(), "CPU", F32)
    compiled = ov.Core().compile_model(int8, "CPU", F32)
    rng = np.random.default_rng(11)
    agree = 0
    for _ in range(50):
        inputs = {
            "image": rng.random((1, 3, 16, 16), dtype=np.float32),
            "features": rng.uniform(-1, 1, (1, 32)).astype(np.float32),
        }
        agree += int(fp32(inputs)[0].argmax() == compiled(inputs)[0].argmax())
    assert agree >= 40


# ---- README.md: its Python blocks run, its links resolve ----------------------------------

README = EXAMPLES.parent / "README.md"


def _markdown_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _headings(text: str) -> list[str]:
    outside = re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"^#{2,3} (.+)$", outside, flags=re.MULTILINE)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _write_onnx_for_readme(path: Path) -> None:
    """The quick start's ``model.onnx``: a conv classifier with a [1, 3, 224, 224] input."""
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(0)
    weights = {
        "w": rng.normal(0, 0.3, (4, 3, 3, 3)),
        "b": rng.normal(0, 0.1, 4),
        "fc_w": rng.normal(0, 0.5, (10, 4)),
        "fc_b": rng.normal(0, 0.1, 10),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], strides=[4, 4], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "readme",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, path)


def test_readme_first_block_is_the_two_setup_commands() -> None:
    # .ci/run takes the second line of the first fenced block as the test command.
    info, body = _markdown_blocks(README.read_text())[0]
    assert info == ""
    lines = body.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(".venv/bin/fastpot demo")
    assert lines[1].endswith(".venv/bin/python -m pytest")


def test_readme_links_resolve() -> None:
    text = README.read_text()
    anchors = {_anchor(h) for h in _headings(text)}
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, f"README link to #{target}: no such heading"
    root = README.parent
    for target in re.findall(r"\]\(((?!https?:|#)[^)#]+)(?:#[^)]*)?\)", text):
        assert (root / target).exists(), f"README link to {target}: no such file"


def test_readme_python_blocks_run(tmp_path: Path) -> None:
    blocks = [body for info, body in _markdown_blocks(README.read_text()) if info == "python"]
    assert len(blocks) >= 3
    _write_onnx_for_readme(tmp_path / "model.onnx")
    for i, body in enumerate(blocks):
        script = tmp_path / f"readme_block_{i}.py"
        script.write_text(body)
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"README python block {i}:\n{body}\n{done.stderr}"
    assert (tmp_path / "model_int8.xml").is_file()  # the quick start's output
    assert (tmp_path / "out" / "digits_cnn_int8.xml").is_file()  # the POT-API block's output
