"""Write ``tests/data/onnx/plain_cnn.onnx``: the zoo's ``plain_cnn`` as an ONNX file.

The network and its weights are those of ``tests/data/zoo/plain_cnn.xml``: three
Conv+bias+ReLU blocks with a 2x2 max-pool after the second, a global average pool
(ReduceMean) and a fully connected layer (MatMul + bias). Node names follow the IR's
(``conv1``, ``conv1/add``, ...), so the same names can be used for ignored scopes, and the
FP32 outputs of the two files agree to float rounding (checked at the end).

The one-call API tests (``tests/algorithms/test_one_call_api.py``) quantize this file with
``fastpot.quantize`` and compare with the POT-API pipeline on the same file. Run from the
repository root: ``python tools/make_onnx_models.py`` (needs the ``onnx`` package; the output
is deterministic).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "tests" / "data" / "zoo"
OUT = ROOT / "tests" / "data" / "onnx"
OPSET = 13


def _constants(xml: Path) -> dict[str, np.ndarray]:
    """Return the IR's Constant values by friendly name."""
    model = ov.Core().read_model(str(xml))
    return {
        op.get_friendly_name(): np.array(op.get_data(), copy=True)
        for op in model.get_ops()
        if op.get_type_name() == "Constant"
    }


def plain_cnn(consts: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Build plain_cnn as ONNX from the IR's constants."""
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    x = "image"
    for block, stride in (("conv1", 1), ("conv2", 1), ("conv3", 2)):
        w = init(f"{block}/weights", consts[f"{block}/weights"])
        b = init(f"{block}/bias", consts[f"{block}/bias"])
        nodes.append(
            helper.make_node(
                "Conv",
                [x, w],
                [f"{block}/out"],
                name=block,
                kernel_shape=[3, 3],
                pads=[1, 1, 1, 1],
                strides=[stride, stride],
            )
        )
        nodes.append(
            helper.make_node("Add", [f"{block}/out", b], [f"{block}/sum"], name=f"{block}/add")
        )
        nodes.append(
            helper.make_node("Relu", [f"{block}/sum"], [f"{block}/act"], name=f"{block}/relu")
        )
        x = f"{block}/act"
        if block == "conv2":
            nodes.append(
                helper.make_node(
                    "MaxPool", [x], ["pool/out"], name="pool", kernel_shape=[2, 2], strides=[2, 2]
                )
            )
            x = "pool/out"
    nodes.append(
        helper.make_node("ReduceMean", [x], ["gap/out"], name="gap", axes=[2, 3], keepdims=0)
    )
    fc_w = init("fc/weights", consts["fc/weights"].T)  # the IR's MatMul has transpose_b
    fc_b = init("fc/bias", consts["fc/bias"])
    nodes.append(helper.make_node("MatMul", ["gap/out", fc_w], ["fc/out"], name="fc"))
    nodes.append(helper.make_node("Add", ["fc/out", fc_b], ["logits"], name="logits"))
    graph = helper.make_graph(
        nodes,
        "plain_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fastpot-tools"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _check_against_ir(onnx_path: Path, xml: Path) -> float:
    """Largest |difference| of the two models' outputs on the zoo's calibration data."""
    core = ov.Core()
    a = core.compile_model(core.read_model(str(onnx_path)), "CPU")
    b = core.compile_model(core.read_model(str(xml)), "CPU")
    with np.load(ZOO / "plain_cnn.npz") as data:
        images = data["image"][:16]
    return max(float(np.abs(a(image[None])[0] - b(image[None])[0]).max()) for image in images)


def main() -> None:
    """Write the ONNX test models."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    xml = ZOO / "plain_cnn.xml"
    path = args.out / "plain_cnn.onnx"
    onnx.save(plain_cnn(_constants(xml)), str(path))
    diff = _check_against_ir(path, xml)
    if diff > 1e-4:
        raise SystemExit(f"{path}: outputs differ from {xml} by {diff}")
    print(f"wrote {path} ({path.stat().st_size} bytes; max |ONNX - IR| = {diff:.2e})")


if __name__ == "__main__":
    main()
