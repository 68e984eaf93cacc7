"""``compress_model_weights``: weight FakeQuantizes become integer constants."""

from __future__ import annotations

import functools
from typing import Any, Literal

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fastpot.graph.model import CompressedModel

__all__ = ["Rounding", "compress_model_weights", "quantize_weights"]

Rounding = Literal["half_even", "half_up"]

# A zero point this close to an integer is treated as that integer (dropped or folded).
_ZERO_POINT_TOLERANCE = 1e-5
_INT8_RANGE = (-128, 127)
_INT4_RANGE = (-8, 7)


@functools.cache
def _int4_supported() -> bool:
    """Whether this OpenVINO can hold packed 4-bit constants (``ov.Type.i4``)."""
    try:
        constant = ops.constant(np.zeros(2, np.int8), dtype=ov.Type.i4)
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return False
    return bool(constant.get_element_type() == ov.Type.i4)


def _through_convert(node: Any) -> Any:
    """Return the node, or the producer of a Convert (POT looks through one Convert)."""
    if node.get_type_name() == "Convert":
        return node.input_value(0).get_node()
    return node


def _constant_data(node: Any) -> np.ndarray | None:
    """Float32 data of a Constant (or of a Constant behind a Convert), else None."""
    node = _through_convert(node)
    if node.get_type_name() != "Constant":
        return None
    return np.asarray(node.get_data(), dtype=np.float32)


def quantize_weights(
    w: np.ndarray,
    input_low: np.ndarray,
    input_high: np.ndarray,
    levels: int,
    rounding: Rounding = "half_even",
) -> np.ndarray:
    """Compute the integers a weight FakeQuantize stores.

    In float32 arithmetic, ``s = (w - il) / (ih - il) * (levels - 1)`` and
    ``q = round(s) + qlow`` for ``il < w <= ih``, ``q = qlow`` for ``w <= il`` and
    ``q = qhigh`` for ``w > ih``, with ``qlow = -(levels // 2)`` and
    ``qhigh = levels + qlow - 1``.

    Parameters
    ----------
    w : numpy.ndarray
        Weights (float32).
    input_low, input_high : numpy.ndarray
        The FakeQuantize's input range, broadcastable to ``w``.
    levels : int
        Number of quantization levels.
    rounding : {"half_even", "half_up"}
        How ties ``s = k + 0.5`` round. ``"half_even"`` is what OpenVINO's FakeQuantize
        computes, so the compressed model equals the FakeQuantize model. ``"half_up"``
        (``floor(s + 0.5)``) reproduces POT's stored integers, which differ from its own
        FakeQuantize model by one level where ties occur (in the golden IRs: 4-9 of the
        halved weights of each saturation-fixed first layer).

    Returns
    -------
    numpy.ndarray
        int64 array of ``w``'s shape, values in ``[qlow, qhigh]``.
    """
    if rounding not in ("half_even", "half_up"):
        raise ValueError(f"rounding: expected 'half_even' or 'half_up', got {rounding!r}")
    w = np.asarray(w, dtype=np.float32)
    qlow = -(levels // 2)
    qhigh = levels + qlow - 1
    il = np.broadcast_to(np.asarray(input_low, dtype=np.float32), w.shape)
    ih = np.broadcast_to(np.asarray(input_high, dtype=np.float32), w.shape)
    inside = (w > il) & (w <= ih)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (w - il) / (ih - il) * np.float32(levels - 1)
    scaled = np.where(inside, scaled, np.float32(0))  # outside values are replaced below
    half_up = rounding == "half_up"
    rounded = np.floor(scaled + np.float32(0.5)) if half_up else np.rint(scaled)
    q = np.where(inside, rounded.astype(np.int64) + qlow, np.where(w <= il, qlow, qhigh))
    return q.astype(np.int64)


def _compress_fq(fq: Any, rounding: Rounding) -> bool:
    """Replace one weight FakeQuantize by its integer form; False if it does not qualify."""
    levels = int(fq.get_attributes()["levels"])
    if not 2 < levels <= 256:
        return False  # GNA's 16-bit FQs stay, like in POT
    data_node = fq.input_value(0).get_node()
    w = _constant_data(data_node)
    ranges = [_constant_data(fq.input_value(i).get_node()) for i in range(1, 5)]
    if w is None or any(r is None for r in ranges):
        return False  # an activation FQ
    il, ih, ol, oh = (r for r in ranges if r is not None)
    fq_name = fq.get_friendly_name()
    if any(np.isnan(a).any() for a in (w, il, ih, ol, oh)):
        raise ValueError(f"{fq_name}: NaN in the weights or ranges of this FakeQuantize")
    # The FQ's output shape is the broadcast of all five inputs (normally the weights').
    shape = np.broadcast_shapes(w.shape, il.shape, ih.shape, ol.shape, oh.shape)
    w = np.broadcast_to(w, shape)
    qlow = -(levels // 2)
    qhigh = levels + qlow - 1
    scale = ((oh - ol) / np.float32(qhigh - qlow)).astype(np.float32)
    if np.any((scale == 0) & (ol != 0)):
        return False  # a constant non-zero output: not expressible as q * 0
    with np.errstate(divide="ignore", invalid="ignore"):
        zero_point = np.where(scale != 0, np.float32(qlow) - ol / scale, np.float32(0))
    zero_point = zero_point.astype(np.float32)
    q = quantize_weights(w, il, ih, levels, rounding)

    use_int4 = levels <= 16 and _int4_supported()
    low, high = _INT4_RANGE if use_int4 else _INT8_RANGE
    subtract: np.ndarray | None = None
    rounded_zp = np.round(zero_point)
    if np.all(np.abs(zero_point - rounded_zp) < _ZERO_POINT_TOLERANCE):
        if np.any(rounded_zp != 0):
            shifted = q - np.broadcast_to(rounded_zp, q.shape).astype(np.int64)
            if shifted.min() >= low and shifted.max() <= high:
                q = shifted  # an integer zero point folds into the stored data
            else:
                subtract = zero_point
    else:
        subtract = zero_point

    const_name = _through_convert(data_node).get_friendly_name()
    if use_int4:
        stored = ops.constant(q.astype(np.int8), dtype=ov.Type.i4, name=f"{const_name}/quantized")
    else:
        stored = ops.constant(q.astype(np.int8), name=f"{const_name}/quantized")
    value = ops.convert(stored, ov.Type.f32, name=f"{const_name}/quantized/to_f32").output(0)
    if subtract is not None:
        zp_const = ops.constant(subtract, name=f"{fq_name}/zero_point")
        value = ops.subtract(value, zp_const, name=f"{fq_name}/minus_zp").output(0)
    scale_const = ops.constant(scale, name=f"{fq_name}/scale")
    # POT's node name, typo included, so that scripts looking it up keep working.
    result = ops.multiply(value, scale_const, name=f"{fq_name}/mulpiply_by_scale").output(0)
    out_type = fq.get_output_element_type(0)
    if out_type != ov.Type.f32:
        result = ops.convert(result, out_type, name=f"{fq_name}/to_{out_type.get_type_name()}")
        result = result.output(0)
    if fq.output(0).get_names():
        result.get_tensor().add_names(fq.output(0).get_names())
    for target in list(fq.output(0).get_target_inputs()):
        target.replace_source_output(result)
    return True


def _ov_models(model: CompressedModel | ov.Model) -> list[ov.Model]:
    if isinstance(model, CompressedModel):
        return [entry["model"] for entry in model.models]
    if isinstance(model, ov.Model):
        return [model]
    raise TypeError(
        f"model: expected a CompressedModel or an openvino.Model, got {type(model).__name__}"
    )


def compress_model_weights(
    model: CompressedModel | ov.Model, *, rounding: Rounding = "half_even"
) -> None:
    """Store the weights of every weight FakeQuantize as integers (in place, like POT).

    Each FakeQuantize with ``2 < levels <= 256`` whose data input is a Constant
    (optionally through a Convert) becomes ``Constant <const>/quantized`` ->
    ``Convert(f32) <const>/quantized/to_f32`` [-> ``Subtract <fq>/minus_zp``] ->
    ``Multiply <fq>/mulpiply_by_scale`` (POT's spelling) with ``scale = (oh - ol) /
    (qhigh - qlow)`` (constant ``<fq>/scale``) and ``zero_point = qlow - ol / scale``. A
    zero point that is ~0 is dropped (symmetric weights); one close to an integer that
    keeps the values in range is folded into the stored integers; otherwise the float
    Subtract stays. FakeQuantizes with more levels, and activation FakeQuantizes, stay.
    Call before :func:`fastpot.graph.save_model`.

    Parameters
    ----------
    model : CompressedModel or openvino.Model
        Modified in place.
    rounding : {"half_even", "half_up"}
        Tie rounding of the stored integers, see :func:`quantize_weights`. The default
        makes the compressed model compute exactly what the FakeQuantize model computes
        (bit-identical on all 43 golden IRs); ``"half_up"`` gives POT's integers.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        A weight FakeQuantize with NaN weights or ranges (named), or a bad ``rounding``.
    TypeError
        ``model`` is neither a CompressedModel nor an openvino.Model.

    Notes
    -----
    Storage type: int8; for ``levels <= 16`` (POT's packed 4-bit weights) ``ov.Type.i4``
    when this OpenVINO supports 4-bit constants, else int8 with the same values.
    A FakeQuantize whose output range is a non-zero constant for some channel
    (``output_low == output_high != 0``) cannot be written as ``q * scale`` and is kept.
    """
    if rounding not in ("half_even", "half_up"):
        raise ValueError(f"rounding: expected 'half_even' or 'half_up', got {rounding!r}")
    for m in _ov_models(model):
        changed = False
        for op in m.get_ordered_ops():
            if op.get_type_name() == "FakeQuantize":
                changed |= _compress_fq(op, rounding)
        if changed:
            m.validate_nodes_and_infer_types()
