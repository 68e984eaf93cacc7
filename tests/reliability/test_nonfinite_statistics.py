"""Non-finite activation statistics are refused, naming the node and the sample (issue 13, F1).

An input that drives a layer to ±inf (``log(0)``) or NaN used to give FakeQuantize ranges of
±inf, a bias correction warning and a saved model that no longer compiles. Now the statistics
pass refuses them before any FakeQuantize is written: the error names the node, the statistic
and the first data loader item that produces the non-finite values.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from fastpot.api import DataLoader
from fastpot.engines import IEEngine
from fastpot.graph.model import CompressedModel
from fastpot.pipeline import create_pipeline
from fastpot.statistics.collector import NonFiniteStatisticsError


def _model(op: str) -> ov.Model:
    x = ops.parameter([1, 4], np.float32, name="x")
    w = ops.constant(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))
    act = ops.log(x, name="act") if op == "log" else ops.sqrt(x, name="act")
    y = ops.matmul(act, w, False, False, name="fc")
    return ov.Model([ops.result(ops.relu(y, name="relu"))], [x], "m")


class _Loader(DataLoader):
    def __init__(self, bad_item: int, bad_value: float) -> None:
        self.bad_item, self.bad_value = bad_item, bad_value

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        a = np.full((1, 4), 1.0 + i, np.float32)
        if i == self.bad_item:
            a[0, 2] = self.bad_value
        return a, None


def _fake_quantizes(model: ov.Model) -> int:
    return sum(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


@pytest.mark.parametrize("dispatch", ["1", "0"], ids=["dispatcher", "python"])
@pytest.mark.parametrize("preset", ["performance", "mixed"])
def test_inf_activation_is_refused_with_node_and_item(
    preset: str, dispatch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTPOT_DISPATCH", dispatch)
    model = _model("log")
    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, _Loader(5, 0.0))  # log(0)
    algo = {"name": "DefaultQuantization", "params": {"target_device": "CPU", "preset": preset}}
    with pytest.raises(NonFiniteStatisticsError) as info:
        create_pipeline([algo], engine).run(CompressedModel([{"model": model}]))
    message = str(info.value)
    assert "node 'act' port 0" in message
    assert "-inf" in message or "inf" in message
    assert "data loader item 5" in message
    assert "before any FakeQuantize is written" in message
    assert _fake_quantizes(model) == 0  # nothing was written into the model
    assert isinstance(info.value, ValueError)


def test_nan_reduced_on_the_host_is_refused() -> None:
    # sqrt(-1) = NaN; the quantile estimator reads the exported tensor on the host.
    model = _model("sqrt")
    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, _Loader(2, -1.0))
    params = {
        "target_device": "CPU",
        "preset": "performance",
        "range_estimator": {
            "max": {"type": "quantile", "outlier_prob": 1e-3, "aggregator": "mean"},
        },
    }
    with pytest.raises(NonFiniteStatisticsError, match=r"node 'act' port 0.*data loader item 2"):
        create_pipeline([{"name": "MinMaxQuantization", "params": params}], engine).run(
            CompressedModel([{"model": model}])
        )
    assert _fake_quantizes(model) == 0


def test_subset_sampler_reports_the_loader_index() -> None:
    # With a shuffled subset, the item named is the loader index, not the position.
    model = _model("log")
    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, _Loader(6, 0.0))
    params = {"target_device": "CPU", "stat_subset_size": 8, "shuffle_data": True, "seed": 3}
    with pytest.raises(NonFiniteStatisticsError, match="data loader item 6"):
        create_pipeline([{"name": "MinMaxQuantization", "params": params}], engine).run(
            CompressedModel([{"model": model}])
        )


def test_finite_data_still_quantizes() -> None:
    model = _model("log")
    engine = IEEngine({"device": "CPU", "stat_requests_number": 1}, _Loader(-1, 0.0))
    algo = {"name": "DefaultQuantization", "params": {"target_device": "CPU"}}
    quantized = create_pipeline([algo], engine).run(CompressedModel([{"model": model}]))
    assert _fake_quantizes(quantized.get_model()) > 0
