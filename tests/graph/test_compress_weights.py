"""compress_model_weights on POT's own FakeQuantize IRs and on hand-computed cases."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from fastpot.graph import compress_model_weights, load_model, save_model
from fastpot.graph.compression import _int4_supported, quantize_weights

DATA = Path(__file__).resolve().parents[1] / "data"
IRS = sorted((DATA / "golden" / "pot-2023.3" / "ir").glob("*.xml"))
CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
# Compressed .bin / FP32 .bin of the FQ model. Every zoo model is weight-dominated except
# mobilenet_like: its depthwise 3x3 kernels have 9 weights per channel, while each channel
# also keeps a bias, a scale and four per-channel activation FQ range values (fp32), so the
# int8 weights are only 7.4 kB of its 10.9 kB (ratio 0.316).
BIN_RATIO_LIMIT = {"mobilenet_like": 0.32}


def _weight_fqs(model: ov.Model) -> list:
    return [
        op
        for op in model.get_ops()
        if op.get_type_name() == "FakeQuantize"
        and op.input_value(0).get_node().get_type_name() in ("Constant", "Convert")
    ]


def _activation_fqs(model: ov.Model) -> int:
    return sum(op.get_type_name() == "FakeQuantize" for op in model.get_ops()) - len(
        _weight_fqs(model)
    )


def _constant(model: ov.Model, name: str) -> ov.Node:
    (node,) = [op for op in model.get_ops() if op.get_friendly_name() == name]
    return node


def _stored_ints(node: ov.Node) -> np.ndarray:
    """The values of an int8 or (packed) int4 constant."""
    if node.get_element_type() == ov.Type.i8:
        return np.asarray(node.get_data()).astype(np.int64).reshape(node.get_shape())
    # i4: two's complement nibbles, low nibble first.
    raw = np.asarray(node.get_data()).view(np.uint8)
    nibbles = np.stack([raw & 0xF, raw >> 4], axis=-1).ravel().astype(np.int64)
    values = np.where(nibbles > 7, nibbles - 16, nibbles)
    return values[: int(np.prod(node.get_shape()))].reshape(node.get_shape())


def _compiled(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", CONFIG)


# --- POT's quantized IRs -----------------------------------------------------------------


def test_all_golden_irs_are_here() -> None:
    assert len(IRS) == 43


@pytest.mark.parametrize("xml", IRS, ids=lambda p: p.stem)
def test_compressed_model_computes_like_the_fq_model(xml: Path, tmp_path: Path) -> None:
    zoo_name = xml.stem.split("__")[0]
    model = load_model({"model": str(xml), "weights": str(xml.with_suffix(".bin"))})
    reference = model.copy()
    n_weight = len(_weight_fqs(reference.get_model()))
    n_activation = _activation_fqs(reference.get_model())
    assert n_weight > 0
    assert compress_model_weights(model) is None
    compressed = model.get_model()
    # (b) structure
    assert not _weight_fqs(compressed)
    assert _activation_fqs(compressed) == n_activation
    int8 = [
        op
        for op in compressed.get_ops()
        if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8
    ]
    assert len(int8) == n_weight
    assert all(op.get_friendly_name().endswith("/quantized") for op in int8)
    scales = [
        op
        for op in compressed.get_ops()
        if op.get_type_name() == "Constant" and op.get_friendly_name().endswith("/scale")
    ]
    assert len(scales) == n_weight
    # (a) same outputs on calibration samples
    a = _compiled(reference.get_model())
    b = _compiled(compressed)
    data = np.load(DATA / "zoo" / f"{zoo_name}.npz")
    for i in range(4):
        feed = {name: data[name][i : i + 1] for name in data.files}
        for x, y in zip(a(feed).values(), b(feed).values(), strict=True):
            atol = 1e-5 * float(np.abs(x).max())
            np.testing.assert_allclose(y, x, rtol=1e-5, atol=atol, err_msg=f"sample {i}")
    # (c) file size
    fq_bin = save_model(reference, tmp_path, "fq")[0]["weights"]
    int8_bin = save_model(model, tmp_path, "int8")[0]["weights"]
    ratio = os.path.getsize(int8_bin) / os.path.getsize(fq_bin)
    assert ratio <= BIN_RATIO_LIMIT.get(zoo_name, 0.3), f".bin ratio {ratio:.3f}"
    # the saved compressed IR reads back with its int8 weights
    again = ov.Core().read_model(str(tmp_path / "int8.xml"))
    assert sum(op.get_element_type() == ov.Type.i8 for op in again.get_ops()) == n_weight


@pytest.mark.parametrize(
    "xml", [p for p in IRS if p.stem.endswith("__default_performance_cpu")], ids=lambda p: p.stem
)
def test_half_up_differs_only_at_ties(xml: Path) -> None:
    """``rounding="half_up"`` (POT's integers) moves exact ties up by one level, nothing else."""
    even = ov.Core().read_model(xml)
    up = even.clone()
    compress_model_weights(even)
    compress_model_weights(up, rounding="half_up")
    original = {op.get_friendly_name(): op for op in ov.Core().read_model(xml).get_ops()}
    changed = 0
    for op in even.get_ops():
        name = op.get_friendly_name()
        if not name.endswith("/quantized"):
            continue
        q_even = _stored_ints(op)
        q_up = _stored_ints(_constant(up, name))
        (fq,) = [
            t.get_node()
            for t in original[name.removesuffix("/quantized")].output(0).get_target_inputs()
        ]
        w, il, ih = (fq.input_value(i).get_node().get_data() for i in range(3))
        il, ih = np.broadcast_to(il, w.shape), np.broadcast_to(ih, w.shape)
        s = (w - il) / (ih - il) * np.float32(fq.get_attributes()["levels"] - 1)
        tie = (s - np.floor(s) == 0.5) & (w > il) & (w <= ih)
        np.testing.assert_array_equal(q_up - q_even, np.where(tie & (np.floor(s) % 2 == 0), 1, 0))
        changed += int((q_up != q_even).sum())
    if not xml.stem.startswith("transformer_block"):  # no saturation-fixed first layer
        assert changed > 0


def test_cascade_and_ov_model_inputs(tmp_path: Path) -> None:
    irs = [p for p in IRS if p.stem.endswith("__minmax_performance_cpu")][:2]
    config = {
        "model_name": "pair",
        "cascade": [{"name": f"m{i}", "model": str(p)} for i, p in enumerate(irs)],
    }
    model = load_model(config)
    compress_model_weights(model)
    assert all(not _weight_fqs(entry["model"]) for entry in model.models)
    with pytest.raises(TypeError, match=r"CompressedModel or an openvino\.Model"):
        compress_model_weights(str(irs[0]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rounding"):
        compress_model_weights(model, rounding="nearest")  # type: ignore[arg-type]


# --- hand-built models -------------------------------------------------------------------


def _fq_conv_model(
    weights: np.ndarray | ov.Node,
    low: np.ndarray,
    high: np.ndarray,
    levels: int,
    out_low: np.ndarray | None = None,
    out_high: np.ndarray | None = None,
    in_channels: int | None = None,
) -> ov.Model:
    if isinstance(weights, np.ndarray):
        in_channels = weights.shape[1]
        weights = ops.constant(weights, name="w")
    x = ops.parameter([1, in_channels, 4, 4], np.float32, name="x")
    fq = ops.fake_quantize(
        weights,
        low,
        high,
        low if out_low is None else out_low,
        high if out_high is None else out_high,
        levels,
        name="conv/fq_weights_1",
    )
    conv = ops.convolution(x, fq, [1, 1], [0, 0], [0, 0], [1, 1], name="conv")
    return ov.Model([conv], [x], "hand")


def _assert_same_outputs(reference: ov.Model, compressed: ov.Model, exact: bool) -> None:
    x = np.random.default_rng(1).standard_normal(
        tuple(reference.input(0).get_shape()), dtype=np.float32
    )
    a = _compiled(reference)(x)[0]
    b = _compiled(compressed)(x)[0]
    if exact:
        np.testing.assert_array_equal(b, a)
    else:
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(np.abs(a).max()))


# il = -127, ih = 127, 255 levels: s = w + 127 exactly for these weights, so the halves
# are true ties. Expected integers worked out by hand.
MIDPOINT_W = [0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 126.5, -126.5, 127.0, -127.0, 200.0, -200.0, 3.0]
MIDPOINT_Q = {
    # POT: floor(s + 0.5) - 127, i.e. halves go up.
    "half_up": [0, 1, 0, 2, -1, 3, 127, -126, 127, -127, 127, -127, 3],
    # OpenVINO's FakeQuantize: halves go to the even s.
    "half_even": [0, 1, -1, 1, -1, 3, 127, -127, 127, -127, 127, -127, 3],
}


@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
def test_hand_computed_midpoints(rounding: str) -> None:
    w = np.array(MIDPOINT_W, dtype=np.float32).reshape(-1, 1, 1, 1)
    r = np.float32(127)
    s = (w - -r) / (r - -r) * np.float32(254)
    assert np.array_equal(s, w + r)  # the ties really are ties in float32
    q = quantize_weights(w, -r, r, 255, rounding)  # type: ignore[arg-type]
    assert q.ravel().tolist() == MIDPOINT_Q[rounding]

    model = _fq_conv_model(w, np.array(-r), np.array(r), 255)
    reference = model.clone()
    compress_model_weights(model, rounding=rounding)  # type: ignore[arg-type]
    stored = _constant(model, "w/quantized")
    assert stored.get_element_type() == ov.Type.i8
    assert _stored_ints(stored).ravel().tolist() == MIDPOINT_Q[rounding]
    # scale = (oh - ol) / (qhigh - qlow) = 254 / 254; symmetric: no zero point
    np.testing.assert_array_equal(_constant(model, "conv/fq_weights_1/scale").get_data(), 1.0)
    names = [op.get_friendly_name() for op in model.get_ordered_ops()]
    assert "conv/fq_weights_1/minus_zp" not in names
    assert names.index("w/quantized") < names.index("w/quantized/to_f32")
    assert names.index("w/quantized/to_f32") < names.index("conv/fq_weights_1/mulpiply_by_scale")
    assert not any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
    # The compressed model computes with exactly these integers (times scale 1) ...
    expected = np.array(MIDPOINT_Q[rounding], np.float32).reshape(w.shape)
    direct = _fq_conv_model(expected, np.array(-r), np.array(r), 255)
    _assert_same_outputs(direct, model, exact=True)
    # ... which equal the FakeQuantize model's only with ties to even.
    if rounding == "half_even":
        _assert_same_outputs(reference, model, exact=True)


def test_hand_computed_per_channel_symmetric() -> None:
    # levels 255, per-channel ranges +-1.27 and +-2.54: one level per 0.01 and 0.02.
    w = np.array([[0.0, 0.01, -0.5, 1.27], [0.02, -2.54, 2.6, -0.04]], np.float32)
    w = w.reshape(2, 4, 1, 1)
    r = np.array([1.27, 2.54], np.float32).reshape(2, 1, 1, 1)
    model = _fq_conv_model(w, -r, r, 255)
    reference = model.clone()
    compress_model_weights(model)
    q = _stored_ints(_constant(model, "w/quantized")).reshape(2, 4)
    assert q.tolist() == [[0, 1, -50, 127], [1, -127, 127, -2]]
    np.testing.assert_allclose(
        _constant(model, "conv/fq_weights_1/scale").get_data().ravel(), [0.01, 0.02], rtol=1e-6
    )
    _assert_same_outputs(reference, model, exact=False)


def test_hand_computed_asymmetric_weights_keep_a_float_zero_point() -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.2, 1.0, size=(4, 3, 1, 1)).astype(np.float32)
    low = np.full((4, 1, 1, 1), -0.2, np.float32)
    high = np.full((4, 1, 1, 1), 1.0, np.float32)
    model = _fq_conv_model(w, low, high, 256)
    reference = model.clone()
    compress_model_weights(model)
    names = {op.get_friendly_name() for op in model.get_ops()}
    assert {
        "w/quantized",
        "w/quantized/to_f32",
        "conv/fq_weights_1/scale",
        "conv/fq_weights_1/mulpiply_by_scale",
        "conv/fq_weights_1/minus_zp",
    } <= names
    # zero point = -128 - (-0.2) / (1.2 / 255) = -85.5: not an integer -> Subtract stays
    (subtract,) = [op for op in model.get_ops() if op.get_type_name() == "Subtract"]
    zero_point = subtract.input_value(1).get_node().get_data()
    np.testing.assert_allclose(zero_point, -85.5, rtol=1e-6)
    q = _stored_ints(_constant(model, "w/quantized"))
    expected = np.floor((w + np.float32(0.2)) / np.float32(1.2) * np.float32(255) + 0.5) - 128
    np.testing.assert_array_equal(q, expected)  # no ties in these random weights
    _assert_same_outputs(reference, model, exact=False)


def test_integer_zero_point_folds_into_the_data() -> None:
    # ol = -1, oh = 1.55, 256 levels: scale 0.01, zero point -128 + 100 = -28.
    w = np.array([-1.0, -0.5, 0.0, 0.3, 0.9, -0.99], np.float32).reshape(6, 1, 1, 1)
    lo, hi = np.array(-1.0, np.float32), np.array(1.55, np.float32)
    model = _fq_conv_model(w, lo, hi, 256)
    reference = model.clone()
    compress_model_weights(model)
    assert not any(op.get_type_name() == "Subtract" for op in model.get_ops())
    q = _stored_ints(_constant(model, "w/quantized")).ravel()
    assert q.tolist() == [-100, -50, 0, 30, 90, -99]  # (q - (-28)) = w / 0.01
    _assert_same_outputs(reference, model, exact=False)


def test_four_bit_weights(tmp_path: Path) -> None:
    # levels 16: qlow -8, qhigh 7; ranges [-0.8, 0.7] -> scale 0.1, zero point 0.
    w = np.array([-0.8, -0.33, 0.0, 0.26, 0.7, 5.0, -5.0, 0.1], np.float32).reshape(8, 1, 1, 1)
    model = _fq_conv_model(w, np.array(-0.8, np.float32), np.array(0.7, np.float32), 16)
    reference = model.clone()
    compress_model_weights(model)
    stored = _constant(model, "w/quantized")
    assert stored.get_element_type() == (ov.Type.i4 if _int4_supported() else ov.Type.i8)
    assert _stored_ints(stored).ravel().tolist() == [-8, -3, 0, 3, 7, 7, -8, 1]
    _assert_same_outputs(reference, model, exact=False)
    saved = save_model(model, tmp_path, "four_bit")[0]
    _assert_same_outputs(reference, ov.Core().read_model(saved["model"]), exact=False)


def test_fp16_weights_behind_a_convert() -> None:
    w = np.random.default_rng(2).standard_normal((4, 3, 1, 1)).astype(np.float16)
    r = np.abs(w.astype(np.float32)).max(axis=(1, 2, 3), keepdims=True)
    converted = ops.convert(ops.constant(w, name="w16"), ov.Type.f32, name="w16/convert")
    model = _fq_conv_model(converted, -r, r, 255, in_channels=3)
    reference = model.clone()
    compress_model_weights(model)
    names = {op.get_friendly_name() for op in model.get_ops()}
    assert {"w16/quantized", "w16/quantized/to_f32"} <= names
    assert "w16" not in names
    _assert_same_outputs(reference, model, exact=False)


def test_activation_fqs_and_wide_fqs_stay() -> None:
    w = np.ones((2, 2, 1, 1), np.float32)
    r = np.full((2, 1, 1, 1), 2.0, np.float32)
    model = _fq_conv_model(w, -r, r, 65536)  # 16-bit: more than 256 levels
    compress_model_weights(model)
    assert len(_weight_fqs(model)) == 1

    x = ops.parameter([1, 2, 4, 4], np.float32, name="x")
    act = ops.fake_quantize(x, -1.0, 1.0, -1.0, 1.0, 256, name="conv/fq_input_0")
    weights = ops.fake_quantize(ops.constant(w, name="w"), -r, r, -r, r, 255, name="fqw")
    conv = ops.convolution(act, weights, [1, 1], [0, 0], [0, 0], [1, 1], name="conv")
    model = ov.Model([conv], [x], "mixed")
    compress_model_weights(model)
    assert [
        op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
    ] == ["conv/fq_input_0"]


def test_nan_weights_name_the_fq() -> None:
    w = np.array([np.nan, 1.0], np.float32).reshape(2, 1, 1, 1)
    model = _fq_conv_model(w, np.array(-1.0, np.float32), np.array(1.0, np.float32), 255)
    with pytest.raises(ValueError, match="conv/fq_weights_1"):
        compress_model_weights(model)
