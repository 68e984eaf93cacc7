"""Ray executor overhead on one machine (issue 15): 2 Ray workers vs the engine in-process.

Groups ``ray_executor|<model> x<N> <pass>``, pass ``statistics`` (DefaultQuantization's
min and abs_max of every activation a FakeQuantize would read) or ``metric`` (``predict``
with a top-1 metric), on the zoo's ``plain_cnn`` (3x32x32, small) and the ResNet-like model
(3x224x224, medium). Cases: ``in-process`` (the engine's default: both CPUs, asynchronous
requests), ``1 thread`` (a synchronous one-thread loop: the work one Ray worker does per
sample, for the cost model in README.md) and ``Ray 2 workers`` (warm: actors started and
the model compiled by the warm-up round, as in every pass after the first). Before timing,
each Ray case checks its results bit for bit against the in-process engine.

The per-sample Ray overhead is ``T_ray / N - t_1 / W``: the Ray pass's time per sample minus
what W = 2 workers of one thread each need for the inference alone.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install fastpot[ray])")

import resnet_like
from fastpot.api import Metric
from fastpot.engines import IEEngine
from fastpot.graph import CompressedModel, plan_fake_quantize
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers.sampler import BatchSampler

SMALL = bool(os.environ.get("FASTPOT_BENCH_SMALL"))
ZOO = Path(__file__).resolve().parents[1] / "tests" / "data" / "zoo"
SAMPLES = {"plain_cnn": 8 if SMALL else 800, "resnet_like": 4 if SMALL else 96}
WORKERS = 2
ROUNDS = 1 if SMALL else 3
CASES = ("in-process", "1 thread", f"Ray {WORKERS} workers")

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # resnet_like and this module (the loader's classes) are not importable on the workers:
    # pickle them by value.
    modules = [resnet_like, sys.modules[__name__]]
    for module in modules:
        ray.cloudpickle.register_pickle_by_value(module)
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as tmp:
        ray.init(
            num_cpus=WORKERS,
            include_dashboard=False,
            log_to_driver=False,
            _temp_dir=tmp,
            configure_logging=False,
        )
        try:
            yield ray
        finally:
            ray.shutdown()
            for module in modules:
                ray.cloudpickle.unregister_pickle_by_value(module)


def _setup(name: str) -> tuple[ov.Model, np.ndarray]:
    n = SAMPLES[name]
    if name == "resnet_like":
        return resnet_like.make_resnet_like(), resnet_like.make_samples(n)
    with np.load(ZOO / f"{name}.npz") as data:
        x = data[data.files[0]].astype(np.float32)
    model = ov.Core().read_model(ZOO / f"{name}.xml")
    return model, np.resize(x, (n, *x.shape[1:]))  # the 200 samples repeated


class Top1(Metric):
    """Top-1 against label 0 (the value does not matter; the outputs' path does)."""

    def reset(self) -> None:
        self.hits: list[float] = []

    def update(self, output: Any, target: Any) -> None:
        self.hits += [float(p == t) for p, t in zip(np.argmax(output[0], -1), target, strict=True)]

    @property
    def value(self) -> dict[str, list[float]]:
        return {"top1": self.hits[-1:]}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"top1": float(np.mean(self.hits))}

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"top1": {"direction": "higher-better", "type": "accuracy"}}


class Labelled(resnet_like.SampleLoader):
    """Samples with label 0, for the metric pass."""

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        return self.samples[i : i + 1], 0


def _engine(model: ov.Model, samples: np.ndarray, executor: bool) -> IEEngine:
    config: dict[str, Any] = {"device": "CPU"}
    if executor:
        config["executor"] = {"type": "ray", "workers": WORKERS}
    engine = IEEngine(config, Labelled(samples), Top1())
    engine.set_model(CompressedModel([{"model": model}]))
    return engine


def _statistics(engine: IEEngine, nodes: list[str]) -> dict[str, list[np.ndarray]]:
    accs = {
        n: [StatisticAccumulator("min", "min"), StatisticAccumulator("abs_max", "mean")]
        for n in nodes
    }
    assert engine.data_loader is not None
    engine.collect_statistics(accs, BatchSampler(engine.data_loader))
    return {n: [a.result() for a in group] for n, group in accs.items()}


def _one_thread(model: ov.Model, samples: np.ndarray) -> Any:
    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": "1",
    }
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()

    def run() -> None:
        for i in range(len(samples)):
            request.infer({0: samples[i : i + 1]})

    return run


@pytest.mark.parametrize("work", ["statistics", "metric"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", list(SAMPLES))
def test_ray_overhead(benchmark, cluster: Any, name: str, case: str, work: str) -> None:
    model, samples = _setup(name)
    placement = plan_fake_quantize(model, {"target_device": "CPU"})
    g = placement.graph
    nodes = sorted({g.name(p.source[0]) for p in placement.plans if p.group == "activations"})
    benchmark.group = f"ray_executor|{name} x{len(samples)} {work}"
    benchmark.extra_info.update(entry=case, samples=len(samples), workers=WORKERS)
    if case == "1 thread":
        run = _one_thread(model, samples)
    else:
        engine = _engine(model, samples, executor=case != "in-process")
        run = (lambda: _statistics(engine, nodes)) if work == "statistics" else engine.predict
        if case != "in-process":  # the warm-up round, checked against the in-process engine
            reference = _engine(model, samples, executor=False)
            if work == "statistics":
                want, got = _statistics(reference, nodes), run()
                for n in nodes:
                    for w, v in zip(want[n], got[n], strict=True):
                        np.testing.assert_array_equal(v, w, strict=True)
            else:
                assert run() == reference.predict()
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is not None and getattr(stats, "data", None):
        benchmark.extra_info["ms_per_sample"] = 1e3 * stats.median / len(samples)


if __name__ == "__main__":  # pragma: no cover - python benchmarks/test_bench_ray.py
    sys.exit(pytest.main([__file__, "-q", "--benchmark-columns=median,rounds"]))
