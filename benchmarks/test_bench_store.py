"""Statistics store: DefaultQuantization again, with another range-estimator preset, warm.

Group ``store|resnet_like xN``: the issue's ResNet-like model and N samples. The cold run
quantizes with the ``default`` range-estimator preset into an empty store (one inference
pass, recording the superset); the timed warm runs quantize with the ``quantile`` preset
from that store: the statistics are derived from the superset, so no inference runs; what
is left is hashing the model and the data, reading the entry, MinMax and
FastBiasCorrection. ``extra_info`` holds ``no_store_seconds`` (the cold run's
configuration without a store), ``cold_seconds``, ``warm_seconds`` and ``ratio`` (warm mean /
cold);
with the full sample count the ratio must be at most 0.05 (the issue's target). Each warm
result is checked against a run of the ``quantile`` preset without a store, bit for bit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

import resnet_like
from fastpot import load_model
from fastpot.engines import IEEngine
from fastpot.pipeline import create_pipeline

SMALL = bool(os.environ.get("FASTPOT_BENCH_SMALL"))
SAMPLES = 8 if SMALL else 300
GROUP = f"store|resnet_like x{SAMPLES}"
TARGET_RATIO = 0.05


def _quantize(xml: Path, samples: np.ndarray, preset: str, store: Path | None) -> ov.Model:
    model = load_model(
        {"model_name": "resnet_like", "model": str(xml), "weights": str(xml.with_suffix(".bin"))}
    )
    config = {"device": "CPU", "cache_dir": str(store) if store is not None else ""}
    engine = IEEngine(config, resnet_like.SampleLoader(samples))
    params = {
        "target_device": "CPU",
        "preset": "performance",
        "stat_subset_size": len(samples),
        "range_estimator": {"preset": preset},
    }
    pipeline = create_pipeline([{"name": "DefaultQuantization", "params": params}], engine)
    return pipeline.run(model).get_model()


def _constants(model: ov.Model) -> dict[str, bytes]:
    out = {}
    for op in model.get_ordered_ops():
        for i, value in enumerate(op.input_values()):
            node = value.get_node()
            if node.get_type_name() == "Constant":
                out[f"{op.get_friendly_name()}:{i}"] = np.ascontiguousarray(
                    node.get_data()
                ).tobytes()
    return out


def test_warm_store_with_another_preset(benchmark, tmp_path: Path) -> None:
    xml = tmp_path / "resnet_like.xml"
    ov.save_model(resnet_like.make_resnet_like(), xml, compress_to_fp16=False)
    samples = resnet_like.make_samples(SAMPLES)
    store = tmp_path / "store"

    start = time.perf_counter()
    _quantize(xml, samples, "default", None)
    plain = time.perf_counter() - start  # the same run without a store: what recording costs

    start = time.perf_counter()
    _quantize(xml, samples, "default", store)
    cold = time.perf_counter() - start

    warm: list[ov.Model] = []
    benchmark.group = GROUP
    benchmark.pedantic(
        lambda: warm.append(_quantize(xml, samples, "quantile", store)), rounds=3, iterations=1
    )
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        warm_seconds = float(stats.stats.mean)
    else:  # --benchmark-disable: the function ran once, untimed; time one more run
        start = time.perf_counter()
        warm.append(_quantize(xml, samples, "quantile", store))
        warm_seconds = time.perf_counter() - start
    ratio = warm_seconds / cold
    benchmark.extra_info.update(
        {
            "no_store_seconds": round(plain, 3),
            "cold_seconds": round(cold, 3),
            "warm_seconds": round(warm_seconds, 3),
            "ratio": ratio,
            "cold_over_no_store": cold / plain,
            "warm_over_no_store": warm_seconds / plain,
        }
    )
    print(
        f"\n{GROUP}: no store {plain:.2f} s, cold {cold:.2f} s, warm {warm_seconds:.3f} s, "
        f"warm/cold {ratio:.4f}, warm/no store {warm_seconds / plain:.4f}"
    )

    fresh = _constants(_quantize(xml, samples, "quantile", None))
    assert all(_constants(m) == fresh for m in warm)
    if not SMALL:
        assert ratio <= TARGET_RATIO, f"warm/cold = {ratio:.3f} > {TARGET_RATIO}"


@pytest.fixture(autouse=True)
def _no_environment_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTPOT_CACHE_DIR", raising=False)
