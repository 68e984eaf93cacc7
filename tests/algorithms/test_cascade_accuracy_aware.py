"""AccuracyAwareQuantization on a cascade driven by a POT-style custom engine (issue 11).

The engine is the golden cascade engine (tests/data/golden/cascade/cascade_engine.py); the
metric compares each image's final detections with those of the FP32 cascade, so that the
FP32 model scores exactly 0 and any quantization error lowers the score. Reverting layers
walks across sub-models (POT's prefixed names ``<stage>_<node>``); with ``maximal_drop``
0 the search must end on a cascade whose detections equal the FP32 ones bit for bit.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from openvino.tools.pot import Metric, create_pipeline, load_model

DATA = Path(__file__).resolve().parents[1] / "data"
ZOO = DATA / "zoo"


def _engine_module():
    spec = importlib.util.spec_from_file_location(
        "cascade_engine_for_aa", DATA / "golden" / "cascade" / "cascade_engine.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Agreement(Metric):
    """Per image: ``-max |p - p_fp32|`` over the final detections' probabilities."""

    def __init__(self) -> None:
        self.reference: dict[int, np.ndarray] | None = None
        self.seen: dict[int, np.ndarray] = {}
        super().__init__()

    def reset(self) -> None:
        self._values: list[float] = []

    @property
    def value(self):
        return {"agreement": self._values[-1:]}

    @property
    def avg_value(self):
        return {"agreement": float(np.mean(self._values)) if self._values else 0.0}

    def update(self, output, target) -> None:
        for detections, index in zip(output, target, strict=True):
            self.seen[index] = detections
            ref = detections if self.reference is None else self.reference[index]
            self._values.append(-float(np.max(np.abs(detections[:, 4] - ref[:, 4]))))

    def get_attributes(self):
        return {"agreement": {"direction": "higher-better", "type": "agreement"}}


@pytest.fixture(scope="module")
def setup():
    ce = _engine_module()
    images = ce.load_images(str(ZOO))[:12]
    metric = Agreement()
    engine = ce.CascadeEngine(
        {"device": "CPU", "stat_requests_number": 1, "eval_requests_number": 1},
        ce.ImageLoader(images),
        metric,
    )
    return ce, engine, metric


def _pipeline(engine, **params):
    algo = {
        "name": "AccuracyAwareQuantization",
        "params": {
            "target_device": "CPU",
            "preset": "performance",
            "stat_subset_size": 12,
            "ranking_subset_size": 4,
            **params,
        },
    }
    return create_pipeline([algo], engine)


def test_reverting_crosses_sub_models_until_fp32(setup) -> None:
    ce, engine, metric = setup
    fp32 = load_model(ce.cascade_model_config(str(ZOO)))
    pipeline = _pipeline(engine, maximal_drop=0.0, max_iter_num=100)
    assert pipeline.evaluate(fp32) == {"agreement": 0.0}
    metric.reference = dict(metric.seen)

    quantized = pipeline.run(fp32)
    assert quantized.is_cascade
    summary = pipeline.algo_seq[0].summary["result"]
    assert summary["reached"] is True
    reverted = summary["reverted_fake_quantizes"]
    stages = {name.split("_", 1)[0] for name in reverted}
    assert stages == {"pnet", "rnet", "onet"}, reverted
    # The cascade the search settled on reproduces the FP32 detections exactly.
    assert pipeline.evaluate(quantized) == {"agreement": 0.0}
    # The input model is not modified.
    assert all(
        op.get_type_name() != "FakeQuantize" for m in fp32.models for op in m["model"].get_ops()
    )
    metric.reference = None


def test_stops_at_max_iter_num_with_the_best_cascade(setup) -> None:
    ce, engine, metric = setup
    fp32 = load_model(ce.cascade_model_config(str(ZOO)))
    pipeline = _pipeline(engine, maximal_drop=0.0, max_iter_num=2)
    pipeline.evaluate(fp32)
    metric.reference = dict(metric.seen)
    quantized = pipeline.run(fp32)
    summary = pipeline.algo_seq[0].summary["result"]
    assert summary["iterations"] == 2
    assert summary["hit_iteration_limit"] is True
    left = sum(
        op.get_type_name() == "FakeQuantize"
        for m in quantized.models
        for op in m["model"].get_ops()
    )
    # POT's DefaultQuantization puts 9 / 11 / 14 FakeQuantize nodes into pnet / rnet / onet.
    assert len(summary["reverted_fake_quantizes"]) > 0
    assert left == 9 + 11 + 14 - len(summary["reverted_fake_quantizes"])
    metric.reference = None
