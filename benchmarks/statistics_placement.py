"""Where should activation statistics be computed? A standalone timing experiment (issue 4).

Runs the ResNet-like benchmark model over the same samples; every variant runs in its own
process, alternating with plain inference round by round, so that every ratio compares runs
of the same minute (the CI machine is a noisy shared 2-vCPU VM):

* ``plain``: ``ov.AsyncInferQueue`` on the model as it is (the baseline of every ratio);
* ``export``: every quantized activation added as a model output (no reduction at all);
* ``in-graph min/max``: per-sample ``ReduceMin`` and ``ReduceMax`` of each activation added
  to the graph (``abs_max = max(-min, max)``), only the scalars leave the plugin;
* ``in-graph TopK``: ``ReduceMin`` plus ``Abs -> Reshape [N, -1] -> TopK(k)`` with k the
  ``ceil(1e-4 n) + 1``-ish values that ``quantile(|x|, 1 - 1e-4)`` needs (exact, in-plugin);
* ``IEEngine`` ``collect_statistics`` with DefaultQuantization's statistics (min, abs_max)
  and with the quantile preset's (min, abs_quantile 1 - 1e-4), on the C++ dispatcher and on
  the Python fallback (``FASTPOT_DISPATCH=0``).

Usage::

    python benchmarks/statistics_placement.py [samples] [rounds]   # default 300 5
    python benchmarks/statistics_placement.py --rss                  # peak RSS, 100 vs 1000
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastpot.api import DataLoader
from fastpot.engines import IEEngine
from fastpot.graph import CompressedModel, plan_fake_quantize
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import create_sampler
from resnet_like import make_resnet_like, make_samples

CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}
Q = 1 - 1e-4
STATISTICS = {
    "default": (("min", "min", None), ("abs_max", "mean", None)),
    "quantile": (("min", "min", None), ("abs_quantile", "mean", Q)),
}


def _activation_outputs(model: ov.Model) -> list[ov.Output]:
    placement = plan_fake_quantize(model, {"target_device": "CPU"})
    g = placement.graph
    sources = sorted({p.source for p in placement.plans if p.group == "activations"})
    return [g.nodes[key].output(port) for key, port in sources]


def _activation_nodes(model: ov.Model) -> list[str]:
    placement = plan_fake_quantize(model, {"target_device": "CPU"})
    g = placement.graph
    return sorted({g.name(p.source[0]) for p in placement.plans if p.group == "activations"})


def _with_results(kind: str) -> ov.Model:
    model = make_resnet_like()
    results = []
    for out in _activation_outputs(model):
        shape = list(out.get_partial_shape().to_shape())
        axes = ops.constant(np.arange(1, len(shape), dtype=np.int64))
        if kind == "export":
            results.append(ops.result(out))
            continue
        results.append(ops.result(ops.reduce_min(out, axes, False)))
        if kind == "minmax":
            results.append(ops.result(ops.reduce_max(out, axes, False)))
        else:  # topk: the top values quantile(|x|, Q) interpolates between, per sample
            n = math.prod(shape[1:])
            k = n - math.floor(Q * (n - 1))
            flat = ops.reshape(ops.abs(out), ops.constant(np.array([shape[0], -1])), False)
            top = ops.topk(flat, ops.constant(np.int64(k)), 1, "max", "value")
            results.append(ops.result(top.output(0)))
    model.add_results(results)
    return model


class _Queue:
    def __init__(self, model: ov.Model) -> None:
        self.compiled = ov.Core().compile_model(model, "CPU", CONFIG)
        self.queue = ov.AsyncInferQueue(self.compiled)

    def __call__(self, samples: np.ndarray) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(len(samples)):
            self.queue.start_async({0: samples[i : i + 1]})
        self.queue.wait_all()
        return time.perf_counter() - start, time.process_time() - cpu


class _Loader(DataLoader):
    def __init__(self, samples: np.ndarray | int) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return self.samples if isinstance(self.samples, int) else len(self.samples)

    def __getitem__(self, i: int) -> tuple[np.ndarray, None]:
        if isinstance(self.samples, int):  # generated on the fly: memory stays flat
            rng = np.random.default_rng(i)
            return rng.standard_normal((1, 3, 224, 224), dtype=np.float32), None
        return self.samples[i : i + 1], None


class _Engine:
    def __init__(self, samples: np.ndarray | int, which: str, dispatched: bool) -> None:
        model = make_resnet_like()
        self.nodes = _activation_nodes(model)
        self.engine = IEEngine({"device": "CPU"}, _Loader(samples))
        self.engine.set_model(CompressedModel([{"model": model}]))
        self.which = which
        self.dispatched = dispatched
        self.callback_seconds = 0.0
        self(None)  # compile outside the timing

    def __call__(self, _: object) -> tuple[float, float]:
        accumulators = {
            n: [StatisticAccumulator(s, h, q=q) for s, h, q in STATISTICS[self.which]]
            for n in self.nodes
        }
        os.environ["FASTPOT_DISPATCH"] = "1" if self.dispatched else "0"
        sampler = create_sampler(self.engine, len(self.engine.data_loader))
        start, cpu = time.perf_counter(), time.process_time()
        self.engine.collect_statistics(accumulators, sampler)
        elapsed = time.perf_counter() - start, time.process_time() - cpu
        assert bool(self.engine._dispatchers) == self.dispatched
        if self.dispatched:
            (dispatcher, _), *_ = self.engine._dispatchers.values()
            self.callback_seconds = dispatcher.callback_seconds
        return elapsed


VARIANTS = (
    "export",
    "in-graph min/max",
    "in-graph TopK",
    "dispatcher default",
    "dispatcher quantile",
    "fallback default",
    "fallback quantile",
)


def _variant(name: str, samples: np.ndarray) -> _Queue | _Engine:
    kinds = {"export": "export", "in-graph min/max": "minmax", "in-graph TopK": "topk"}
    if name in kinds:
        queue = _Queue(_with_results(kinds[name]))
        queue(samples[:4])
        return queue
    path, which = name.split()
    return _Engine(samples, which, path == "dispatcher")


def _pair_child(name: str, n: int, rounds: int) -> None:
    """One variant against plain inference, interleaved rounds; prints ``wall cpu`` ratios."""
    samples = make_samples(n)
    plain = _Queue(make_resnet_like())
    plain(samples[:4])
    variant = _variant(name, samples)
    for _ in range(rounds):
        base, base_cpu = plain(samples)
        t, c = variant(samples)
        print(f"{t / base} {c / base_cpu} {base}", flush=True)
    if isinstance(variant, _Engine) and variant.dispatched:
        print(f"callbacks {variant.callback_seconds}")


def timing(n: int, rounds: int) -> None:
    """Every variant in its own process against plain inference, rounds interleaved.

    Two ratios per variant: wall time (what the issue's targets are about) and the process's
    CPU time (all threads; far less sensitive to other load on a shared machine). One process
    per variant: compiled models of other variants alive in the same process (their stream
    threads and memory) measurably slowed whichever variant ran next.
    """
    here = str(Path(__file__).resolve().parent)
    print(f"{n} samples, {rounds} rounds per variant (ratio to plain inference, same process)")
    for name in VARIANTS:
        code = (
            f"import sys; sys.path.insert(0, {here!r}); import statistics_placement as s; "
            f"s._pair_child({name!r}, {n}, {rounds})"
        )
        lines = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.splitlines()
        rows = [tuple(map(float, line.split())) for line in lines if line[0].isdigit()]
        wall, cpu, plain = zip(*rows, strict=True)
        extra = "".join(f", {line} s" for line in lines if line.startswith("callbacks"))
        print(
            f"  {name:20s} wall {min(wall):.2f}-{max(wall):.2f}x (median "
            f"{statistics.median(wall):.2f}x) | CPU {min(cpu):.2f}-{max(cpu):.2f}x (median "
            f"{statistics.median(cpu):.2f}x) | plain {min(plain):.2f}-{max(plain):.2f} s{extra}",
            flush=True,
        )


def peak_rss(n: int) -> float:
    """Peak RSS (MB) of one process collecting min/abs_max/abs_quantile over `n` samples."""
    here = str(Path(__file__).resolve().parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import statistics_placement as s; s._rss_child({n})"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def _rss_child(n: int) -> None:
    model = make_resnet_like()
    nodes = _activation_nodes(model)
    engine = IEEngine({"device": "CPU"}, _Loader(n))
    engine.set_model(CompressedModel([{"model": model}]))
    accumulators = {
        node: [
            StatisticAccumulator("min", "min"),
            StatisticAccumulator("abs_max", "mean"),
            StatisticAccumulator("abs_quantile", "mean", q=Q),
        ]
        for node in nodes
    }
    engine.collect_statistics(accumulators, create_sampler(engine, n))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    """Timing rounds, or ``--rss``: peak RSS at 100 and 1000 samples (both engine paths)."""
    if "--rss" in sys.argv:
        for mode in ("1", "0"):
            os.environ["FASTPOT_DISPATCH"] = mode
            small, large = peak_rss(100), peak_rss(1000)
            label = "dispatcher" if mode == "1" else "Python fallback"
            print(
                f"{label}: peak RSS {small:.1f} MB (100 samples), {large:.1f} MB (1000 samples),"
                f" ratio {large / small:.3f}"
            )
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    timing(n, rounds)


if __name__ == "__main__":
    main()
