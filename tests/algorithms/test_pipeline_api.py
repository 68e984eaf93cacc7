"""create_pipeline / Pipeline / algorithm parameters: behaviour and errors (issue 5).

Ranges are checked against values computed here with NumPy from the calibration data (the
model input's FakeQuantize sees the data itself), not against fastpot's own kernels.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from fastpot import load_model
from fastpot.algorithms import (
    COMPRESSION_ALGORITHMS,
    Algorithm,
    DefaultQuantization,
    MinMaxQuantization,
    UnsupportedParameterError,
)
from fastpot.api import DataLoader, Engine, Metric
from fastpot.engines import IEEngine
from fastpot.pipeline import Pipeline, create_pipeline

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"


class _Loader(DataLoader):
    def __init__(self, model: str, labels: bool = False) -> None:
        with np.load(ZOO / f"{model}.npz") as data:
            self.data = {k: data[k] for k in data.files}
        self.labels = labels

    def __len__(self) -> int:
        return len(next(iter(self.data.values())))

    def __getitem__(self, i: int):
        return {k: v[i : i + 1] for k, v in self.data.items()}, (i % 10 if self.labels else None)


def _model(name: str = "plain_cnn"):
    return load_model(
        {"model_name": name, "model": str(ZOO / f"{name}.xml"), "weights": str(ZOO / f"{name}.bin")}
    )


def _engine(name: str = "plain_cnn", **config) -> IEEngine:
    return IEEngine({"device": "CPU", "stat_requests_number": 1, **config}, _Loader(name))


def _fq_ranges(model, name: str) -> list[np.ndarray]:
    fq = next(op for op in model.get_model().get_ops() if op.get_friendly_name() == name)
    return [np.asarray(fq.input_value(i).get_node().get_data()) for i in range(1, 5)]


def _minmax(params: dict, engine=None, model=None):
    engine = engine or _engine()
    pipeline = create_pipeline(
        [{"name": "MinMaxQuantization", "params": {"target_device": "CPU", **params}}], engine
    )
    return pipeline.run(model or _model())


IMAGE = np.load(ZOO / "plain_cnn.npz")["image"].astype(np.float64)


def _symmetric_input_range(h: float) -> tuple[float, float]:
    return -h * 128 / 127, h


def test_input_range_is_mean_of_per_sample_abs_max() -> None:
    q = _minmax({})
    il, ih, ol, oh = _fq_ranges(q, "conv1/fq_input_0")
    h = np.abs(IMAGE.reshape(len(IMAGE), -1)).max(axis=1).mean()
    np.testing.assert_allclose([il, ih], _symmetric_input_range(h), rtol=1e-6)
    np.testing.assert_array_equal(il, ol)
    np.testing.assert_array_equal(ih, oh)


def test_subset_and_shuffle_select_pot_samples() -> None:
    q = _minmax({"stat_subset_size": 20, "shuffle_data": True, "seed": 7})
    picked = random.Random(7).sample(range(len(IMAGE)), 20)  # POT's draw
    h = np.abs(IMAGE[picked].reshape(20, -1)).max(axis=1).mean()
    _, ih, _, _ = _fq_ranges(q, "conv1/fq_input_0")
    np.testing.assert_allclose(ih, h, rtol=1e-6)
    q = _minmax({"stat_subset_size": 20})
    h = np.abs(IMAGE[:20].reshape(20, -1)).max(axis=1).mean()
    np.testing.assert_allclose(_fq_ranges(q, "conv1/fq_input_0")[1], h, rtol=1e-6)


def test_quantile_preset_and_clipping_value() -> None:
    q = _minmax({"range_estimator": {"preset": "quantile"}})
    flat = np.abs(IMAGE.reshape(len(IMAGE), -1))
    h = np.quantile(flat, 1 - 1e-4, axis=1).mean()
    np.testing.assert_allclose(_fq_ranges(q, "conv1/fq_input_0")[1], h, rtol=1e-6)
    q = _minmax({"activations": {"range_estimator": {"max": {"clipping_value": 1.0}}}})
    il, ih, _, _ = _fq_ranges(q, "conv1/fq_input_0")
    assert float(ih) == 1.0
    h = flat.max(axis=1).mean()
    np.testing.assert_allclose(il, -h * 128 / 127, rtol=1e-6)  # low end stays


def test_mixed_preset_input_is_asymmetric_with_integer_zero_point() -> None:
    q = _minmax({"preset": "mixed"})
    il, ih, _, _ = (float(np.ravel(a)[0]) for a in _fq_ranges(q, "conv1/fq_input_0"))
    lo = IMAGE.reshape(len(IMAGE), -1).min(axis=1).mean()
    hi = IMAGE.reshape(len(IMAGE), -1).max(axis=1).mean()
    assert il <= lo + 1e-6
    assert ih >= hi - 1e-6
    zero_point = -il / (ih - il) * 255
    assert abs(zero_point - round(zero_point)) < 1e-3


def test_stat_batch_size_on_a_static_batch_model_names_the_input() -> None:
    with pytest.raises(ValueError, match="image"):
        _minmax({"stat_batch_size": 4})


def test_skip_model_places_no_fake_quantize() -> None:
    q = _minmax({"ignored": {"skip_model": True}})
    assert not [op for op in q.get_model().get_ops() if op.get_type_name() == "FakeQuantize"]


class _PredictOnlyEngine(Engine):
    """A POT-style custom engine: statistics only through predict's stats_layout."""

    def __init__(self, loader: DataLoader) -> None:
        super().__init__({}, loader)
        self._inner = IEEngine({"device": "CPU", "stat_requests_number": 1}, loader)

    def set_model(self, model) -> None:
        self._inner.set_model(model)

    def predict(
        self,
        stats_layout=None,
        sampler=None,
        stat_aliases=None,
        metric_per_sample=False,
        print_progress=False,
    ):
        return self._inner.predict(stats_layout, sampler, stat_aliases, metric_per_sample)


def test_custom_engine_gives_the_same_ranges() -> None:
    ours = _minmax({}, engine=_PredictOnlyEngine(_Loader("plain_cnn")))
    ref = _minmax({})
    for op in ref.get_model().get_ops():
        if op.get_type_name() == "FakeQuantize":
            for a, b in zip(
                _fq_ranges(ours, op.get_friendly_name()),
                _fq_ranges(ref, op.get_friendly_name()),
                strict=True,
            ):
                np.testing.assert_allclose(a, b, rtol=1e-6)


def test_unknown_algorithm_names_the_close_match() -> None:
    with pytest.raises(KeyError, match="DefaultQuantization"):
        create_pipeline([{"name": "DefaultQuantisation", "params": {}}], _engine())


def test_unknown_parameter_warns_with_the_close_match() -> None:
    with pytest.warns(UserWarning, match="stat_subset_size"):
        create_pipeline(
            [
                {
                    "name": "DefaultQuantization",
                    "params": {"target_device": "CPU", "stat_subset_sze": 3},
                }
            ],
            _engine(),
        )


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({}, ValueError, "target_device"),
        (
            {"target_device": "CPU", "use_layerwise_tuning": True},
            UnsupportedParameterError,
            "layerwise",
        ),
        ({"target_device": "GNA"}, UnsupportedParameterError, "GNA"),
    ],
)
def test_unsupported_configurations_are_refused(params, error, match) -> None:
    with pytest.raises(error, match=match):
        DefaultQuantization(params, _engine())


@pytest.mark.parametrize(
    ("estimator", "match"),
    [
        ({"max": {"type": "quantile"}}, "outlier_prob"),
        ({"max": {"aggregator": "average"}}, "aggregator"),
        ({"max": {"typ": "max"}}, "typ"),
    ],
)
def test_bad_range_estimator_names_the_key(estimator, match) -> None:
    with pytest.raises(ValueError, match=match):
        _minmax({"activations": {"range_estimator": estimator}})


def test_custom_algorithm_registers_and_runs() -> None:
    calls = []

    @COMPRESSION_ALGORITHMS.register("RecordingAlgorithmForTest")
    class Recording(Algorithm):
        name = "RecordingAlgorithmForTest"

        def run(self, model):
            calls.append(self.config.value)
            return model

    with pytest.warns(UserWarning, match="value"):  # not a POT parameter of the base class
        pipeline = create_pipeline(
            [{"name": "QuantizationAlgos.RecordingAlgorithmForTest", "params": {"value": 3}}],
            _engine(),
        )
    model = _model()
    assert pipeline.run(model) is model
    assert calls == [3]
    with pytest.raises(KeyError, match="already registered"):
        COMPRESSION_ALGORITHMS.register("RecordingAlgorithmForTest")(Recording)


class _Accuracy(Metric):
    def __init__(self) -> None:
        super().__init__()

    def reset(self) -> None:
        self.hits, self.total = 0, 0

    def update(self, output, target) -> None:
        self.hits += int(np.sum(np.argmax(output[0], axis=-1) == np.asarray(target)))
        self.total += len(target)

    @property
    def avg_value(self):
        return {"accuracy": self.hits / max(self.total, 1)}

    def get_attributes(self):
        return {"accuracy": {"direction": "higher-better", "type": "accuracy"}}


def test_evaluate_returns_the_metric_and_the_pipeline_keeps_the_loader_order() -> None:
    loader = _Loader("plain_cnn", labels=True)
    engine = IEEngine({"device": "CPU"}, loader, _Accuracy())
    pipeline = Pipeline(engine)
    pipeline.add_algo(MinMaxQuantization({"target_device": "CPU", "stat_subset_size": 30}, engine))
    assert [a.name for a in pipeline.algo_seq] == ["MinMaxQuantization"]
    model = _model()
    fp32 = pipeline.evaluate(model)
    quantized = pipeline.run(model)
    int8 = pipeline.evaluate(quantized)
    # Reference: the same accuracy from a plain loop over the FP32 model.
    import openvino as ov

    compiled = ov.Core().compile_model(
        _model().get_model(), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    hits = sum(
        int(np.argmax(compiled(loader[i][0]["image"])[0]) == i % 10) for i in range(len(loader))
    )
    assert fp32 == {"accuracy": hits / len(loader)}
    assert set(int8) == {"accuracy"}


def test_one_progress_bar_with_eta_for_the_whole_run(capsys) -> None:
    import logging

    log = logging.getLogger("fastpot")
    old = log.level
    log.setLevel(logging.INFO)
    try:
        engine = _engine("signed_zero_channel")
        params = {"target_device": "CPU", "use_fast_bias": False}
        create_pipeline([{"name": "DefaultQuantization", "params": params}], engine).run(
            _model("signed_zero_channel")
        )
    finally:
        log.setLevel(old)
    err = capsys.readouterr().err
    assert "\r" not in err  # not a terminal: whole lines, no redraws
    frames = err.splitlines()
    assert frames
    assert all(f.startswith("quantization:") for f in frames)  # no per-pass bars
    # ACA pass (64) + merged pass (64) + BC: FP32 pass and 4 dependency levels of 12 samples.
    assert frames[-1].split()[2] == "188/188"
    assert any("ETA" in f for f in frames[1:-1])


def test_batched_statistics_equal_per_sample_ones_on_a_dynamic_batch_model() -> None:
    # 200 samples in 50 equal batches of 4: POT's mean-of-batch-means equals the plain mean.
    dynamic = _model()
    dynamic.get_model().reshape({"image": [-1, 3, 32, 32]})
    batched = _minmax({"stat_batch_size": 4}, model=dynamic)
    single = _minmax({})
    for op in single.get_model().get_ops():
        if op.get_type_name() == "FakeQuantize":
            name = op.get_friendly_name()
            for a, b in zip(_fq_ranges(batched, name), _fq_ranges(single, name), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"saturation_fix": "none"}, "saturation_fix"),
        ({"weights": {"range_estimator": {"max": {"clipping_value": 0.5}}}}, "clipping_value"),
        ({"preset": "fast"}, "preset"),
    ],
)
def test_unsupported_values_are_named(params, match) -> None:
    with pytest.raises((ValueError, UnsupportedParameterError), match=match):
        _minmax(params)


def test_addict_configs_as_pot_samples_wrote_them() -> None:
    from addict import Dict as AddictDict

    model = load_model(
        AddictDict(
            {
                "model_name": "plain_cnn",
                "model": str(ZOO / "plain_cnn.xml"),
                "weights": str(ZOO / "plain_cnn.bin"),
            }
        )
    )
    engine = IEEngine(
        AddictDict({"device": "CPU", "stat_requests_number": 1}), _Loader("plain_cnn")
    )
    algorithms = [
        AddictDict(
            {
                "name": "DefaultQuantization",
                "params": {"target_device": "CPU", "preset": "performance", "stat_subset_size": 50},
            }
        )
    ]
    quantized = create_pipeline(algorithms, engine).run(model)
    plain = _minmax({"stat_subset_size": 50})
    # DefaultQuantization's input range equals MinMax's on the same subset (no ACA pair here).
    for got, want in zip(
        _fq_ranges(quantized, "conv1/fq_input_0"),
        _fq_ranges(plain, "conv1/fq_input_0"),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
