"""Statistics pass vs plain inference on the issue's ResNet-like model (issue 4).

Group ``statistics_pass|resnet_like xN``: plain ``ov.AsyncInferQueue`` inference of the samples
(the baseline), and ``IEEngine.collect_statistics`` with DefaultQuantization's statistics
(per-tensor min and abs_max of every quantized activation, as the issue defines them), with
the requests MinMaxQuantization really registers (no minimum where a tensor is >= 0 by
construction, see fastpot.graph.value_range), and with the quantile preset's (abs_quantile
1 - 1e-4 instead of abs_max), each on the C++ dispatcher (``fastpot._dispatch``,
the default) and on the Python fallback (``FASTPOT_DISPATCH=0``). On the dispatcher the
quantiles are reduced inside the plugin (``SampleQuantile``, issue 16); the ``(exported)`` case
exports the tensors and reduces them in the callbacks (``FASTPOT_PLUGIN_QUANTILE=0``), as
before. Each engine case first
checks its statistics on a few samples against a plain synchronous loop with NumPy, then is
timed. The dispatcher cases fail if the dispatcher does not load (no silent fallback).
"""

from __future__ import annotations

import os
import time

import numpy as np
import openvino as ov
import pytest

import resnet_like
from fastpot.algorithms import MinMaxQuantization
from fastpot.engines import IEEngine
from fastpot.graph import CompressedModel, plan_fake_quantize
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import create_sampler
from per_round import record_ratios_to_plain

SAMPLES = 8 if os.environ.get("FASTPOT_BENCH_SMALL") else 300
GROUP = f"statistics_pass|resnet_like x{SAMPLES}"
BASELINE = "plain AsyncInferQueue"
CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}
STATISTICS = {
    "default": (("min", "min", None), ("abs_max", "mean", None)),
    "quantile": (("min", "min", None), ("abs_quantile", "mean", 1 - 1e-4)),
}
# case -> (statistics, dispatcher?, in-plugin quantiles?)
ESTIMATORS = {
    "IEEngine default statistics": ("default", True, True),
    "IEEngine MinMax requests": ("minmax", True, True),
    "IEEngine quantile statistics": ("quantile", True, True),
    "IEEngine quantile statistics (exported)": ("quantile", True, False),
    "IEEngine default statistics (Python fallback)": ("default", False, True),
    "IEEngine quantile statistics (Python fallback)": ("quantile", False, True),
}
ROUNDS = 5


@pytest.fixture(scope="module")
def setup() -> tuple[ov.Model, np.ndarray, list[str]]:
    model = resnet_like.make_resnet_like()
    placement = plan_fake_quantize(model, {"target_device": "CPU"})
    g = placement.graph
    nodes = sorted({g.name(p.source[0]) for p in placement.plans if p.group == "activations"})
    return model, resnet_like.make_samples(SAMPLES), nodes


def _engine(model: ov.Model, samples: np.ndarray) -> IEEngine:
    engine = IEEngine({"device": "CPU"}, resnet_like.SampleLoader(samples))
    engine.set_model(CompressedModel([{"model": model}]))
    return engine


class _Capture:
    """Stands in for the StatisticsCollector: keeps what an algorithm registers."""

    def register(self, name, requests, sampler) -> None:
        self.requests = requests


def _minmax_accumulators(engine: IEEngine) -> dict:
    capture = _Capture()
    MinMaxQuantization({"target_device": "CPU"}, engine).register_statistics(
        CompressedModel([{"model": engine._model}]), capture
    )
    accumulators: dict = {}
    for request in capture.requests:
        accumulators.setdefault(request.node[0], []).append(request.new_accumulator())
    return accumulators


def _engine_pass(engine: IEEngine, nodes: list[str], case: str):
    """One statistics pass with fresh accumulators (the compiled model is cached)."""
    statistics, dispatched, plugin_quantiles = ESTIMATORS[case]
    if statistics == "minmax":
        accumulators = _minmax_accumulators(engine)
    else:
        accumulators = {
            n: [StatisticAccumulator(s, h, q=q) for s, h, q in STATISTICS[statistics]]
            for n in nodes
        }
    switches = {
        "FASTPOT_DISPATCH": "1" if dispatched else "0",
        "FASTPOT_PLUGIN_QUANTILE": "1" if plugin_quantiles else "0",
    }
    previous = {k: os.environ.get(k) for k in switches}
    os.environ.update(switches)
    try:
        engine.collect_statistics(accumulators, create_sampler(engine, len(engine.data_loader)))
    finally:
        for key, value in previous.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value
    assert bool(engine._dispatchers) == dispatched, "dispatcher use differs from the case"
    return accumulators


def _check(model: ov.Model, samples: np.ndarray, nodes: list[str], case: str) -> None:
    few = samples[:4]
    got = _engine_pass(_engine(model, few), nodes, case)
    clone = model.clone()
    ops = {op.get_friendly_name(): op for op in clone.get_ops()}
    first = len(clone.outputs)
    clone.add_outputs([ops[n].output(0) for n in nodes])
    compiled = ov.Core().compile_model(clone, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    outs = [compiled(few[i : i + 1]) for i in range(len(few))]
    for k, n in enumerate(nodes):
        x = np.stack([o[first + k] for o in outs]).reshape(len(few), -1).astype(np.float64)
        want = {
            "min": x.min(axis=1).min(),
            "abs_max": np.abs(x).max(axis=1).mean(),
            "abs_quantile": np.quantile(np.abs(x), 1 - 1e-4, axis=1).mean(),
        }
        for acc in got.get(n, []):
            np.testing.assert_allclose(float(acc.result()), want[acc.stat], rtol=1e-5)
    assert set(got) <= set(nodes)


def _plain(model: ov.Model, samples: np.ndarray):
    compiled = ov.Core().compile_model(model, "CPU", CONFIG)

    def run() -> None:
        queue = ov.AsyncInferQueue(compiled)
        for i in range(len(samples)):
            queue.start_async({0: samples[i : i + 1]})
        queue.wait_all()

    return run


@pytest.mark.parametrize("case", [BASELINE, *ESTIMATORS])
def test_statistics_pass(benchmark, setup, case: str) -> None:
    model, samples, nodes = setup
    benchmark.group = GROUP
    benchmark.extra_info.update(
        entry=case, kind="peer" if case == BASELINE else "backend", baseline=BASELINE
    )
    plain = _plain(model, samples)
    if case == BASELINE:
        benchmark.pedantic(plain, rounds=ROUNDS, iterations=1, warmup_rounds=1)
        return
    _check(model, samples, nodes, case)
    engine = _engine(model, samples)
    # Before every round (untimed) the plain pass runs once more, so each engine round has a
    # baseline of the same minute: extra_info["ratio_to_plain"] is the median of the
    # per-round ratios, far steadier than a ratio of medians taken minutes apart.
    plain_times: list[float] = []

    def timed_plain() -> None:
        start = time.perf_counter()
        plain()
        plain_times.append(time.perf_counter() - start)

    benchmark.pedantic(
        lambda: _engine_pass(engine, nodes, case),
        setup=timed_plain,
        rounds=ROUNDS,
        iterations=1,
        warmup_rounds=1,
    )
    record_ratios_to_plain(benchmark, plain_times)
