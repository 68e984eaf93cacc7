"""Quantize an ONNX model to INT8 with one call, and write a quantization report.

What it shows: ``fastpot.quantize`` on an ``.onnx`` file (OpenVINO reads it directly; no
conversion step), calibration data as a plain list of arrays, ``report=`` for the HTML/JSON
account of what was quantized, and saving the result as OpenVINO IR. The script builds its
own small ONNX CNN with the ``onnx`` package's helper API (``pip install onnx``) so that it
runs anywhere; use your own ``.onnx`` file instead of ``tiny_cnn.onnx``.

Run::

    python examples/quantize_onnx.py [--workdir onnx_out]

Writes ``tiny_cnn.onnx``, ``tiny_cnn_int8.{xml,bin}`` and ``report/quantization_report.html``
(and ``.json``) in the work directory, and prints how far the INT8 outputs are from FP32.
About 3 s on two cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
from onnx import TensorProto, helper, numpy_helper

import fastpot


def tiny_cnn_onnx(path: Path, seed: int = 0) -> None:
    """Conv-ReLU-Conv-ReLU-GlobalAveragePool-Flatten-Gemm, input ``[1, 3, 32, 32]``."""
    rng = np.random.default_rng(seed)

    def init(name: str, *shape: int, scale: float) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name)

    initializers = [
        init("w1", 8, 3, 3, 3, scale=0.27),
        init("b1", 8, scale=0.1),
        init("w2", 16, 8, 3, 3, scale=0.17),
        init("b2", 16, scale=0.1),
        init("fc_w", 10, 16, scale=0.25),
        init("fc_b", 10, scale=0.1),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by any OpenVINO / onnxruntime of the last years
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main(argv: list[str] | None = None) -> int:
    """Build the ONNX model, quantize it, save the IR; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="onnx_out", type=Path)
    args = parser.parse_args(argv)
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    onnx_path = workdir / "tiny_cnn.onnx"
    tiny_cnn_onnx(onnx_path)

    # Calibration samples: in a real project, a few hundred preprocessed inputs of your data.
    rng = np.random.default_rng(1)
    data = [rng.random((1, 3, 32, 32), dtype=np.float32) for _ in range(100)]

    int8 = fastpot.quantize(onnx_path, data, subset_size=100, report=workdir / "report")
    ov.save_model(int8, workdir / "tiny_cnn_int8.xml")

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    fp32_model = core.compile_model(core.read_model(onnx_path), "CPU", config)
    int8_model = core.compile_model(core.read_model(workdir / "tiny_cnn_int8.xml"), "CPU", config)
    test = rng.random((1, 3, 32, 32), dtype=np.float32)
    ref, out = fp32_model(test)[0], int8_model(test)[0]
    error = float(np.abs(out - ref).max() / np.abs(ref).max())
    fq = sum(op.get_type_name() == "FakeQuantize" for op in int8.get_ops())
    print(f"INT8 model: {fq} FakeQuantize nodes, saved to {workdir / 'tiny_cnn_int8.xml'}")
    print(f"largest output difference to FP32: {100 * error:.2f} % of the largest output")
    print(f"report: {workdir / 'report' / 'quantization_report.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
