"""IEEngine inputs without a batch axis: recurrent state, scalar and not-sample-first inputs.

A loader item whose array has the input's full shape (an input whose batch axis is static
and not 1, or a scalar input) is fed as it is, one item per inference. Statistics read axis 0
of every tensor as the sample axis, as POT 2023.3 does (measured on a Silero-like LSTM): a
recurrent state ``[2, 1, H]`` gives two per-sample values per inference (its h and c slices),
a stereo ``[2, T]`` signal one per channel; a 0-d tensor is one sample. The ``mean``
aggregator is the unweighted mean over requests of each request's mean over its samples. The
models are built here with ``openvino.opset13``; expectations are the model compiled with
OpenVINO directly and NumPy references computed from the loader's data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from openvino.tools.pot import (
    DataLoader,
    Metric,
    compress_model_weights,
    create_pipeline,
    load_model,
    save_model,
)
from openvino.tools.pot import IEEngine as PotIEEngine

from fastpot.engines import IEEngine
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import BatchSampler
from fastpot.statistics.collector import ShapeRecorder

LOG = "fastpot.engines.ie_engine"
T, F, H = 64, 16, 8  # audio chunk, features, LSTM hidden size
ITEMS = 24
STATE_SCALE = np.array([0.5, 3.0], np.float32).reshape(2, 1, 1)  # h and c ranges differ
CONFIG = {"device": "CPU", "stat_requests_number": 1, "eval_requests_number": 1}


def _const(values: Any) -> Any:
    return ops.constant(np.asarray(values))


def _vad_model() -> ov.Model:
    """Silero-VAD-like: ``input`` [1, T] and ``state`` [2, 1, H] -> ``prob`` [1, 1], state.

    features = relu(input @ Wx) [1, 1, F]; (h0, c0) = split(state @ Ws, axis 0); one LSTMSequence step;
    prob = sigmoid(Y @ Wd + b); new_state = concat(Ho, Co) [2, 1, H].
    """
    rng = np.random.default_rng(0)

    def weights(*shape: int, scale: float) -> Any:
        return _const((rng.normal(size=shape) * scale).astype(np.float32))

    audio = ops.parameter([1, T], ov.Type.f32, name="input")
    state = ops.parameter([2, 1, H], ov.Type.f32, name="state")
    sequence = ops.reshape(audio, _const(np.array([1, 1, T], np.int64)), False, name="sequence")
    projected = ops.matmul(sequence, weights(T, F, scale=0.125), False, False, name="project")
    features = ops.relu(projected, name="features")  # [1, 1, F]: the LSTM's X
    mixed = ops.matmul(state, weights(H, H, scale=0.35), False, False, name="state_mix")
    h0, c0 = ops.split(mixed, _const(np.int64(0)), 2, name="split_state").outputs()
    lstm = ops.lstm_sequence(
        features,
        h0,
        c0,
        _const(np.array([1], np.int32)),
        weights(1, 4 * H, F, scale=0.3),
        weights(1, 4 * H, H, scale=0.3),
        weights(1, 4 * H, scale=0.1),
        H,
        "forward",
        name="lstm",
    )
    y, h1, c1 = lstm.outputs()
    flat = ops.reshape(y, _const(np.array([1, H], np.int64)), False, name="flat")
    dense = ops.matmul(flat, weights(H, 1, scale=4.0), False, False, name="dense")
    logit = ops.add(dense, _const(np.array([[0.1]], np.float32)), name="logit")
    prob = ops.sigmoid(logit, name="prob")
    new_state = ops.concat([h1, c1], 0, name="new_state")
    return ov.Model([ops.result(prob), ops.result(new_state)], [audio, state], "vad")


def _compiled(model: ov.Model | str | Path) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


class VadLoader(DataLoader):
    """Item i: ``({"input": [1, T], "state": [2, 1, H]}, label)``; labels optional."""

    def __init__(self, items: int = ITEMS, labels: list[int] | None = None) -> None:
        rng = np.random.default_rng(1)
        self.audio = rng.normal(size=(items, 1, T)).astype(np.float32)
        self.state = (rng.uniform(-1, 1, (items, 2, 1, H)) * STATE_SCALE).astype(np.float32)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.audio)

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], int | None]:
        label = None if self.labels is None else self.labels[i]
        return {"input": self.audio[i], "state": self.state[i]}, label


def _direct(model: ov.Model | str | Path, loader: VadLoader) -> tuple[np.ndarray, np.ndarray]:
    """(prob [n], new_state [n, 2, 1, H]) of the model compiled directly, item by item."""
    compiled = _compiled(model)
    outputs = [
        compiled({"input": a, "state": s}) for a, s in zip(loader.audio, loader.state, strict=True)
    ]
    prob = np.array([float(o[0][0, 0]) for o in outputs])
    return prob, np.stack([o[1] for o in outputs])


def _threshold(prob: np.ndarray) -> float:
    """A decision threshold halfway between the two middle probabilities (balanced labels)."""
    ordered = np.sort(prob)
    middle = len(ordered) // 2
    return float(ordered[middle - 1] + ordered[middle]) / 2


class Agreement(Metric):
    """Share of items whose decision (probability > threshold) is the FP32 model's label."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.requests: list[int] = []  # items per update (kept across resets)
        super().__init__()

    def reset(self) -> None:
        self.hits: list[float] = []
        self.last: list[float] = []

    def update(self, output: list[np.ndarray], target: list[int]) -> None:
        prob, state = output
        assert prob.shape == (1, 1), "one item per inference"
        assert state.shape == (2, 1, H)
        self.requests.append(len(target))
        decisions = prob.reshape(len(target), -1)[:, 0] > self.threshold
        self.last = [float(d == t) for d, t in zip(decisions, target, strict=True)]
        self.hits += self.last

    @property
    def value(self) -> dict[str, list[float]]:
        return {"agreement": self.last}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"agreement": float(np.mean(self.hits))}

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"agreement": {"direction": "higher-better", "type": "agreement"}}


def _mean_of_request_means(per_sample: list[np.ndarray]) -> np.ndarray:
    """POT's ``mean`` aggregator: each request's mean over its samples (axis 0), averaged."""
    return np.mean([np.mean(values, axis=0) for values in per_sample], axis=0)


def _fq(model: ov.Model, name: str) -> list[np.ndarray]:
    fq = next(op for op in model.get_ops() if op.get_friendly_name() == name)
    return [np.asarray(fq.input_value(i).get_node().get_data()) for i in range(1, 5)]


# ---- the done-when test: quantize a recurrent two-input model through the POT API ------------


@pytest.mark.parametrize(("batch_size", "requests"), [(1, 1), (3, 2)])
def test_recurrent_state_model_quantizes_evaluates_and_saves(
    tmp_path: Path, batch_size: int, requests: int, caplog: pytest.LogCaptureFixture
) -> None:
    fp32 = tmp_path / "vad.xml"
    ov.save_model(_vad_model(), fp32, compress_to_fp16=False)
    fp32_prob, fp32_state = _direct(fp32, VadLoader())
    threshold = _threshold(fp32_prob)
    labels = [int(p > threshold) for p in fp32_prob]
    loader = VadLoader(labels=labels)
    metric = Agreement(threshold)
    config = {"device": "CPU", "stat_requests_number": requests, "eval_requests_number": 1}
    engine = PotIEEngine(config, loader, metric)
    algorithm = {
        "name": "DefaultQuantization",
        "params": {
            "target_device": "CPU",
            "preset": "performance",
            "stat_subset_size": ITEMS,
            "stat_batch_size": batch_size,
        },
    }
    pipeline = create_pipeline([algorithm], engine)
    model = load_model({"model_name": "vad", "model": str(fp32), "weights": str(fp32)[:-3] + "bin"})
    with caplog.at_level(logging.WARNING, logger=LOG):
        quantized = pipeline.run(model)
    split = [r for r in caplog.records if r.name == LOG and "request of its own" in r.getMessage()]
    assert len(split) == (1 if batch_size > 1 else 0)  # warned once, only when batching

    # The state's FakeQuantize (the MatMul's input) has POT's per-tensor symmetric range:
    # axis 0 of the [2, 1, H] state is the sample axis, so each inference (one item per
    # request) gives two per-sample abs-max values, its h and c slices, and the range is the
    # mean over the requests of their slices' mean -- here, with two slices per request, the
    # mean over all h and c slices.
    fq_model = quantized.get_model()
    low, high, out_low, out_high = _fq(fq_model, "state_mix/fq_input_0")
    state = loader.state.astype(np.float64)  # [ITEMS, 2, 1, H]
    per_slice = _mean_of_request_means(list(np.abs(state).max(axis=(2, 3))))
    np.testing.assert_allclose(per_slice, np.abs(state).max(axis=(2, 3)).mean(), rtol=1e-12)
    np.testing.assert_allclose([low, high], [-per_slice * 128 / 127, per_slice], rtol=1e-6)
    np.testing.assert_array_equal([low, high], [out_low, out_high])
    # Not the per-item range (each [2, 1, H] item one sample, its abs-max over h and c):
    # POT does not reduce axis 0, and here the two differ by more than 20%.
    per_item = np.abs(state).max(axis=(1, 2, 3)).mean()
    assert abs(high - per_item) > 0.2 * per_item
    assert sum(op.get_type_name() == "FakeQuantize" for op in fq_model.get_ops()) >= 6

    # Evaluation: one item per inference; the INT8 decisions agree with the FP32 labels.
    fq_prob, fq_state = _direct(fq_model, loader)
    metrics = pipeline.evaluate(quantized)
    assert set(metrics) == {"agreement"}
    want = np.mean([(p > threshold) == label for p, label in zip(fq_prob, labels, strict=True)])
    assert metrics["agreement"] == pytest.approx(want)
    assert metrics["agreement"] >= 0.9
    assert set(metric.requests) == {1}
    # The c slices reach past that range (it averages h and c), so the state's FakeQuantize
    # clips them: the INT8 new state is the FP32 model's on the clipped state, up to the
    # other FakeQuantizes' noise -- and far from the FP32 model's on the state itself.
    clipped = VadLoader(labels=labels)
    clipped.state = np.clip(clipped.state, low, high)
    _, clipped_state = _direct(fp32, clipped)
    assert np.abs(fq_state - clipped_state).max() < 0.5 < np.abs(fq_state - fp32_state).max()

    # The saved INT8 IR compiles and runs in OpenVINO on the same inputs.
    compress_model_weights(quantized)
    paths = save_model(quantized, str(tmp_path / "int8"), model_name="vad_int8")
    saved = Path(paths[0]["model"])
    assert saved.exists()
    assert Path(paths[0]["weights"]).exists()
    ir = ov.Core().read_model(saved)
    assert [tuple(p.get_partial_shape().to_shape()) for p in ir.inputs] == [(1, T), (2, 1, H)]
    assert any(op.get_type_name() == "FakeQuantize" for op in ir.get_ops())
    assert any(op.get_output_element_type(0) == ov.Type.i8 for op in ir.get_ops())  # weights
    int8_prob, int8_state = _direct(saved, loader)
    np.testing.assert_allclose(int8_prob, fq_prob, atol=1e-4)
    np.testing.assert_allclose(int8_state, fq_state, atol=1e-4)


# ---- statistics: axis 0 of every tensor is the sample axis ---------------------------------------


def _state_accumulators() -> dict[Any, list[Any]]:
    return {
        "state": [  # [2, 1, H]: two samples per inference, the h and c slices
            StatisticAccumulator("abs_max", "mean"),  # in-graph min and max per slice
            StatisticAccumulator("min", "min"),
            StatisticAccumulator("abs_max", "median"),  # keeps every per-slice value
            StatisticAccumulator("quantile", "mean", q=0.9),  # the exported tensor
            StatisticAccumulator("max", "max", channel_axis=-1),  # [2, H] per inference
            StatisticAccumulator("mean", "mean", channel_axis=2),  # in-graph ReduceMean
            ShapeRecorder(),  # the tensor as it is
        ],
        "new_state": [  # [2, 1, H]
            StatisticAccumulator("abs_max", "mean"),
            StatisticAccumulator("abs_quantile", "mean", q=0.75),
            StatisticAccumulator("max", "max", channel_axis=1),  # in-graph, the size-1 axis
        ],
        "features": [  # [1, 1, F]
            StatisticAccumulator("abs_max", "max", channel_axis=-1),
            StatisticAccumulator("max", "mean"),
        ],
        "flat": [StatisticAccumulator("abs_max", "max", channel_axis=1)],  # [1, H]: rank 2
    }


def _state_references(loader: VadLoader) -> dict[str, list[Any]]:
    """Hand-computed POT statistics: one request per item, axis 0 of each tensor = samples.

    ``state``/``new_state`` are ``[n, 2, 1, H]`` (item, slice, ...): a request's samples are
    its two slices.
    """
    n = len(loader)
    state = loader.state.astype(np.float64)
    _, new_state = _direct(_vad_model(), loader)
    new = new_state.astype(np.float64)
    weights = _vad_model().get_ops()
    wx = next(
        np.asarray(op.get_data())
        for op in weights
        if op.get_type_name() == "Constant" and tuple(op.get_output_shape(0)) == (T, F)
    )
    features = np.maximum(loader.audio.astype(np.float64) @ wx, 0)  # [n, 1, F]
    slices = state.reshape(n, 2, H)  # per request: two samples of H values
    new_slices = new.reshape(n, 2, H)
    mean = _mean_of_request_means
    return {
        "state": [
            mean(list(np.abs(slices).max(axis=2))),
            state.min(),
            np.median(np.abs(slices).max(axis=2)),  # over all 2n slices
            mean(list(np.quantile(slices, 0.9, axis=2))),
            state.max(axis=(0, 1, 2)),  # [H]: over items, slices and the size-1 axis
            mean(list(state.mean(axis=2))),  # per slice and channel, [H]
            (2, 1, H),
        ],
        "new_state": [
            mean(list(np.abs(new_slices).max(axis=2))),
            mean(list(np.quantile(np.abs(new_slices), 0.75, axis=2))),
            new.max(axis=(0, 1, 3)),  # [1]
        ],
        "features": [  # one sample per request
            np.abs(features).max(axis=(0, 1)),
            mean(list(features.max(axis=2))),
        ],
        "flat": [np.abs(new[:, 0, 0, :]).max(axis=0)],  # Y == Ho after one step
    }


# Samples per inference of each node: axis 0 of its tensor.
SAMPLES = {"state": 2, "new_state": 2, "features": 1, "flat": 1}


@pytest.mark.parametrize("dispatch", ["1", "0"], ids=["dispatcher", "python"])
@pytest.mark.parametrize(("batch_size", "requests"), [(1, 1), (1, 2), (5, 1), (5, 2)])
def test_statistics_read_axis_0_as_samples(
    batch_size: int, requests: int, dispatch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTPOT_DISPATCH", dispatch)
    loader = VadLoader(items=11)
    engine = IEEngine({"device": "CPU", "stat_requests_number": requests}, loader)
    engine.set_model(_vad_model())
    accumulators = _state_accumulators()
    engine.collect_statistics(accumulators, BatchSampler(loader, batch_size))
    want = _state_references(loader)
    for node, accs in accumulators.items():
        for acc, expected in zip(accs, want[node], strict=True):
            if isinstance(acc, ShapeRecorder):
                assert acc.result() == expected
                continue
            # One request per item (a batch of full-shape items is split), and axis 0 of
            # each request's tensor is its samples.
            assert acc.batches == len(loader), (node, acc.stat)
            assert acc.samples == SAMPLES[node] * len(loader), (node, acc.stat)
            np.testing.assert_allclose(
                acc.result(), expected, rtol=1e-5, atol=1e-6, err_msg=f"{node} {acc.stat}"
            )


@pytest.mark.parametrize("requests", [1, 2])
def test_predict_runs_one_item_per_request(requests: int) -> None:
    fp32_prob, fp32_state = _direct(_vad_model(), VadLoader(items=7))
    threshold = _threshold(fp32_prob)
    loader = VadLoader(items=7, labels=[int(p > threshold) for p in fp32_prob])
    metric = Agreement(threshold)
    config = {"device": "CPU", "stat_requests_number": requests, "eval_requests_number": requests}
    engine = IEEngine(config, loader, metric)
    engine.set_model(_vad_model())
    layout = {
        "new_state": {"raw": lambda t: t.copy()},
        "state": {"abs_max": lambda t: abs(t).max()},
    }
    (per_sample, avg), stats = engine.predict(
        layout, BatchSampler(loader, 3), metric_per_sample=True
    )
    assert avg == {"agreement": 1.0}
    assert metric.requests == [1] * 7
    assert [e["sample_id"] for e in per_sample] == list(range(7))
    # One value per item, of the tensor as it is.
    np.testing.assert_allclose(np.stack(stats["new_state"]["raw"]), fp32_state, rtol=1e-5)
    np.testing.assert_allclose(
        stats["state"]["abs_max"], np.abs(loader.state).max(axis=(1, 2, 3)), rtol=1e-6
    )


# ---- scalar inputs ----------------------------------------------------------------------------


def _scaled_model(rate_shape: list[int]) -> ov.Model:
    """``input`` [?, T] * (``sr`` / 16000) -> ``scaled``; ReLU -> ``out``."""
    audio = ops.parameter([-1, T], ov.Type.f32, name="input")
    rate = ops.parameter(rate_shape, ov.Type.i64, name="sr")
    factor = ops.divide(ops.convert(rate, ov.Type.f32), _const(np.float32(16000)), name="factor")
    scaled = ops.multiply(audio, factor, name="scaled")
    return ov.Model([ops.result(ops.relu(scaled, name="out"))], [audio, rate], "scaled")


class RateLoader(DataLoader):
    """Item i: ``({"input": [1, T], "sr": rate}, None)``, the rate 0-d or ``[1]``."""

    RATES = (16000, 8000, 32000, 16000, 8000)

    def __init__(self, as_array: bool) -> None:
        self.audio = np.random.default_rng(2).normal(size=(len(self.RATES), 1, T))
        self.audio = self.audio.astype(np.float32)
        self.as_array = as_array

    def __len__(self) -> int:
        return len(self.RATES)

    def __getitem__(self, i: int) -> tuple[dict[str, Any], None]:
        rate = np.array([self.RATES[i]]) if self.as_array else self.RATES[i]
        return {"input": self.audio[i], "sr": rate}, None


@pytest.mark.parametrize("dispatch", ["1", "0"], ids=["dispatcher", "python"])
@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("as_array", [False, True], ids=["0-d", "[1]"])
@pytest.mark.parametrize("rate_shape", [[], [1]], ids=["scalar", "one"])
def test_scalar_inputs(
    rate_shape: list[int],
    as_array: bool,
    batch_size: int,
    dispatch: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FASTPOT_DISPATCH", dispatch)
    loader = RateLoader(as_array)
    model = _scaled_model(rate_shape)
    engine = IEEngine(CONFIG, loader)
    engine.set_model(model)
    rates = np.array(RateLoader.RATES, np.float64)
    scaled = loader.audio[:, 0].astype(np.float64) * (rates / 16000)[:, None]  # [n, T]
    if rate_shape == [1] and batch_size > 1:
        # A static [1] input has a batch axis of 1: two samples do not fit it.
        with pytest.raises(ValueError, match=r"model input 'sr' has the static shape \[1\]"):
            engine.predict({"out": {"copy": lambda t: t.copy()}}, BatchSampler(loader, 2))
        return
    _, stats = engine.predict({"out": {"copy": lambda t: t.copy()}}, BatchSampler(loader, 1))
    direct = _compiled(model)
    for i, out in enumerate(stats["out"]["copy"]):
        rate = np.array(RateLoader.RATES[i], np.int64).reshape(rate_shape)
        np.testing.assert_allclose(out, direct({"input": loader.audio[i], "sr": rate})[0])
        np.testing.assert_allclose(out[0], np.maximum(scaled[i], 0), rtol=1e-6)
    shapes = ShapeRecorder()  # the tensor as it is
    accumulators: dict[Any, list[Any]] = {
        "scaled": [StatisticAccumulator("abs_max", "mean"), StatisticAccumulator("min", "mean")],
        # [] (0-d: no axis 0, one sample) or [1]: one sample per inference.
        "factor": [
            StatisticAccumulator("max", "mean"),
            StatisticAccumulator("abs_max", "median"),
            StatisticAccumulator("min", "min"),
            StatisticAccumulator("mean", "max"),
            shapes,
        ],
    }
    engine.collect_statistics(accumulators, BatchSampler(loader, batch_size))
    # One request per item: the scalar input makes every item a full-shape one (a batch of
    # two is split), and the [1] input takes one sample.
    factors = rates / 16000
    want = {
        "scaled": [
            _mean_of_request_means(list(np.abs(scaled).max(axis=1, keepdims=True))),
            _mean_of_request_means(list(scaled.min(axis=1, keepdims=True))),
        ],
        "factor": [factors.mean(), np.median(factors), factors.min(), factors.max()],
    }
    for node, values in want.items():
        accs = [a for a in accumulators[node] if isinstance(a, StatisticAccumulator)]
        for acc, expected in zip(accs, values, strict=True):
            assert acc.result().shape == ()
            np.testing.assert_allclose(acc.result(), expected, rtol=1e-6, err_msg=node)
            assert acc.samples == acc.batches == len(loader), (node, acc.stat)
    assert shapes.result() == tuple(rate_shape)


# ---- an input whose first axis is not the sample axis -------------------------------------------


def _stereo_model(time: int) -> ov.Model:
    """``stereo`` [2, time] (two channels, no batch axis) -> per-channel gain -> ``mono``."""
    stereo = ops.parameter([2, time], ov.Type.f32, name="stereo")
    gain = ops.multiply(stereo, _const(np.array([[1.0], [-2.0]], np.float32)), name="gain")
    mono = ops.reduce_mean(gain, _const(np.array([0], np.int64)), True, name="mono")
    return ov.Model([ops.result(mono)], [stereo], "stereo")


class StereoLoader(DataLoader):
    """Item i: a ``[2, T_i]`` recording (lengths differ for a dynamic time axis)."""

    def __init__(self, lengths: list[int]) -> None:
        rng = np.random.default_rng(4)
        self.items = [rng.normal(size=(2, n)).astype(np.float32) for n in lengths]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.items[i], i


@pytest.mark.parametrize("dispatch", ["1", "0"], ids=["dispatcher", "python"])
@pytest.mark.parametrize(
    ("time", "lengths"), [(T, [T] * 5), (-1, [40, 64, 23, 64, 51])], ids=["static", "dynamic"]
)
def test_first_axis_is_not_the_samples(
    time: int, lengths: list[int], dispatch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTPOT_DISPATCH", dispatch)
    loader = StereoLoader(lengths)
    model = _stereo_model(time)
    engine = IEEngine({"device": "CPU", "stat_requests_number": 2}, loader)
    engine.set_model(model)
    _, stats = engine.predict({"mono": {"copy": lambda t: t.copy()}}, BatchSampler(loader, 2))
    direct = _compiled(model)
    gains = np.array([[1.0], [-2.0]])
    for item, out in zip(loader.items, stats["mono"]["copy"], strict=True):
        assert out.shape == (1, item.shape[1])
        np.testing.assert_allclose(out, direct(item)[0], rtol=1e-6)
    accumulators = {
        "gain": [
            StatisticAccumulator("abs_max", "mean"),
            StatisticAccumulator("max", "max", channel_axis=-1) if time > 0 else None,
            StatisticAccumulator("mean", "mean", channel_axis=-1) if time > 0 else None,
        ]
    }
    accumulators["gain"] = [a for a in accumulators["gain"] if a is not None]
    engine.collect_statistics(accumulators, BatchSampler(loader, 3))
    # One request per item (the batches of three are split); axis 0 of each [2, T_i] gain,
    # its two channels, holds the request's samples.
    per_item = [item.astype(np.float64) * gains for item in loader.items]
    want: list[Any] = [_mean_of_request_means([np.abs(g).max(axis=1) for g in per_item])]
    assert not np.isclose(want[0], np.mean([np.abs(g).max() for g in per_item]), rtol=0.05)
    if time > 0:
        stacked = np.stack(per_item)  # [n, 2, T]
        want += [stacked.max(axis=(0, 1)), _mean_of_request_means(list(stacked))]
    for acc, expected in zip(accumulators["gain"], want, strict=True):
        assert acc.batches == len(loader)
        assert acc.samples == 2 * len(loader)
        np.testing.assert_allclose(acc.result(), expected, rtol=1e-5, atol=1e-6)


class DictLoader(DataLoader):
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[dict[str, Any], None]:
        return self.items[i], None


@pytest.mark.parametrize("dispatch", ["1", "0"], ids=["dispatcher", "python"])
def test_samples_and_full_shape_items_in_separate_batches(
    dispatch: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Two [T] samples stacked into the static [2, T] axis, then a [2, T] item fed as it is:
    # both are one request of two samples, since statistics read axis 0 of either.
    monkeypatch.setenv("FASTPOT_DISPATCH", dispatch)
    rng = np.random.default_rng(5)
    samples = rng.normal(size=(2, T)).astype(np.float32)
    whole = (rng.normal(size=(2, T)) * 3).astype(np.float32)
    loader = DictLoader([{"stereo": samples[0]}, {"stereo": samples[1]}, {"stereo": whole}])
    engine = IEEngine(CONFIG, loader)
    engine.set_model(_stereo_model(T))
    sampler = BatchSampler(loader, 2)
    with caplog.at_level(logging.WARNING, logger=LOG):
        _, stats = engine.predict({"gain": {"copy": lambda t: t.copy()}}, sampler)
        accumulators = {
            "gain": [
                StatisticAccumulator("abs_max", "mean"),
                StatisticAccumulator("min", "median"),
                StatisticAccumulator("mean", "mean", channel_axis=1),
            ]
        }
        engine.collect_statistics(accumulators, sampler)
    assert not [r for r in caplog.records if r.name == LOG]  # no batch to split
    gains = np.array([[1.0], [-2.0]])
    requests = [samples.astype(np.float64) * gains, whole.astype(np.float64) * gains]
    np.testing.assert_allclose(stats["gain"]["copy"], requests, rtol=1e-6)
    want = [
        _mean_of_request_means([np.abs(g).max(axis=1) for g in requests]),
        np.median([g.min(axis=1) for g in requests]),
        _mean_of_request_means(requests),
    ]
    for acc, expected in zip(accumulators["gain"], want, strict=True):
        assert (acc.batches, acc.samples) == (2, 4)
        np.testing.assert_allclose(acc.result(), expected, rtol=1e-5, atol=1e-6)


# ---- wrong shapes stay errors ------------------------------------------------------------------


def _vad_items(bad: dict[str, Any], at: int = 2) -> list[dict[str, Any]]:
    loader = VadLoader(items=4)
    items = [loader[i][0] for i in range(4)]
    items[at] = {**items[at], **bad}
    return items


STATE = (2, 1, H)


@pytest.mark.parametrize(
    ("model", "items", "error", "message"),
    [
        (
            _vad_model,
            _vad_items({"state": np.zeros((2, 1, H + 1), np.float32)}),
            ValueError,
            (
                r"data loader item 2: model input 'state' has the shape \[2, 1, 8\]; expected "
                r"an array of that shape \(fed as it is\) or a sample \[1, 8\], got \[2, 1, 9\]"
            ),
        ),
        (
            _vad_model,
            _vad_items({"state": np.zeros((1, *STATE), np.float32)}),
            ValueError,
            (
                r"data loader item 2: model input 'state' has the shape \[2, 1, 8\]; expected "
                r"an array of that shape \(fed as it is\) or a sample \[1, 8\], got "
                r"\[1, 2, 1, 8\]"
            ),
        ),
        (
            _vad_model,
            _vad_items({"state": np.zeros((1, H), np.float32)}, at=0),
            ValueError,
            (
                r"data loader items 0\.\.0: model input 'state' has the static shape "
                r"\[2, 1, 8\], the batch is \[1, 1, 8\]"
            ),
        ),
        (
            _vad_model,
            _vad_items({"input": np.zeros((1, T + 1), np.float32)}),
            ValueError,
            (
                r"data loader items 2\.\.2: model input 'input' has the static shape \[1, 64\], "
                r"the batch is \[1, 65\]; item 2 has the shape \[1, 65\] \(expected a sample "
                r"\[64\] or k samples \[k, 64\]\)"
            ),
        ),
        (
            _vad_model,
            _vad_items({"state": np.full(STATE, "x")}),
            TypeError,
            r"data loader item 2: model input 'state' needs float32 data",
        ),
        (
            lambda: _scaled_model([]),
            [{"input": np.zeros((1, T), np.float32), "sr": np.array([8000, 16000])}],
            ValueError,
            (
                r"data loader item 0: model input 'sr' is a scalar \(shape \[\]\); expected a "
                r"0-d array \(or one element \[1\]\), fed as it is, got \[2\]"
            ),
        ),
        (
            lambda: _stereo_model(-1),
            [{"stereo": np.zeros((3, T), np.float32)}],
            ValueError,
            (
                r"data loader item 0: model input 'stereo' has the shape \[2, \?\]; expected an "
                r"array of that shape \(fed as it is\) or a sample \[\?\], got \[3, 64\]"
            ),
        ),
        (
            # A full-shape item and a sample in one batch: the batch is split into one
            # request per item, and the sample alone does not fill the static axis 0.
            lambda: _stereo_model(T),
            [{"stereo": np.zeros((2, T), np.float32)}, {"stereo": np.zeros(T, np.float32)}],
            ValueError,
            (
                r"data loader items 1\.\.1: model input 'stereo' has the static shape "
                r"\[2, 64\], the batch is \[1, 64\]"
            ),
        ),
    ],
    ids=[
        "state-axis",
        "state-rank",
        "state-sample",
        "input-axis",
        "dtype",
        "scalar",
        "stereo",
        "mixed",
    ],
)
@pytest.mark.parametrize("path", ["predict", "dispatcher", "python"])
def test_wrong_shapes_name_the_item_the_input_and_the_shapes(
    model: Any,
    items: list[dict[str, Any]],
    error: type,
    message: str,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FASTPOT_DISPATCH", "0" if path == "python" else "1")
    loader = DictLoader(items)
    engine = IEEngine(CONFIG, loader)
    ov_model = model()
    engine.set_model(ov_model)
    node = ov_model.outputs[0].get_node().input_value(0).get_node().get_friendly_name()
    sampler = BatchSampler(loader, 2)
    if path == "predict":
        with pytest.raises(error, match=message):
            engine.predict({node: {"max": np.max}}, sampler)
    else:
        accumulators = {node: [StatisticAccumulator("max", "max")]}
        with pytest.raises(error, match=message):
            engine.collect_statistics(accumulators, sampler)
