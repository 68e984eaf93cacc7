"""IEEngine's ``"executor": {"type": "ray"}``: passes on a local Ray cluster of 2 workers.

Every expectation is the same engine run in this process: statistics (all zoo models, the
accumulator kinds the algorithms use), metric values (average and per sample) and a whole
AccuracyAware search must be bit-identical. A worker killed in the middle of a pass is
restarted by Ray and the results do not change.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest

from fastpot import load_model
from fastpot.algorithms import AccuracyAwareQuantization
from fastpot.api import DataLoader, Metric
from fastpot.engines import IEEngine
from fastpot.engines.ray_executor import check_executor_config
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers.sampler import BatchSampler

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"
HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(
    not HAVE_RAY, reason="ray is not installed (pip install fastpot[ray])"
)
RAY = {"type": "ray", "workers": 2}

pytestmark = [
    # Ray's own start-up and shutdown warnings are not about the code under test.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local Ray instance with 2 CPUs; this module's classes are pickled by value."""
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_DEDUP_LOGS"] = "0"
    # The test module is not importable on the workers: ship its classes with the loaders.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as tmp:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            _temp_dir=tmp,
            configure_logging=False,
        )
        try:
            yield ray
        finally:
            ray.shutdown()
            ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _zoo() -> list[str]:
    manifest = json.loads((ZOO / "manifest.json").read_text())
    return [name for name in manifest["models"] if (ZOO / f"{name}.xml").exists()]


def _model(name: str) -> Any:
    return load_model(
        {"model_name": name, "model": str(ZOO / f"{name}.xml"), "weights": str(ZOO / f"{name}.bin")}
    )


def _samples(name: str, count: int | None = None) -> dict[str, np.ndarray]:
    with np.load(ZOO / f"{name}.npz") as data:
        return {k: data[k][:count] for k in data.files}


class ZooLoader(DataLoader):
    """Items ``({input: sample}, label)``; optionally kills its Ray worker once at one index."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        labels: np.ndarray | None = None,
        kill_at: int | None = None,
        flag: str | None = None,
    ) -> None:
        self.arrays, self.labels = arrays, labels
        self.kill_at, self.flag = kill_at, flag
        self.driver = os.getpid()

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        in_worker = os.getpid() != self.driver
        if i == self.kill_at and in_worker and self.flag and not os.path.exists(self.flag):
            Path(self.flag).write_text(str(os.getpid()))  # once: the retried shard passes
            os.kill(os.getpid(), signal.SIGKILL)
        data = {k: v[i] for k, v in self.arrays.items()}
        label = None if self.labels is None else int(self.labels[i])
        return (data if len(data) > 1 else next(iter(data.values()))), label


def _accumulators(model: Any) -> dict[str, list[StatisticAccumulator]]:
    """The kinds MinMax, the range estimators and bias correction feed, on every activation."""
    names = [
        op.get_friendly_name()
        for op in model.get_model().get_ordered_ops()
        if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul", "Add", "Relu")
        and op.get_output_partial_shape(0).rank.get_length() >= 2
    ]
    return {
        name: [
            StatisticAccumulator("min", "min"),
            StatisticAccumulator("max", "mean", channel_axis=1),
            StatisticAccumulator("abs_max", "max"),
            StatisticAccumulator("quantile", "median", q=0.99),
            StatisticAccumulator("mean", "mean", channel_axis=1),
        ]
        for name in names
    }


def _statistics(name: str, executor: dict[str, Any] | None, batch_size: int = 1) -> Any:
    model = _model(name)
    loader = ZooLoader(_samples(name, 24))
    config: dict[str, Any] = {"device": "CPU"}
    if executor:
        config["executor"] = executor
    engine = IEEngine(config, loader)
    engine.set_model(model)
    accs = _accumulators(model)
    engine.collect_statistics(accs, BatchSampler(loader, batch_size))
    return {
        node: [(a.result(), a.batches, a.samples) for a in group] for node, group in accs.items()
    }


def _same(expected: Any, got: Any) -> None:
    assert expected.keys() == got.keys()
    for node in expected:
        for (value, batches, samples), (v, b, s) in zip(expected[node], got[node], strict=True):
            assert (b, s) == (batches, samples), node
            assert v.dtype == value.dtype, node
            np.testing.assert_array_equal(v, value, err_msg=node, strict=True)


# ---- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("ray", TypeError, "expected a mapping"),
        ({"type": "dask"}, ValueError, "the only one is 'ray'"),
        ({"type": "ray", "worker": 2}, ValueError, "did you mean 'workers'"),
        ({"type": "ray", "workers": 0}, ValueError, "at least 1"),
        ({"type": "ray", "workers": 1.5}, TypeError, "expected an integer"),
        ({"type": "ray", "address": 5}, TypeError, "Ray address"),
        ({"type": "ray", "cpus_per_worker": -1}, ValueError, "must be positive"),
    ],
)
def test_bad_executor_config_is_refused_before_any_work(value, error, match) -> None:
    with pytest.raises(error, match=match):
        IEEngine({"device": "CPU", "executor": value})


def test_executor_config_defaults() -> None:
    config = check_executor_config({"type": "ray"}, "IEEngine config")
    assert config is not None
    assert (config.address, config.workers, config.cpus_per_worker) == (None, None, 1.0)
    assert check_executor_config(None, "x") is None
    assert check_executor_config({}, "x") is None


def test_without_ray_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"fastpot\[ray\]"):
        IEEngine({"device": "CPU", "executor": {"type": "ray"}})


# ---- statistics ----------------------------------------------------------------------------


@needs_ray
@pytest.mark.parametrize("name", _zoo())
def test_statistics_are_bit_identical_on_the_zoo(cluster: Any, name: str) -> None:
    _same(_statistics(name, None), _statistics(name, RAY))


@needs_ray
def test_batches_keep_their_boundaries(cluster: Any) -> None:
    """Batches of 5 over 24 items (the last one 4): the mean of batch means is unchanged."""
    name = "plain_cnn"
    model = _model(name).get_model()
    model.reshape({model.inputs[0]: ov.PartialShape([-1, 3, 32, 32])})
    samples = _samples(name, 24)
    results = []
    for executor in (None, RAY):
        loader = ZooLoader(samples)
        config: dict[str, Any] = {"device": "CPU", **({"executor": executor} if executor else {})}
        engine = IEEngine(config, loader)
        engine.set_model(model)
        relu = next(
            op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "Relu"
        )
        accs = {relu: [StatisticAccumulator("max", "mean"), _Recorder()]}
        engine.collect_statistics(accs, BatchSampler(loader, 5))
        results.append((accs[relu][0].result(), accs[relu][0].batches, accs[relu][1].shapes))
    (plain, batches, shapes), (ray_value, ray_batches, ray_shapes) = results
    assert batches == ray_batches == 5
    assert shapes == ray_shapes
    assert [s[0] for s in shapes] == [5, 5, 5, 5, 4]
    np.testing.assert_array_equal(ray_value, plain, strict=True)


class _Recorder:
    """Any accumulator object (not a StatisticAccumulator): gets the tensors themselves."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def update(self, array: np.ndarray) -> None:
        self.shapes.append(array.shape)


@needs_ray
def test_a_killed_worker_is_replaced_and_results_do_not_change(cluster: Any, tmp_path) -> None:
    name = "mobilenet_like"
    expected = _statistics(name, None)
    engine = IEEngine({"device": "CPU", "executor": RAY})
    pids_before = set(cluster.get([a.pid.remote() for a in engine._executor.actors()]))
    flag = tmp_path / "killed"
    loader = ZooLoader(_samples(name, 24), kill_at=13, flag=str(flag))
    model = _model(name)
    engine = IEEngine({"device": "CPU", "executor": RAY}, loader)
    engine.set_model(model)
    accs = _accumulators(model)
    engine.collect_statistics(accs, BatchSampler(loader, 1))
    assert flag.exists(), "the loader did not kill its worker"
    killed = int(flag.read_text())
    assert killed in pids_before
    pids_after = set(cluster.get([a.pid.remote() for a in engine._executor.actors()]))
    assert killed not in pids_after
    assert len(pids_after) == 2
    got = {
        node: [(a.result(), a.batches, a.samples) for a in group] for node, group in accs.items()
    }
    _same(expected, got)


@needs_ray
def test_an_unpicklable_loader_is_named_before_any_work(cluster: Any) -> None:
    class LockedLoader(ZooLoader):
        def __init__(self, arrays: dict[str, np.ndarray]) -> None:
            super().__init__(arrays)
            self.lock = threading.Lock()
            self.reads = 0

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            self.reads += 1
            return super().__getitem__(i)

    loader = LockedLoader(_samples("plain_cnn", 4))
    model = _model("plain_cnn")
    engine = IEEngine({"device": "CPU", "executor": RAY}, loader)
    engine.set_model(model)
    with pytest.raises(TypeError, match=r"LockedLoader cannot be pickled.*lock") as info:
        engine.collect_statistics(_accumulators(model), BatchSampler(loader, 1))
    assert "must be picklable" in str(info.value)
    assert loader.reads == 0


@needs_ray
def test_a_loader_error_on_a_worker_reads_as_in_one_process(cluster: Any) -> None:
    class Broken(ZooLoader):
        def __getitem__(self, i: int) -> tuple[Any, Any]:
            if i == 3:
                raise KeyError("no such image")
            return super().__getitem__(i)

    model = _model("plain_cnn")
    messages = []
    for executor in (None, RAY):
        loader = Broken(_samples("plain_cnn", 6))
        config: dict[str, Any] = {"device": "CPU", **({"executor": executor} if executor else {})}
        engine = IEEngine(config, loader)
        engine.set_model(model)
        with pytest.raises(RuntimeError, match="data loader item 3") as info:
            engine.collect_statistics(_accumulators(model), BatchSampler(loader, 1))
        messages.append(str(info.value).splitlines()[0])
    assert messages[0] == messages[1]


# ---- metrics and AccuracyAware -------------------------------------------------------------


class Accuracy(Metric):
    """Top-1 accuracy; per sample 1.0 or 0.0."""

    def reset(self) -> None:
        self.hits: list[float] = []
        self.last: list[float] = []

    def update(self, output: Any, target: Any) -> None:
        pred = np.argmax(output[0], axis=-1)
        self.last = [float(p == t) for p, t in zip(pred, target, strict=True)]
        self.hits += self.last

    @property
    def value(self) -> dict[str, list[float]]:
        return {"accuracy": self.last}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"accuracy": float(np.mean(self.hits))}

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"accuracy": {"direction": "higher-better", "type": "accuracy"}}


class LogitSum(Accuracy):
    """The sum of all logits: any bit of difference in the outputs shows."""

    def update(self, output: Any, target: Any) -> None:
        self.last = [float(np.sum(o, dtype=np.float64)) for o in output[0]]
        self.hits += self.last

    @property
    def value(self) -> dict[str, list[float]]:
        return {"logits": self.last}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"logits": float(np.sum(self.hits))}

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"logits": {"direction": "higher-better", "type": "logit sum"}}


def _labels(name: str, x: dict[str, np.ndarray]) -> np.ndarray:
    """The FP32 model's own top-1 (so that the INT8 model loses some accuracy)."""
    compiled = ov.Core().compile_model(
        _model(name).get_model(), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    (key,) = x
    return np.array([compiled(x[key][i : i + 1])[0].argmax() for i in range(len(x[key]))])


@needs_ray
def test_metrics_per_sample_are_bit_identical(cluster: Any, caplog) -> None:
    name = "plain_cnn"
    x = _samples(name, 40)
    labels = _labels(name, x)
    results = []
    for executor in (None, RAY):
        loader = ZooLoader(x, labels)
        config: dict[str, Any] = {"device": "CPU", **({"executor": executor} if executor else {})}
        engine = IEEngine(config, loader, LogitSum())
        engine.set_model(_model(name))
        with caplog.at_level(logging.INFO, logger="fastpot.engines.ray_executor"):
            results.append(engine.predict(metric_per_sample=True, print_progress=True))
    (plain, _), (ray_metrics, _) = results
    assert ray_metrics == plain
    assert [e["sample_id"] for e in ray_metrics[0]] == list(range(40))
    assert "Start inference of 40 images on 2 Ray workers" in caplog.text


@needs_ray
def test_accuracy_aware_is_bit_identical(cluster: Any, caplog: pytest.LogCaptureFixture) -> None:
    from fastpot.algorithms.accuracy_aware.statistics_cache import model_fingerprint

    name = "plain_cnn"
    x = _samples(name, 120)
    labels = _labels(name, x)
    runs = []
    for executor in (None, RAY):
        loader = ZooLoader(x, labels)
        config: dict[str, Any] = {"device": "CPU", **({"executor": executor} if executor else {})}
        engine = IEEngine(config, loader, Accuracy())
        params = {
            "target_device": "CPU",
            "preset": "performance",
            "stat_subset_size": 120,
            "ranking_subset_size": 40,
            "maximal_drop": 0.01,
            "max_iter_num": 4,
        }
        algo = AccuracyAwareQuantization(params, engine)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="fastpot.engines.ray_executor"):
            result = algo.run(_model(name))
        passes = caplog.text.count("on 2 Ray workers")
        summary = dict(algo.summary)
        # Wall-clock times are the only fields that may differ.
        del summary["elapsed_seconds"]
        summary["counts"] = {k: v for k, v in summary["counts"].items() if "seconds" not in k}
        runs.append((model_fingerprint(result), summary))
        if executor:  # every evaluation and the statistics pass ran on the workers
            counts = summary["counts"]
            assert passes >= counts["full_evaluations"] + counts["subset_evaluations"] + 1
    (plain_model, plain_summary), (ray_model, ray_summary) = runs
    assert plain_summary["steps"], "AA reverted nothing: the test shows too little"
    assert ray_summary == plain_summary
    assert ray_model == plain_model


def test_statistics_store_through_ray_is_bit_identical(cluster: Any, tmp_path: Path) -> None:
    """The store's superset pass runs on the workers too; cold and warm equal one process."""
    from fastpot.pipeline import create_pipeline

    name = "plain_cnn"
    x = _samples(name, 24)
    algorithms = [
        {
            "name": "DefaultQuantization",
            "params": {"target_device": "CPU", "preset": "performance", "stat_subset_size": 24},
        }
    ]

    def constants(executor: dict[str, Any] | None, store: Path | None) -> dict[str, bytes]:
        config: dict[str, Any] = {"device": "CPU"}
        if executor:
            config["executor"] = executor
        config["cache_dir"] = str(store) if store else ""
        engine = IEEngine(config, ZooLoader(x))
        model = create_pipeline(algorithms, engine).run(_model(name)).get_model()
        out = {}  # by consumer and port: generated Constant names differ between runs
        for op in model.get_ordered_ops():
            for i, value in enumerate(op.input_values()):
                node = value.get_node()
                if node.get_type_name() == "Constant":
                    data = node.get_data()
                    key = f"{op.get_friendly_name()}:{i}"
                    out[key] = f"{data.dtype}{data.shape}".encode() + data.tobytes()
        return out

    plain = constants(None, None)
    assert constants(RAY, tmp_path) == plain  # cold: the superset is recorded on the workers
    assert constants(RAY, tmp_path) == plain  # warm: served from the store
    assert constants(None, tmp_path) == plain  # the entry serves a one-process run as well
