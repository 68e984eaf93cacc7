"""AccuracyAware judges a metric by its class, not by the module the class lives in.

POT's own samples define their metrics under ``openvino.tools.pot`` (the object detection
sample's ``MAP`` lives in ``openvino.tools.pot.api.samples.object_detection.metric``); such a
metric implements per-sample ``value`` and must be accepted and used like any other.
"""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from fastpot import load_model
from fastpot.algorithms import AccuracyAwareQuantization
from fastpot.algorithms.accuracy_aware.ranking import check_per_sample_values
from fastpot.api import DataLoader, Metric
from fastpot.engines import IEEngine
from fastpot.graph.model import CompressedModel

ZOO = Path(__file__).resolve().parents[1] / "data" / "zoo"
MODEL = "plain_cnn"
SAMPLES = 40
POT_MODULE = "openvino.tools.pot.api.samples.object_detection.my_metric"

# A metric module as a POT sample would write it: the classes get their ``__module__`` from
# the module they are defined in, exactly as with an imported file.
SOURCE = textwrap.dedent(
    '''
    import numpy as np
    from openvino.tools.pot import Metric


    class MAP(Metric):
        """Per-sample hit (1.0 / 0.0) of the top-1 class; counts reads of ``value``."""

        reads = 0

        def reset(self):
            self.hits = []
            self.last = []

        def update(self, output, target):
            pred = np.argmax(output[0], axis=-1)
            self.last = [float(p == t) for p, t in zip(pred, target, strict=True)]
            self.hits += self.last

        @property
        def value(self):
            type(self).reads += 1
            return {"map": self.last}

        @property
        def avg_value(self):
            return {"map": float(np.mean(self.hits))}

        def get_attributes(self):
            return {"map": {"direction": "higher-better", "type": "map"}}


    class NoPerSample(MAP):
        """Per-sample values not implemented: the base class's ``value`` again."""

        value = Metric.value
    '''
)


@pytest.fixture(scope="module")
def pot_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType(POT_MODULE)
    sys.modules[POT_MODULE] = module
    try:
        exec(compile(SOURCE, f"<{POT_MODULE}>", "exec"), module.__dict__)  # noqa: S102
        yield module
    finally:
        del sys.modules[POT_MODULE]


class LocalMAP(Metric):
    """The same metric as ``MAP`` in the POT-named module, defined in this test module."""

    def reset(self) -> None:
        self.hits: list[float] = []
        self.last: list[float] = []

    def update(self, output: list[np.ndarray], target: list[int]) -> None:
        pred = np.argmax(output[0], axis=-1)
        self.last = [float(p == t) for p, t in zip(pred, target, strict=True)]
        self.hits += self.last

    @property
    def value(self) -> dict[str, list[float]]:
        return {"map": self.last}

    @property
    def avg_value(self) -> dict[str, float]:
        return {"map": float(np.mean(self.hits))}

    def get_attributes(self) -> dict[str, dict[str, str]]:
        return {"map": {"direction": "higher-better", "type": "map"}}


def _model() -> CompressedModel:
    return load_model(
        {
            "model_name": MODEL,
            "model": str(ZOO / f"{MODEL}.xml"),
            "weights": str(ZOO / f"{MODEL}.bin"),
        }
    )


@cache
def _data() -> tuple[np.ndarray, np.ndarray]:
    """The first images of plain_cnn's calibration set, labelled with the FP32 top-1."""
    with np.load(ZOO / f"{MODEL}.npz") as d:
        x = d[d.files[0]][:SAMPLES].astype(np.float32)
    compiled = ov.Core().compile_model(
        _model().get_model(), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    labels = np.concatenate([compiled(x[i : i + 1])[0] for i in range(len(x))]).argmax(axis=1)
    return x, labels


class _Loader(DataLoader):
    def __init__(self, x: np.ndarray, labels: np.ndarray) -> None:
        self.x, self.labels = x, labels

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.x[i : i + 1], int(self.labels[i])


def _engine(metric: Metric) -> IEEngine:
    return IEEngine({"device": "CPU"}, _Loader(*_data()), metric)


CONFIG = {
    "target_device": "CPU",
    "preset": "performance",
    "maximal_drop": 0.0,
    "ranking_subset_size": 10,
    "max_iter_num": 2,
}


def test_the_class_lives_in_a_pot_module(pot_module: types.ModuleType) -> None:
    assert pot_module.MAP.__module__ == POT_MODULE
    assert pot_module.MAP.__module__.startswith("openvino.tools.pot")


def test_a_pot_sample_metric_with_per_sample_values_is_accepted(
    pot_module: types.ModuleType,
) -> None:
    check_per_sample_values(pot_module.MAP())  # no error


def test_a_metric_without_per_sample_values_is_refused_wherever_it_lives(
    pot_module: types.ModuleType,
) -> None:
    with pytest.raises(ValueError, match="NoPerSample does not implement the per-sample"):
        check_per_sample_values(pot_module.NoPerSample())
    engine = _engine(pot_module.NoPerSample())
    with pytest.raises(ValueError, match="per-sample 'value'"):
        AccuracyAwareQuantization(CONFIG, engine)


def test_accuracy_aware_uses_the_pot_module_metric_like_a_local_one(
    pot_module: types.ModuleType,
) -> None:
    pot_module.MAP.reads = 0
    pot_algo = AccuracyAwareQuantization(CONFIG, _engine(pot_module.MAP()))
    pot_result = pot_algo.run(_model())
    # The per-sample values were read (full evaluations ask for them) ...
    assert pot_module.MAP.reads > 0
    # ... and drive the same search as the identical metric defined outside openvino.tools.pot.
    local_algo = AccuracyAwareQuantization(CONFIG, _engine(LocalMAP()))
    local_result = local_algo.run(_model())
    pot, local = pot_algo.summary, local_algo.summary
    assert pot["configurations"] == local["configurations"]
    assert pot["rankings"] == local["rankings"]
    assert pot["steps"] == local["steps"]
    assert pot["result"] == local["result"]
    assert pot["rankings"], "AA ranked no layer: the per-sample values were not used"
    # The quantized model loses accuracy on these labels, so the ranking subset is made of
    # samples whose per-sample value dropped: within the configured size, non-empty.
    assert all(0 < r["subset_size"] <= CONFIG["ranking_subset_size"] for r in pot["rankings"])
    assert pot["configurations"][0]["drop"]["map"] > 0
    assert _fake_quantizes(pot_result) == _fake_quantizes(local_result)


def _fake_quantizes(model: CompressedModel) -> set[str]:
    ops = model.get_model().get_ops()
    return {o.get_friendly_name() for o in ops if o.get_type_name() == "FakeQuantize"}
