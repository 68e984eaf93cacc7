"""abs_max of a tensor that is non-negative by construction needs one in-graph ReduceMax.

The result must still equal a plain NumPy computation on the FP32 activations, and the
statistics model must carry no ReduceMin for that tensor.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fastpot.api import DataLoader
from fastpot.engines import IEEngine
from fastpot.kernels import StatisticAccumulator
from fastpot.samplers import create_sampler


class _Loader(DataLoader):
    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i : i + 1], None


def test_abs_max_of_a_relu_output_equals_the_reference() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    x = ops.parameter([1, 3, 12, 12], np.float32, name="x")
    conv = ops.convolution(x, ops.constant(w), [1, 1], [1, 1], [1, 1], [1, 1], name="conv")
    relu = ops.relu(conv, name="relu")
    model = ov.Model([ops.result(relu)], [x])
    data = rng.normal(size=(10, 3, 12, 12)).astype(np.float32)
    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, _Loader(data))
    engine.set_model(model)
    accs = {
        "relu": [StatisticAccumulator("abs_max", "mean")],
        "conv": [StatisticAccumulator("abs_max", "max")],
    }
    engine.collect_statistics(accs, create_sampler(engine, len(data)))

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    relu_out = np.stack([compiled(data[i : i + 1])[0] for i in range(len(data))])
    want = np.abs(relu_out.reshape(len(data), -1)).max(axis=1).mean(dtype=np.float64)
    np.testing.assert_allclose(float(accs["relu"][0].result()), want, rtol=1e-6)

    # The planned extra outputs (cache keys of the compiled statistics models): a ReduceMax
    # of relu, a ReduceMin and a ReduceMax of conv, no ReduceMin of relu.
    planned = [str(k) for key in (*engine._dispatchers, *engine._compiled) for k in key[0]]
    assert any("'max', 'relu'" in k for k in planned), planned
    assert any("'min', 'conv'" in k for k in planned), planned
    assert not any("'min', 'relu'" in k for k in planned), planned
