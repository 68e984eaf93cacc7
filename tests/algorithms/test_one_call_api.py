"""The NNCF-style one-call API: fastpot.quantize / quantize_with_accuracy_control (issue 14).

The reference for every quantized model is the POT-API pipeline written out by hand here
(load_model, IEEngine over a list loader, create_pipeline, run, compress_model_weights) with
the POT config the one-call arguments stand for; models are compared node by node (types,
names, attributes, every constant's values bit for bit). Accuracy control is checked by
compiling the returned model here and measuring the metric independently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

import fastpot
from fastpot import (
    Dataset,
    DropType,
    IgnoredScope,
    ModelType,
    QuantizationPreset,
    TargetDevice,
    compress_model_weights,
    create_pipeline,
    load_model,
    quantize,
    quantize_with_accuracy_control,
    save_model,
)
from fastpot.algorithms.params import ParameterError
from fastpot.engines import IEEngine

DATA = Path(__file__).resolve().parents[1] / "data"
ZOO = DATA / "zoo"
ONNX = DATA / "onnx" / "plain_cnn.onnx"
XML = ZOO / "plain_cnn.xml"
SUBSET = 48  # calibration items: enough for real ranges, small enough to be quick


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    with np.load(ZOO / "plain_cnn.npz") as data:
        return data["image"]


@pytest.fixture(scope="module")
def two_input() -> dict[str, np.ndarray]:
    with np.load(ZOO / "two_input.npz") as data:
        return {k: data[k][:SUBSET] for k in data.files}


def _pot_api(model_config, loader, params: dict) -> ov.Model:
    """The POT-API pipeline the one-call API stands for."""
    model = load_model(model_config)
    engine = IEEngine({"device": "CPU"}, loader)
    result = create_pipeline([{"name": "DefaultQuantization", "params": params}], engine).run(model)
    compress_model_weights(result)
    return result.get_model()


def _params(**extra) -> dict:
    return {
        "target_device": "CPU",
        "preset": "performance",
        "stat_subset_size": SUBSET,
        "use_fast_bias": True,
        **extra,
    }


def _rt(model: ov.Model, key: str) -> str:
    return model.get_rt_info(["quantization_parameters", key]).astype(str)


def _fq_names(model: ov.Model) -> list[str]:
    return sorted(
        op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
    )


def _assert_same_model(actual: ov.Model, expected: ov.Model) -> None:
    """Same operations in the same order: types, names, attributes, constants bit for bit."""
    a_ops, e_ops = actual.get_ordered_ops(), expected.get_ordered_ops()
    assert [op.get_type_name() for op in a_ops] == [op.get_type_name() for op in e_ops]
    assert _fq_names(actual) == _fq_names(expected)
    for a, e in zip(a_ops, e_ops, strict=True):
        kind = a.get_type_name()
        if kind == "Constant":  # automatic names may differ; the values may not
            va, ve = np.asarray(a.get_data()), np.asarray(e.get_data())
            assert (va.dtype, va.shape) == (ve.dtype, ve.shape), a.get_friendly_name()
            assert va.tobytes() == ve.tobytes(), f"constant feeding {a.get_friendly_name()}"
            continue
        assert a.get_friendly_name() == e.get_friendly_name()
        assert a.get_attributes() == e.get_attributes(), a.get_friendly_name()
        inputs_a = [(v.get_node().get_type_name(), v.get_index()) for v in a.input_values()]
        inputs_e = [(v.get_node().get_type_name(), v.get_index()) for v in e.input_values()]
        assert inputs_a == inputs_e, a.get_friendly_name()


# ---- (a) the same IR as the POT-API pipeline ------------------------------------------------


def test_quantize_onnx_path_equals_pot_api(images):
    items = [x[None] for x in images[:SUBSET]]
    actual = quantize(str(ONNX), items, subset_size=SUBSET, show_progress=False)
    expected = _pot_api(
        {"model_name": "plain_cnn", "model": str(ONNX)}, [(x, None) for x in items], _params()
    )
    _assert_same_model(actual, expected)
    assert len(_fq_names(actual)) >= 4  # input, conv2, pool/conv3, gap/fc: really quantized
    assert actual.get_friendly_name() == "plain_cnn"  # the file stem, not onnx_Frontend_IR
    # The rt_info says how the model was made: the equivalent POT config.
    config = json.loads(_rt(actual, "config"))
    assert config["compression"]["algorithms"] == [
        {"name": "DefaultQuantization", "params": _params()}
    ]
    assert _rt(actual, "version") == f"fastpot {fastpot.__version__}"
    assert _rt(actual, "api") == "fastpot.quantize"


def test_quantize_ir_path_mixed_preset_equals_pot_api(images):
    items = [x[None] for x in images[:SUBSET]]
    actual = quantize(
        XML,
        items,
        preset=QuantizationPreset.MIXED,
        target_device=TargetDevice.ANY,
        fast_bias_correction=False,
        subset_size=SUBSET,
        show_progress=False,
    )
    expected = _pot_api(
        {"model_name": "plain_cnn", "model": str(XML), "weights": str(XML.with_suffix(".bin"))},
        [(x, None) for x in items],
        _params(preset="mixed", target_device="ANY", use_fast_bias=False),
    )
    _assert_same_model(actual, expected)


def test_quantize_ignored_scope_maps_to_pot_ignored(images):
    items = [x[None] for x in images[:SUBSET]]
    scope = IgnoredScope(names=["conv2"], patterns=["conv3"], types=["MatMul"])
    actual = quantize(XML, items, ignored_scope=scope, subset_size=SUBSET, show_progress=False)
    # patterns match from the start of the name; constants (conv3/weights) are not nodes here
    ignored = {
        "scope": ["conv2", "conv3", "conv3/add", "conv3/relu"],
        "operations": [{"type": "MatMul"}],
    }
    expected = _pot_api(str(XML), [(x, None) for x in items], _params(ignored=ignored))
    _assert_same_model(actual, expected)
    plain = quantize(XML, items, subset_size=SUBSET, show_progress=False)
    assert len(_fq_names(actual)) < len(_fq_names(plain))


def test_quantize_advanced_parameters_are_merged(images):
    items = [x[None] for x in images[:SUBSET]]
    advanced = {
        "activations": {"range_estimator": {"max": {"type": "quantile", "outlier_prob": 1e-3}}}
    }
    actual = quantize(
        XML, items, subset_size=SUBSET, advanced_parameters=advanced, show_progress=False
    )
    expected = _pot_api(str(XML), [(x, None) for x in items], _params(**advanced))
    _assert_same_model(actual, expected)


# ---- (b) the forms of calibration data ---------------------------------------------------------


def test_list_generator_and_dataset_give_the_same_model(images):
    arrays = [x[None] for x in images[:SUBSET]]
    labelled = [(x, i % 10) for i, x in enumerate(arrays)]
    reference = quantize(XML, arrays, subset_size=SUBSET, show_progress=False)
    others = {
        # a generator longer than subset_size: read once, the first SUBSET items taken
        "generator": quantize(
            XML, (x[None] for x in images), subset_size=SUBSET, show_progress=False
        ),
        "Dataset+transform": quantize(
            XML, Dataset(labelled, lambda item: item[0]), subset_size=SUBSET, show_progress=False
        ),
        "list+transform_fn": quantize(
            XML,
            labelled,
            transform_fn=lambda item: item[0],
            subset_size=SUBSET,
            show_progress=False,
        ),
        "one-array tuples": quantize(
            XML, [(x,) for x in arrays], subset_size=SUBSET, show_progress=False
        ),
        "dict by tensor name": quantize(
            XML, [{"image": x} for x in arrays], subset_size=SUBSET, show_progress=False
        ),
    }
    for name, model in others.items():
        try:
            _assert_same_model(model, reference)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_two_input_tuple_and_dict_items_match_pot_api(two_input):
    xml = ZOO / "two_input.xml"
    n = SUBSET
    image, meta = two_input["image"], two_input["meta"]
    as_tuples = [(image[i : i + 1], meta[i : i + 1]) for i in range(n)]
    as_dicts = [{"image": image[i : i + 1], "meta": meta[i : i + 1]} for i in range(n)]
    expected = _pot_api(str(xml), [(d, None) for d in as_dicts], _params())
    _assert_same_model(quantize(xml, as_tuples, subset_size=n, show_progress=False), expected)
    _assert_same_model(
        quantize(xml, Dataset(as_dicts), subset_size=n, show_progress=False), expected
    )
    with pytest.raises(ValueError, match=r"one array for a model with 2 inputs"):
        quantize(xml, [image[:1]], show_progress=False)


def test_pair_items_without_transform_are_refused_with_a_hint(images):
    labelled = [(x[None], 0) for x in images[:4]]
    with pytest.raises(
        ValueError, match=r"item 0: 2 arrays for a model with 1 input.*transform_fn"
    ):
        quantize(XML, labelled, show_progress=False)


def test_dataset_accessors():
    ds = Dataset(range(5), lambda v: v * 10)
    assert ds.get_length() == 5
    assert list(ds.get_data([3, 1])) == [1, 3]
    assert list(ds.get_inference_data()) == [0, 10, 20, 30, 40]
    assert Dataset(iter([1, 2])).get_length() is None
    with pytest.raises(TypeError, match="data_source"):
        Dataset(42)  # type: ignore[arg-type]


# ---- (c) accuracy control ----------------------------------------------------------------------


def _top1(compiled, items):
    """Top-1 agreement with labels (per item: 1.0 or 0.0)."""
    hits = [float(np.argmax(compiled(x)[0]) == label) for x, label in items]
    return float(np.mean(hits)), hits


def _top1_only(compiled, items):
    return _top1(compiled, items)[0]


@pytest.fixture(scope="module")
def labelled(images):
    """(image, label) with labels the FP32 model gives: the baseline is 1.0 by construction."""
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(XML)), "CPU")
    items = [x[None] for x in images]
    return [(x, int(np.argmax(compiled(x)[0]))) for x in items]


def test_accuracy_control_reaches_max_drop(labelled):
    core = ov.Core()
    calibration = labelled[:100]
    default = quantize(XML, calibration, transform_fn=lambda it: it[0], show_progress=False)
    default_acc = _top1(core.compile_model(default, "CPU"), labelled)[0]
    max_drop = 0.02
    assert 1.0 - default_acc > max_drop  # so accuracy control has to revert something

    result = quantize_with_accuracy_control(
        XML,
        calibration,
        labelled,
        _top1,
        max_drop=max_drop,
        drop_type=DropType.ABSOLUTE,
        transform_fn=lambda it: it[0],
        show_progress=False,
    )
    acc = _top1(core.compile_model(result, "CPU"), labelled)[0]  # measured here, independently
    assert 1.0 - acc <= max_drop
    reverted = set(_fq_names(default)) - set(_fq_names(result))
    assert reverted  # at least one FakeQuantize was reverted
    assert set(_fq_names(result)) < set(_fq_names(default))
    params = json.loads(_rt(result, "config"))["compression"]["algorithms"][0]["params"]
    assert (params["maximal_drop"], params["drop_type"]) == (max_drop, "absolute")
    assert _rt(result, "api") == "fastpot.quantize_with_accuracy_control"

    # A validation_fn without per-item values: per-item values come from one-item calls,
    # which here are the same values, so the search and its result are the same.
    calls = []

    def counted(compiled, items):
        calls.append(len(items))
        return _top1_only(compiled, items)

    same = quantize_with_accuracy_control(
        XML,
        calibration,
        labelled,
        counted,
        max_drop=max_drop,
        transform_fn=lambda it: it[0],
        show_progress=False,
    )
    _assert_same_model(same, result)
    assert {1, len(labelled)} <= set(calls)


def test_accuracy_control_relative_drop_within_reach_reverts_nothing(labelled):
    core = ov.Core()
    calibration = labelled[:100]
    default = quantize(XML, calibration, transform_fn=lambda it: it[0], show_progress=False)
    drop = 1.0 - _top1(core.compile_model(default, "CPU"), labelled)[0]
    result = quantize_with_accuracy_control(
        XML,
        Dataset(calibration, lambda it: it[0]),
        labelled[:100] + labelled[100:],
        _top1,
        max_drop=drop + 0.05,
        drop_type="relative",
        show_progress=False,
    )
    # Already within the allowed drop: AA returns DefaultQuantization's model unchanged.
    _assert_same_model(result, default)


# ---- (d) errors ---------------------------------------------------------------------------


def test_unknown_ignored_name_is_an_error_naming_it(images):
    with pytest.raises(
        ValueError, match=r"ignored_scope\.names: 'conv9' is not a node.*'conv1'|'conv9'"
    ):
        quantize(
            XML, [images[:1]], ignored_scope=IgnoredScope(names=["conv9"]), show_progress=False
        )
    with pytest.raises(ValueError, match=r"ignored_scope\.patterns: 'dense.\*' matches no node"):
        quantize(
            XML, [images[:1]], ignored_scope=IgnoredScope(patterns=["dense.*"]), show_progress=False
        )
    with pytest.raises(ValueError, match=r"ignored_scope\.types: the model has no 'Softmax'"):
        quantize(
            XML, [images[:1]], ignored_scope=IgnoredScope(types=["Softmax"]), show_progress=False
        )
    # validate=False drops what is not there
    kept = quantize(
        XML,
        [images[:1]],
        subset_size=1,
        show_progress=False,
        ignored_scope=IgnoredScope(names=["conv9"], validate=False),
    )
    assert _fq_names(kept)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"preset": "fast"}, ValueError, r"preset: 'fast' is not one of 'performance', 'mixed'"),
        (
            {"target_device": "TPU"},
            ValueError,
            r"target_device: 'TPU' is not one of 'ANY', 'CPU', 'GPU', 'NPU', 'CPU_SPR'",
        ),
        ({"model_type": "cnn"}, ValueError, r"model_type: 'cnn' is not one of 'transformer'"),
        ({"subset_size": 0}, ValueError, r"subset_size: 0 is not a positive integer"),
        ({"fast_bias_correction": "yes"}, TypeError, r"fast_bias_correction: 'yes'"),
        ({"show_progress": "no"}, TypeError, r"show_progress: 'no'"),
        (
            {"advanced_parameters": {"preset": "mixed"}},
            ValueError,
            r"advanced_parameters\.preset: set by the 'preset' argument",
        ),
    ],
)
def test_bad_arguments_are_named(images, kwargs, error, message):
    with pytest.raises(error, match=message):
        quantize(XML, [images[:1]], **kwargs)


def test_advanced_parameter_typo_names_the_key_path(images):
    with pytest.raises(
        ParameterError, match=r"advanced_parameters.*'stat_subset_sise'.*stat_subset_size"
    ):
        quantize(
            XML, [images[:1]], advanced_parameters={"stat_subset_sise": 3}, show_progress=False
        )
    with pytest.raises(ParameterError, match=r"advanced_parameters\.activations\.range_estimator"):
        quantize(
            XML,
            [images[:1]],
            show_progress=False,
            advanced_parameters={"activations": {"range_estimator": {"max": {"type": "maxx"}}}},
        )
    with pytest.raises(ParameterError, match=r"advanced_accuracy_restorer_parameters.*'max_iters'"):
        quantize_with_accuracy_control(
            XML,
            [images[:1]],
            [images[:1]],
            _top1_only,
            advanced_accuracy_restorer_parameters={"max_iters": 2},
        )


def test_enum_strings_are_case_insensitive():
    from fastpot.quantization.options import choice

    assert choice(TargetDevice, "cpu_spr", "target_device") is TargetDevice.CPU_SPR
    assert choice(QuantizationPreset, "MIXED", "preset") is QuantizationPreset.MIXED
    assert choice(ModelType, "Transformer", "model_type") is ModelType.TRANSFORMER
    assert choice(DropType, DropType.RELATIVE, "drop_type") is DropType.RELATIVE


def test_transformer_defaults_to_the_mixed_preset():
    from fastpot.quantization.options import default_params

    model = ov.Core().read_model(str(XML))
    common = {
        "target_device": "CPU",
        "subset_size": 300,
        "fast_bias_correction": True,
        "ignored_scope": None,
        "advanced_parameters": None,
    }
    params = default_params(model, preset=None, model_type=ModelType.TRANSFORMER, **common)
    assert (params["preset"], params["model_type"]) == ("mixed", "transformer")
    params = default_params(model, preset="performance", model_type="transformer", **common)
    assert params["preset"] == "performance"  # an explicit preset wins, as in NNCF
    assert default_params(model, preset=None, model_type=None, **common) == {
        "target_device": "CPU",
        "preset": "performance",
        "stat_subset_size": 300,
        "use_fast_bias": True,
    }


def test_accuracy_control_argument_errors(images):
    one = [images[:1]]
    with pytest.raises(ValueError, match=r"max_drop: -0.1 must be a finite number >= 0"):
        quantize_with_accuracy_control(XML, one, one, _top1_only, max_drop=-0.1)
    with pytest.raises(
        ValueError, match=r"drop_type: 'percent' is not one of 'absolute', 'relative'"
    ):
        quantize_with_accuracy_control(XML, one, one, _top1_only, drop_type="percent")
    with pytest.raises(ValueError, match=r"validation_dataset: no data items"):
        quantize_with_accuracy_control(XML, one, iter([]), _top1_only)
    with pytest.raises(TypeError, match=r"validation_fn: expected a callable"):
        quantize_with_accuracy_control(XML, one, one, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"validation_fn: the metric value must be a number"):
        quantize_with_accuracy_control(XML, one, one, lambda c, items: "good", show_progress=False)


def test_model_is_not_modified_in_place(images):
    core = ov.Core()
    model = core.read_model(str(XML))
    before = [(op.get_type_name(), op.get_friendly_name()) for op in model.get_ordered_ops()]
    quantized = quantize(model, [x[None] for x in images[:8]], subset_size=8, show_progress=False)
    assert quantized is not model
    assert [
        (op.get_type_name(), op.get_friendly_name()) for op in model.get_ordered_ops()
    ] == before
    assert _fq_names(quantized)
    assert not _fq_names(model)
    assert "quantization_parameters" not in model.get_rt_info()


def test_onnx_with_weights_and_other_files_are_refused(tmp_path):
    with pytest.raises(
        ValueError, match=r"model_config\.weights: .*plain_cnn\.onnx is an ONNX model"
    ):
        load_model(
            {"model_name": "net", "model": str(ONNX), "weights": str(XML.with_suffix(".bin"))}
        )
    with pytest.raises(ValueError, match=r"neither an OpenVINO IR \(\.xml\) nor an ONNX"):
        quantize(tmp_path / "net.pb", [np.zeros((1, 3, 32, 32), np.float32)])
    with pytest.raises(TypeError, match=r"model: expected an openvino.Model or a .xml/.onnx path"):
        quantize(42, [np.zeros((1, 3, 32, 32), np.float32)])  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"calibration_dataset: expected a fastpot.Dataset or an iterable"
    ):
        quantize(XML, 3)  # type: ignore[arg-type]


# ---- (e) load_model with ONNX, save_model names ------------------------------------------------


def test_load_model_onnx_and_plain_paths(tmp_path, images):
    by_config = load_model({"model_name": "net", "model": str(ONNX)})
    assert (by_config.name, by_config.get_model().get_friendly_name()) == ("net", "net")
    by_path = load_model(ONNX)
    assert (by_path.name, by_path.get_model().get_friendly_name()) == ("plain_cnn", "plain_cnn")
    assert load_model(str(XML)).get_model().get_friendly_name() == "plain_cnn"
    # ONNX and IR are the same network: same outputs
    core = ov.Core()
    x = images[:1]
    a = core.compile_model(by_path.get_model(), "CPU")(x)[0]
    b = core.compile_model(load_model(XML).get_model(), "CPU")(x)[0]
    np.testing.assert_array_equal(a, b)

    # save_model's default stem: the config's model_name (ONNX), else the file stem
    paths = save_model(by_config, tmp_path / "a")
    assert Path(paths[0]["model"]).name == "net.xml"
    paths = save_model(by_path, tmp_path / "b")
    assert Path(paths[0]["model"]).name == "plain_cnn.xml"
    # an explicit model_name wins over the model's own name, for an ov.Model too
    raw = core.read_model(str(ONNX))
    assert raw.get_friendly_name() == "onnx_Frontend_IR"
    paths = save_model(raw, tmp_path / "c", model_name="x")
    assert [Path(p).name for p in paths[0].values()] == ["x.xml", "x.bin"]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["x.bin", "x.xml"]
    # a quantized ONNX model saves under its stem, and loads back
    quantized = quantize(ONNX, [x], subset_size=1, show_progress=False)
    paths = save_model(quantized, tmp_path / "d")
    assert Path(paths[0]["model"]).name == "plain_cnn.xml"
    reloaded = load_model(paths[0]["model"]).get_model()
    assert _fq_names(reloaded) == _fq_names(quantized)
    assert "quantization_parameters" in reloaded.get_rt_info()


def test_onnx_test_model_is_small_and_regenerable():
    assert ONNX.stat().st_size < 200 * 1024
    tool = Path(__file__).resolve().parents[2] / "tools" / "make_onnx_models.py"
    assert re.search(r"plain_cnn\.onnx", tool.read_text())


# ---- report (needs fastpot.report, written alongside) ------------------------------------------


def test_report_is_written(tmp_path, images):
    items = [x[None] for x in images[:8]]
    quantize(XML, items, subset_size=8, show_progress=False, report=tmp_path / "report")
    report = json.loads((tmp_path / "report" / "quantization_report.json").read_text())
    assert report["algorithms"] == [
        {"name": "DefaultQuantization", "params": _params(stat_subset_size=8)}
    ]
    assert (tmp_path / "report" / "quantization_report.html").is_file()


@pytest.mark.parametrize(("max_drop", "reverts"), [(0.0, True), (1.0, False)])
def test_accuracy_control_report_is_written(tmp_path, labelled, max_drop, reverts):
    # What reaches the report (fastpot.report renders it): the AA config and summary.
    result = quantize_with_accuracy_control(
        XML,
        labelled[:20],
        labelled[:60],
        _top1,
        max_drop=max_drop,
        transform_fn=lambda it: it[0],
        show_progress=False,
        report=tmp_path / "aa",
    )
    report = json.loads((tmp_path / "aa" / "quantization_report.json").read_text())
    assert report["algorithms"][0]["name"] == "AccuracyAwareQuantization"
    assert report["algorithms"][0]["params"]["maximal_drop"] == max_drop
    assert report["accuracy_aware"]["baseline"] == {"top1": 1.0}  # named after _top1
    default = quantize(XML, labelled[:20], transform_fn=lambda it: it[0], show_progress=False)
    assert (set(_fq_names(result)) < set(_fq_names(default))) == reverts


def test_cache_dir_serves_another_range_estimator_without_inference(
    images: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm store (``cache_dir``) serves a re-run with another estimator: no inference."""
    monkeypatch.delenv("FASTPOT_CACHE_DIR", raising=False)
    data = list(images[:SUBSET])
    quantile = {"range_estimator": {"preset": "quantile"}}
    expected = quantize(XML, data, subset_size=SUBSET, advanced_parameters=quantile)
    quantize(XML, data, subset_size=SUBSET, cache_dir=tmp_path)  # cold: fills the store
    assert any(tmp_path.rglob("*.npz")), "the cold run stored nothing"

    calls = []
    for name in ("_run", "_collect_dispatched"):
        original = getattr(IEEngine, name)

        def counted(*args, _original=original, **kwargs):
            calls.append(1)
            return _original(*args, **kwargs)

        monkeypatch.setattr(IEEngine, name, counted)
    warm = quantize(XML, data, subset_size=SUBSET, cache_dir=tmp_path, advanced_parameters=quantile)
    assert not calls, "the warm run inferred"
    _assert_same_model(warm, expected)
