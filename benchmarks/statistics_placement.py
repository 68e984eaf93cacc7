"""Where should activation statistics be computed? A standalone timing experiment (issue 4).

Runs the ResNet-like benchmark model over the same samples with ``ov.AsyncInferQueue``:

* ``plain``: the model as it is (the baseline);
* ``export``: every quantized activation added as a model output (no reduction at all);
* ``in-graph``: per-sample ``ReduceMin`` and ``Abs -> ReduceMax`` added to the graph, only the
  scalars leave the plugin;
* ``host (IEEngine)``: fastpot's engine exporting the activations and reducing them with the
  C++ kernels into streaming accumulators (DefaultQuantization's statistics).

Usage: ``python benchmarks/statistics_placement.py [samples]`` (default 300).
"""

from __future__ import annotations

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


def _time_queue(model: ov.Model, samples: np.ndarray, read_outputs: int = 0) -> float:
    compiled = ov.Core().compile_model(model, "CPU", CONFIG)
    queue = ov.AsyncInferQueue(compiled)
    sink: list[float] = []

    def callback(request: ov.InferRequest, _: object) -> None:
        for i in range(1, 1 + read_outputs):
            sink.append(float(request.get_output_tensor(i).data.ravel()[0]))

    queue.set_callback(callback)
    queue.start_async({0: samples[:1]})
    queue.wait_all()
    start = time.perf_counter()
    for i in range(len(samples)):
        queue.start_async({0: samples[i : i + 1]})
    queue.wait_all()
    return time.perf_counter() - start


def _activation_outputs(model: ov.Model) -> list[ov.Output]:
    placement = plan_fake_quantize(model, {"target_device": "CPU"})
    g = placement.graph
    sources = sorted({p.source for p in placement.plans if p.group == "activations"})
    return [g.nodes[key].output(port) for key, port in sources]


def _with_results(kind: str) -> tuple[ov.Model, int]:
    model = make_resnet_like()
    results = []
    for out in _activation_outputs(model):
        rank = out.get_partial_shape().rank.get_length()
        axes = ops.constant(np.arange(1, rank, dtype=np.int64))
        if kind == "export":
            results.append(ops.result(out))
        else:
            results.append(ops.result(ops.reduce_min(out, axes, False)))
            results.append(ops.result(ops.reduce_max(ops.abs(out), axes, False)))
    model.add_results(results)
    return model, len(results)


def _time_engine(samples: np.ndarray) -> float:
    model = make_resnet_like()
    placement = plan_fake_quantize(model, {"target_device": "CPU"})
    g = placement.graph
    nodes = sorted({g.name(p.source[0]) for p in placement.plans if p.group == "activations"})

    class Loader(DataLoader):
        def __init__(self) -> None:
            pass

        def __len__(self) -> int:
            return len(samples)

        def __getitem__(self, i: int) -> tuple[np.ndarray, None]:
            return samples[i : i + 1], None

    engine = IEEngine({"device": "CPU"}, Loader())
    engine.set_model(CompressedModel([{"model": model}]))
    accumulators = {
        n: [StatisticAccumulator("min", "min"), StatisticAccumulator("abs_max", "mean")]
        for n in nodes
    }
    engine._compile(list(accumulators), True)  # compile outside the timing
    start = time.perf_counter()
    engine.collect_statistics(accumulators, create_sampler(engine, len(samples)))
    return time.perf_counter() - start


def main() -> None:
    """Time every placement twice and print the ratios to plain inference."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    samples = make_samples(n)
    for _ in range(2):
        plain = _time_queue(make_resnet_like(), samples)
        exported, _ = _with_results("export")
        export = _time_queue(exported, samples)
        reduced, count = _with_results("in-graph")
        in_graph = _time_queue(reduced, samples, read_outputs=count)
        host = _time_engine(samples)
        print(
            f"{n} samples: plain {plain:.2f} s | export {export / plain:.2f}x | "
            f"in-graph {in_graph / plain:.2f}x | host (IEEngine) {host / plain:.2f}x"
        )


if __name__ == "__main__":
    main()
