"""``compress_model_weights``: weight FakeQuantizes become int8 constants (POT spec 1.9)."""

from __future__ import annotations

from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fastpot.graph.model import CompressedModel

__all__ = ["compress_model_weights"]

_ZERO_POINT_TOLERANCE = 1e-5


def _constant_data(node: Any) -> np.ndarray | None:
    """Float32 data behind a Constant (or a Constant through a Convert), else None."""
    if node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Constant":
        return None
    return np.asarray(node.get_data(), dtype=np.float32)


def _constant_name(node: Any) -> str:
    if node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    return node.get_friendly_name()


def quantize_weights(
    w: np.ndarray, input_low: np.ndarray, input_high: np.ndarray, levels: int
) -> np.ndarray:
    """Compute the stored integers of a weight FQ.

    ``q = rint((w - il) / (ih - il) * (levels - 1)) + qlow`` for ``il < w <= ih`` (float32
    arithmetic), ``qlow`` below the range and ``qhigh`` above it, with
    ``qlow = -(levels // 2)`` and ``qhigh = levels + qlow - 1``. Ties round to even, as
    OpenVINO's FakeQuantize does, so the compressed model computes what the FakeQuantize
    model computes. (POT rounded ties up: on saturation-fixed layers, whose halved weights
    create exact ties, its int8 weights differed from its own FakeQuantize model.)
    """
    qlow = -(levels // 2)
    qhigh = levels + qlow - 1
    il = np.broadcast_to(np.asarray(input_low, dtype=np.float32), w.shape)
    ih = np.broadcast_to(np.asarray(input_high, dtype=np.float32), w.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (w - il) / (ih - il) * np.float32(levels - 1)
    q = np.rint(scaled) + np.float32(qlow)
    q = np.where(w <= il, qlow, np.where(w > ih, qhigh, q))
    return q.astype(np.int64)


def _compress_fq(fq: Any) -> bool:
    levels = int(fq.get_attributes()["levels"])
    if not 2 < levels <= 256:
        return False
    data_node = fq.input_value(0).get_node()
    w = _constant_data(data_node)
    ranges = [_constant_data(fq.input_value(i).get_node()) for i in range(1, 5)]
    if w is None or any(r is None for r in ranges):
        return False
    il, ih, ol, oh = ranges  # type: ignore[misc]
    qlow = -(levels // 2)
    qhigh = levels + qlow - 1
    q = quantize_weights(w, il, ih, levels)
    scale = (oh - ol) / np.float32(qhigh - qlow)
    with np.errstate(divide="ignore", invalid="ignore"):
        zero_point = np.where(scale != 0, np.float32(qlow) - ol / scale, np.float32(0))
    zero_point = zero_point.astype(np.float32)
    subtract: np.ndarray | None = None
    if np.all(np.abs(zero_point) < _ZERO_POINT_TOLERANCE):
        pass  # symmetric: no zero point
    else:
        rounded = np.round(zero_point)
        shifted = q - np.broadcast_to(rounded, q.shape).astype(np.int64)
        if np.all(np.abs(zero_point - rounded) < _ZERO_POINT_TOLERANCE) and (
            shifted.min() >= -128 and shifted.max() <= 127
        ):
            q = shifted  # an integer zero point folds into the stored data
        else:
            subtract = zero_point
    fq_name = fq.get_friendly_name()
    const_name = _constant_name(data_node)
    stored = ops.constant(q.astype(np.int8), name=f"{const_name}/quantized")
    value = ops.convert(stored, ov.Type.f32, name=f"{const_name}/quantized/to_f32").output(0)
    if subtract is not None:
        value = ops.subtract(value, ops.constant(subtract), name=f"{fq_name}/minus_zp").output(0)
    scale_const = ops.constant(scale.astype(np.float32), name=f"{fq_name}/scale")
    # POT's node name, typo included, so that scripts looking it up keep working.
    dequantized = ops.multiply(value, scale_const, name=f"{fq_name}/mulpiply_by_scale")
    out_type = fq.get_output_element_type(0)
    result = dequantized if out_type == ov.Type.f32 else ops.convert(dequantized, out_type)
    for target in list(fq.output(0).get_target_inputs()):
        target.replace_source_output(result.output(0))
    return True


def compress_model_weights(model: CompressedModel | ov.Model) -> None:
    """Store the weights of every weight FakeQuantize as int8 (in place, like POT).

    Each FakeQuantize with ``2 < levels <= 256`` fed by a constant (optionally through a
    Convert) becomes ``int8 Constant -> Convert(f32) [-> Subtract(zero point)] ->
    Multiply(scale)``; the result equals the FakeQuantize's output up to float rounding.
    FQs with more levels and activation FQs stay. Call before
    :func:`fastpot.graph.save_model`. 4-bit weights (levels <= 16) are stored as int8 too
    (POT packed them); the values are the same.
    """
    models = [m["model"] for m in model.models] if isinstance(model, CompressedModel) else [model]
    for m in models:
        changed = False
        for op in m.get_ordered_ops():
            if op.get_type_name() == "FakeQuantize":
                changed |= _compress_fq(op)
        if changed:
            m.validate_nodes_and_infer_types()
