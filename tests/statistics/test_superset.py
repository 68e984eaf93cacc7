"""Statistics derived from a recorded superset equal directly collected ones, bit for bit.

On every zoo model (real activations, 200 calibration samples), for every per-sample
statistic a range estimator can ask for (``min``/``max``/``abs_max`` with every aggregator,
``quantile``/``abs_quantile`` at levels up to the superset's bound), per tensor and per
channel, in batches of 3 where the model allows (an uneven last batch: ``mean`` is a mean of per-batch means):
one collector measures them directly, another records the superset in a pass for one
request per node and then derives them all with no further pass. Both must give the same
bytes (dtype, shape and value, NaN included). Run on every backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastpot.kernels._validation import AGGREGATIONS
from fastpot.samplers import BatchSampler
from fastpot.statistics import StatisticsCollector, StatRequest
from fastpot.statistics.superset import (
    OUTLIER_BOUND,
    Extremes,
    ExtremesRecorder,
    extremes_count,
)

LEVELS = (0.0, 1e-4, 5e-4, OUTLIER_BOUND, 1 - OUTLIER_BOUND, 1 - 1e-4, 1.0)
ABS_LEVELS = (1 - OUTLIER_BOUND, 1 - 1e-4, 1.0)
MAX_NODES = 8
# Its attention reshapes to a constant [1, ...] shape: one sample per batch.
FIXED_BATCH = {"transformer_block": 1}


def _nodes(ov_model, most: int) -> list[tuple[tuple[str, int], int]]:
    """Float tensors of static rank >= 1 (inputs and activations), evenly spread."""
    found = []
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() in ("Constant", "Result") or op.get_output_size() == 0:
            continue
        out = op.output(0)
        shape = out.get_partial_shape()
        if not out.get_element_type().is_real() or not shape.rank.is_static:
            continue
        if shape.rank.get_length() >= 1:
            found.append(((op.get_friendly_name(), 0), shape.rank.get_length()))
    step = max(1, len(found) // most)
    return found[::step][:most]


def _dynamic_batch(ov_model) -> None:
    """Make axis 0 of every ``[1, ...]`` input dynamic, so batches of 3 can be fed."""
    shapes = {}
    for p in ov_model.get_parameters():
        shape = p.get_partial_shape()
        if shape.rank.is_static and shape.rank.get_length() >= 1 and shape[0] == 1:
            shapes[p.output(0)] = [-1, *(d.get_length() for d in list(shape)[1:])]
    if shapes:
        ov_model.reshape(shapes)


def _requests(nodes) -> list[StatRequest]:
    requests = []
    for node, rank in nodes:
        axes = (None, 1) if rank >= 2 else (None,)
        for axis in axes:
            for stat in ("min", "max", "abs_max"):
                requests += [StatRequest(node, stat, how, axis) for how in AGGREGATIONS]
            for how in ("mean", "median", "max", "mean_no_outliers"):
                requests += [StatRequest(node, "quantile", how, axis, q) for q in LEVELS]
                requests += [StatRequest(node, "abs_quantile", how, axis, q) for q in ABS_LEVELS]
    return requests


def _collect(collector, requests, sampler, model) -> dict:
    collector.register("probe", requests, sampler)
    collector.compute_statistics(model)
    return collector.get_statistics_for_algorithm("probe")


def _bytes(value) -> tuple:
    a = np.asarray(value)
    return a.dtype.str, a.shape, a.tobytes()


def _check_model(zoo, name: str, samples: int | None = None, max_nodes: int = MAX_NODES) -> None:
    engine = zoo.engine(name)
    model = zoo.model(name)
    batch = FIXED_BATCH.get(name, 3)
    if batch > 1:
        _dynamic_batch(model.get_model())
    nodes = _nodes(model.get_model(), max_nodes)
    requests = _requests(nodes)
    subset = None if samples is None else list(range(samples))
    sampler = BatchSampler(engine.data_loader, batch_size=batch, subset_indices=subset)
    direct = _collect(StatisticsCollector(engine), requests, sampler, model)

    derived_by = StatisticsCollector(engine, superset=True)
    seed = [StatRequest(node, "min", "mean") for node, _ in nodes]
    _collect(derived_by, seed, sampler, model)
    assert derived_by.passes == 1
    derived = _collect(derived_by, requests, sampler, model)
    assert derived_by.passes == 1, "every request must be derived without inference"
    assert derived_by.derived == len(requests)
    different = [r for r in requests if _bytes(direct[r]) != _bytes(derived[r])]
    assert not different, [(r, direct[r], derived[r]) for r in different[:3]]


def test_derived_equals_direct_on_every_zoo_model(zoo, zoo_model: str) -> None:
    _check_model(zoo, zoo_model)


@pytest.mark.parametrize("model_name", ["mobilenet_like", "transformer_block"])
def test_derived_equals_direct_on_every_backend(zoo, backend: str, model_name: str, monkeypatch):
    monkeypatch.setenv("FASTPOT_BACKEND", backend)
    _check_model(zoo, model_name, samples=40, max_nodes=4)


def test_extremes_count_covers_the_bound() -> None:
    # The two ranks a quantile at q <= bound interpolates lie among the k kept values.
    for size in (1, 2, 5, 999, 1000, 1001, 12345, 401408):
        k = extremes_count(size)
        for q in (0.0, 1e-4, OUTLIER_BOUND, 1 - OUTLIER_BOUND, 1 - 1e-4, 1.0):
            h = np.float64(size - 1) * q
            lower = min(int(np.floor(h)), size - 1)
            upper = min(lower + 1, size - 1)
            assert upper < k or lower >= size - k, (size, q, k)


def test_quantile_beyond_the_bound_is_not_derived() -> None:
    rng = np.random.default_rng(0)
    recorder = ExtremesRecorder(channel_axis=None)
    recorder.update(rng.standard_normal((4, 50_000)).astype(np.float32))
    ext = recorder.result()
    assert isinstance(ext, Extremes)
    assert ext.k == extremes_count(50_000) == 52
    assert ext.per_sample_quantile(1e-2, absolute=False) is None
    assert ext.per_sample_quantile(0.99, absolute=True) is None
    assert ext.per_sample_quantile(1e-3, absolute=False) is not None


def test_extremes_match_numpy_quantile_with_nan_and_infinities() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 40, 40)).astype(np.float32)
    x[1, 0, 0, 0] = np.nan
    x[2, :, 0, :2] = np.inf
    x[3, 1, 5, :] = -np.inf
    for axis in (None, 1):
        recorder = ExtremesRecorder(channel_axis=axis)
        recorder.update(x)
        ext = recorder.result()
        assert ext is not None
        values = x.astype(np.float64)
        groups = values.reshape(6, 1 if axis is None else 3, -1)
        for q in (0.0, 1e-4, 1e-3, 1 - 1e-3, 1 - 1e-4, 1.0):
            for absolute in (False, True):
                if absolute and q < 0.5:
                    continue
                got = ext.per_sample_quantile(q, absolute)
                assert got is not None
                with np.errstate(invalid="ignore"):
                    want = np.quantile(np.abs(groups) if absolute else groups, q, axis=-1)
                want = want.astype(np.float32)
                assert got.tobytes() == want.tobytes(), (axis, q, absolute)


class _Agreement:
    """Top-1 agreement with the FP32 model's labels; per sample 1.0 or 0.0 (POT metric API)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.hits: list[float] = []
        self.last: list[float] = []

    def update(self, output, target) -> None:
        pred = np.asarray(output[0]).reshape(len(target), -1).argmax(axis=-1)
        self.last = [float(p == t) for p, t in zip(pred, target, strict=True)]
        self.hits += self.last

    @property
    def value(self):
        return {"accuracy": self.last}

    @property
    def avg_value(self):
        return {"accuracy": float(np.mean(self.hits))}

    def get_attributes(self):
        return {"accuracy": {"direction": "higher-better", "type": "accuracy"}}


def test_accuracy_aware_grid_search_runs_one_statistics_pass(zoo, monkeypatch) -> None:
    import openvino as ov

    from fastpot.algorithms import AccuracyAwareQuantization
    from fastpot.api import DataLoader, Metric
    from fastpot.engines import IEEngine

    monkeypatch.delenv("FASTPOT_CACHE_DIR", raising=False)
    name = "mobilenet_like"
    model = zoo.model(name)
    x = zoo.loader(name).data["image"][:60]
    compiled = ov.Core().compile_model(
        model.get_model(), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    labels = [int(np.argmax(compiled(x[i : i + 1])[0])) for i in range(len(x))]

    class Loader(DataLoader):
        def __init__(self) -> None:
            pass

        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: int):
            return x[i : i + 1], labels[i]

    metric = type("Agreement", (_Agreement, Metric), {})()
    engine = IEEngine({"device": "CPU"}, Loader(), metric)
    algo = AccuracyAwareQuantization(
        {
            "target_device": "CPU",
            "preset": "performance",
            "maximal_drop": 0.0,  # never met (baseline above 1): the grid search runs
            "metrics": [{"name": "accuracy", "baseline_value": 1.01}],
            "max_iter_num": 0,
            "tune_hyperparams": True,
            "ranking_subset_size": 20,
        },
        engine,
    )
    algo.run(model)
    counts = algo.summary["counts"]
    points = algo.summary["grid_search"]["points"]
    assert len(points) >= 10
    # Every point quantizes the same FP32 model: one pass over the statistics subset serves
    # MinMax and FastBiasCorrection of all range-estimator points (derived from its
    # superset), and BiasCorrection (the use_fast_bias false point) one pass of its own over
    # its smaller subset; its passes over quantized models are counted apart.
    assert any(p["point"].endswith("use_fast_bias False") for p in points)
    assert counts["statistics_passes"] == 2, counts
    assert counts["statistics_derived"] > 0, counts
