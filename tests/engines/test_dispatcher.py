"""The C++ dispatcher (fastpot._dispatch) against a plain synchronous loop and NumPy.

Every zoo model, every statistic and aggregator, per tensor and per channel, in synchronous
(one request) and asynchronous mode; the Python fallback must give the same bits; errors
cross as Python exceptions and leave no request running.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from fastpot.api import DataLoader
from fastpot.engines import IEEngine, ie_engine
from fastpot.graph import load_model
from fastpot.kernels import StatisticAccumulator, reference
from fastpot.samplers import create_sampler

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"
MODELS = (
    "plain_cnn",
    "residual_concat",
    "mobilenet_like",
    "transformer_block",
    "two_input",
    "conv_nobias_bn",
    "signed_zero_channel",
)
SAMPLES = 10
Q = 1 - 1e-4

# (stat, how, q) fed per tensor; per channel (axis 1) the same on tensors of rank >= 3.
ESTIMATORS = (
    ("min", "min", None),
    ("max", "max", None),
    ("abs_max", "max", None),
    ("abs_max", "mean", None),
    ("min", "median", None),
    ("mean", "mean", None),
    ("quantile", "mean", 1e-4),
    ("quantile", "median_no_outliers", Q),
    ("abs_quantile", "mean", Q),
    ("abs_quantile", "max", Q),  # per-sample quantiles are np.quantile's bits
    ("quantile", "min", 1e-4),
    ("abs_quantile", "mean_no_outliers", Q),
    ("max", "hl_estimator", None),
)
EXACT = {"min", "max"}  # aggregators whose result is one of the per-sample values


class ZooLoader(DataLoader):
    """Sample i of a zoo .npz: ({input: data[name][i:i+1]}, label i)."""

    def __init__(self, name: str, samples: int = SAMPLES) -> None:
        data = np.load(ZOO / f"{name}.npz")
        self.arrays = {k: data[k][:samples] for k in data.files}
        self.samples = samples

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, i: int) -> tuple:
        return {k: v[i : i + 1] for k, v in self.arrays.items()}, i


def _model(name: str):
    return load_model({"model": str(ZOO / f"{name}.xml"), "weights": str(ZOO / f"{name}.bin")})


def _engine(name: str, requests: int | None, loader: DataLoader | None = None) -> IEEngine:
    engine = IEEngine(
        {"device": "CPU", "stat_requests_number": requests}, loader or ZooLoader(name)
    )
    engine.set_model(_model(name))
    return engine


def _nodes(model: ov.Model) -> list[tuple[str, int]]:
    """A spread of float nodes with their ranks (at most 4 per model)."""
    found = [
        (op.get_friendly_name(), op.get_output_partial_shape(0).rank.get_length())
        for op in model.get_ordered_ops()
        if op.get_type_name() not in ("Constant", "Parameter", "Result", "ShapeOf")
        and op.get_output_element_type(0) == ov.Type.f32
        and op.get_output_partial_shape(0).rank.get_length() >= 2
    ]
    step = max(1, len(found) // 4)
    return found[::step][:4]


def _accumulators(nodes: list[tuple[str, int]]) -> dict[str, list[StatisticAccumulator]]:
    accs = {}
    for name, rank in nodes:
        axes = [None, 1] if rank >= 3 else [None]
        accs[name] = [
            StatisticAccumulator(s, h, channel_axis=a, q=q) for a in axes for s, h, q in ESTIMATORS
        ]
    return accs


def _reference_outputs(name: str, nodes: list[str]) -> dict[str, list[np.ndarray]]:
    """A plain synchronous loop with OpenVINO's Python API, one sample at a time."""
    core = ov.Core()
    model = core.read_model(ZOO / f"{name}.xml")
    ops = {op.get_friendly_name(): op for op in model.get_ops()}
    first = len(model.outputs)
    model.add_outputs([ops[n].output(0) for n in nodes])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    loader = ZooLoader(name)
    result: dict[str, list[np.ndarray]] = {n: [] for n in nodes}
    for i in range(len(loader)):
        out = compiled(loader[i][0])
        for k, n in enumerate(nodes):
            result[n].append(out[first + k].copy())
    return result


def _expected(acc: StatisticAccumulator, tensors: list[np.ndarray]) -> np.ndarray:
    """NumPy reference: per-sample values of every batch, then the aggregator."""
    per_sample = np.concatenate(
        [
            reference.reduce_per_sample(x, acc.stat, acc.channel_axis, acc.q or 0.0).reshape(
                x.shape[0], -1
            )
            for x in tensors
        ]
    )
    want = reference.aggregate(per_sample.astype(np.float64), acc.how).astype(np.float32)
    return want.reshape(()) if acc.channel_axis is None else want


def _check(accs: dict[str, list[StatisticAccumulator]], expected: dict[str, list[np.ndarray]]):
    for node, group in accs.items():
        for acc in group:
            label = f"{node} {acc.stat}/{acc.how} axis={acc.channel_axis}"
            assert acc.samples == SAMPLES, label
            got, want = acc.result(), _expected(acc, expected[node])
            assert got.shape == want.shape, label
            if acc.how in EXACT:  # min/max of per-sample values: bit-exact
                np.testing.assert_array_equal(got, want, err_msg=label)
            else:
                np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7, err_msg=label)


@pytest.mark.parametrize("requests", [1, None], ids=["sync", "async"])
@pytest.mark.parametrize("name", MODELS)
def test_dispatcher_equals_a_synchronous_reference_loop_and_the_fallback(
    name: str, requests: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(name, requests)
    nodes = _nodes(engine._model)
    accs = _accumulators(nodes)
    engine.collect_statistics(accs, create_sampler(engine, SAMPLES))
    assert engine._dispatchers, "the C++ dispatcher was not used"
    (dispatcher, _), *_ = engine._dispatchers.values()
    assert dispatcher.requests == 1 if requests == 1 else dispatcher.requests >= 1
    assert dispatcher.in_flight == 0
    _check(accs, _reference_outputs(name, [n for n, _ in nodes]))

    # The Python fallback folds in the same order: identical bits, means included.
    monkeypatch.setenv("FASTPOT_DISPATCH", "0")
    fallback = _accumulators(nodes)
    engine.collect_statistics(fallback, create_sampler(engine, SAMPLES))
    for node in accs:
        for a, b in zip(accs[node], fallback[node], strict=True):
            np.testing.assert_array_equal(a.result(), b.result(), err_msg=f"{node} {a.stat}")


@pytest.mark.parametrize("requests", [1, 2])
def test_batches_of_a_dynamic_batch_model(requests: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 4 (and a ragged last one of 2) on a model with a dynamic batch axis."""
    model = _model("plain_cnn")
    model.get_model().reshape({"image": [-1, 3, 32, 32]})
    engine = IEEngine({"device": "CPU", "stat_requests_number": requests}, ZooLoader("plain_cnn"))
    engine.set_model(model)
    names = ["conv1/relu", "conv3/relu"]
    make = lambda: {
        n: [
            StatisticAccumulator(s, h, channel_axis=a, q=q)
            for a in (None, 1)
            for s, h, q in ESTIMATORS
        ]
        for n in names
    }
    accs = make()
    engine.collect_statistics(accs, create_sampler(engine, SAMPLES, batch_size=4))
    assert engine._dispatchers
    expected = _reference_outputs("plain_cnn", names)
    for node, group in accs.items():
        batches = [np.concatenate(expected[node][i : i + 4]) for i in range(0, SAMPLES, 4)]
        for acc in group:
            assert acc.batches == 3
            label = f"{node} {acc.stat}/{acc.how} axis={acc.channel_axis}"
            got = acc.result()
            if acc.how == "mean":  # POT's mean of per-batch means
                means = [
                    reference.reduce_per_sample(b, acc.stat, acc.channel_axis, acc.q or 0.0)
                    .reshape(len(b), -1)
                    .astype(np.float64)
                    .mean(axis=0)
                    for b in batches
                ]
                want = np.mean(means, axis=0).astype(np.float32)
                want = want.reshape(()) if acc.channel_axis is None else want
                np.testing.assert_allclose(got, want, rtol=2e-6, err_msg=label)
            else:
                want = _expected(acc, batches)
                np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7, err_msg=label)
    monkeypatch.setenv("FASTPOT_DISPATCH", "0")
    fallback = make()
    engine.collect_statistics(fallback, create_sampler(engine, SAMPLES, batch_size=4))
    for node in accs:
        for a, b in zip(accs[node], fallback[node], strict=True):
            np.testing.assert_array_equal(a.result(), b.result(), err_msg=f"{node} {a.stat}")


def test_async_folding_is_deterministic_with_many_requests() -> None:
    """Batches complete in any order; the accumulators fold them in sample order."""
    name = "mobilenet_like"
    runs = []
    for requests in (1, 2):
        engine = _engine(name, requests, ZooLoader(name, samples=40))
        accs = {
            n: [
                StatisticAccumulator("abs_quantile", "mean", q=Q),
                StatisticAccumulator("mean", "mean"),
            ]
            for n, _ in _nodes(engine._model)
        }
        engine.collect_statistics(accs, create_sampler(engine, 40))
        runs.append([a.result() for group in accs.values() for a in group])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_one_warning_when_the_module_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ie_engine, "_DISPATCH", [])
    monkeypatch.setitem(sys.modules, "fastpot._dispatch", None)  # import raises ImportError
    handler = _Records()
    ie_engine.logger.addHandler(handler)  # fastpot's logger may not propagate (init_logger)
    try:
        engine = _engine("plain_cnn", None)
        nodes = _nodes(engine._model)
        for _ in range(2):
            accs = _accumulators(nodes)
            engine.collect_statistics(accs, create_sampler(engine, SAMPLES))
    finally:
        ie_engine.logger.removeHandler(handler)
    assert len(handler.records) == 1
    assert "fastpot._dispatch cannot be loaded" in handler.records[0].getMessage()
    assert not engine._dispatchers
    _check(accs, _reference_outputs("plain_cnn", [n for n, _ in nodes]))


class BrokenLoader(DataLoader):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> object:
        image = np.zeros((3, 32, 32), np.float32)
        if i == 5:
            if self.kind == "raise":
                raise OSError("disk on fire")
            if self.kind == "shape":
                return np.zeros((3, 16, 16), np.float32), None
        return image + i, None


@pytest.mark.parametrize("requests", [1, 2])
@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("raise", RuntimeError, r"item 5: __getitem__ raised OSError: disk on fire"),
        ("shape", ValueError, r"items 5\.\.5: model input 'image' has the static shape"),
    ],
)
def test_bad_items_name_the_sample_and_leave_no_request_running(
    kind: str, error: type, message: str, requests: int
) -> None:
    loader = BrokenLoader(kind)
    engine = _engine("plain_cnn", requests, loader)
    accs = {"conv1/relu": [StatisticAccumulator("abs_quantile", "mean", q=Q)]}
    with pytest.raises(error, match=message):
        engine.collect_statistics(accs, create_sampler(engine, 8))
    (dispatcher, _), *_ = engine._dispatchers.values()
    assert dispatcher.in_flight == 0
    # Items 0..4 were inferred, or (loaded while the model compiled) never started.
    assert dispatcher.submitted in (0, 5)
    # The engine is usable afterwards.
    loader.kind = "none"
    accs = {"conv1/relu": [StatisticAccumulator("max", "max")]}
    engine.collect_statistics(accs, create_sampler(engine, 8))
    assert accs["conv1/relu"][0].samples == 8


@pytest.fixture(scope="module")
def plain_ir() -> tuple[str, str]:
    return str(ZOO / "plain_cnn.xml"), str(ZOO / "plain_cnn.bin")


def test_bad_item_shape_on_a_dynamic_model_names_the_sample_and_input() -> None:
    """Shapes of dynamic inputs are checked by the dispatcher itself."""
    model = _model("plain_cnn")
    model.get_model().reshape({"image": [-1, 3, 32, 32]})
    loader = BrokenLoader("shape")
    engine = IEEngine({"device": "CPU", "stat_requests_number": 2}, loader)
    engine.set_model(model)
    accs = {"conv1/relu": [StatisticAccumulator("min", "min")]}
    with pytest.raises(
        ValueError, match=r"items 5\.\.5: model input '.*' has the shape \[\?,3,32,32\], the batch"
    ):
        engine.collect_statistics(accs, create_sampler(engine, 8))
    (dispatcher, _), *_ = engine._dispatchers.values()
    assert dispatcher.in_flight == 0


def test_direct_use_keeps_outputs_in_order_and_reports_errors(plain_ir) -> None:
    from fastpot import _dispatch

    xml, bin_ = plain_ir
    d = _dispatch.Dispatcher(xml, bin_, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}, 2)
    assert d.requests == 2
    assert d.outputs == 1
    images = np.load(ZOO / "plain_cnn.npz")["image"][:6]
    d.begin([], keep=[0])
    for i in range(6):
        d.submit([images[i : i + 1]])
    d.finish()
    got = [batch[0] for batch in d.take_outputs()]
    compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    want = [compiled(images[i : i + 1])[0] for i in range(6)]
    assert len(got) == 6
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)

    d.begin([])
    with pytest.raises(ValueError, match=r"model input '.*' has the shape \[1,3,32,32\]"):
        d.submit([np.zeros((1, 3, 16, 16), np.float32)])
    with pytest.raises(TypeError, match="needs float32 data, got float64"):
        d.submit([np.zeros((1, 3, 32, 32), np.float64)])
    with pytest.raises(TypeError, match="C-contiguous"):
        d.submit([np.zeros((1, 3, 32, 64), np.float32)[..., ::2]])
    with pytest.raises(ValueError, match="2 arrays for a model with 1 inputs"):
        d.submit([images[:1], images[:1]])
    with pytest.raises(TypeError, match=r"fastpot\._core\.StatisticAccumulator"):
        d.begin([("tensor", 0, 0, object())])
    with pytest.raises(ValueError, match="output 3 out of range"):
        d.begin([("tensor", 3, 3, StatisticAccumulator("max", "max")._native)])
    assert d.in_flight == 0


def test_openvino_errors_cross_as_python_exceptions() -> None:
    from fastpot import _dispatch

    with tempfile.TemporaryDirectory() as tmp:
        missing = str(Path(tmp) / "none.xml")
        with pytest.raises(RuntimeError, match=r"none\.xml"):
            _dispatch.Dispatcher(missing, missing[:-3] + "bin", "CPU", {}, 1)
    xml = str(ZOO / "plain_cnn.xml")
    with pytest.raises(RuntimeError, match="NO_SUCH_DEVICE"):
        _dispatch.Dispatcher(xml, xml[:-3] + "bin", "NO_SUCH_DEVICE", {}, 1)
