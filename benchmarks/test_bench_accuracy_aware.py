"""AccuracyAware quantization against NNCF on realistic pattern models (issue 16).

Group ``accuracy_aware|<model> xN``: ``fastpot.quantize_with_accuracy_control`` against
``nncf.quantize_with_accuracy_control`` on the same model (``aa_models``: the SVTR-like
recognizer and the YOLOv8n-like detector), the same calibration items (300), the same
validation items (600; 24 in smoke mode) and the same validation function: FP32 argmax
agreement with per-item values (``aa_models.agreement``), ``max_drop`` 0.01 absolute,
``PERFORMANCE`` preset, ``CPU`` target, ``subset_size`` 300. Each case runs once
(``benchmark.pedantic``, one round: an AA run takes minutes).

``extra_info`` of every case, the same way for both tools:

- ``seconds``: wall time of the call;
- ``baseline``, ``final``: the metric of the FP32 and of the returned model (compiled in f32,
  as both tools evaluate), ``drop`` = ``baseline - final``, ``reached`` = ``drop <= max_drop``;
- ``validation_calls``, ``full_evaluations`` (calls on all validation items),
  ``subset_evaluations`` (calls on fewer, more than one), ``single_item_calls``,
  ``inferred_items`` (items over all calls), counted by wrapping the validation function.

NNCF cases are skipped when ``nncf`` is not installed (CI does not install it). In smoke mode
(``FASTPOT_BENCH_SMALL=1``) both tools stop after 3 reverting iterations.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openvino as ov
import pytest

import aa_models
import fastpot

SMALL = bool(os.environ.get("FASTPOT_BENCH_SMALL"))
ITEMS = 24 if SMALL else 600
CALIBRATION = 16 if SMALL else 300
MAX_DROP = 0.01
MAX_ITER = 3 if SMALL else None
HAVE_NNCF = importlib.util.find_spec("nncf") is not None
F32 = {"INFERENCE_PRECISION_HINT": "f32"}

MODELS: dict[str, tuple[Callable[[], ov.Model], tuple[int, ...], int | None]] = {
    "svtr_like": (aa_models.make_recognizer, aa_models.REC_SHAPE, None),
    "yolo_like": (aa_models.make_detector, aa_models.DET_SHAPE, aa_models.DET_TOP_K),
}


@dataclass
class _Data:
    model: ov.Model
    calibration: list[np.ndarray]
    validation: list[aa_models.Item]
    baseline: float


@dataclass
class _CountingValidation:
    """The shared validation function, counting calls and their sizes."""

    sizes: list[int] = field(default_factory=list)

    def __call__(
        self, compiled: ov.CompiledModel, items: Iterable[aa_models.Item]
    ) -> tuple[float, list[float]]:
        chosen = list(items)  # NNCF hands an iterable, fastpot a list
        self.sizes.append(len(chosen))
        return aa_models.agreement(compiled, chosen)

    def counts(self, total: int) -> dict[str, int]:
        return {
            "validation_calls": len(self.sizes),
            "full_evaluations": sum(1 for s in self.sizes if s == total),
            "subset_evaluations": sum(1 for s in self.sizes if 1 < s < total),
            "single_item_calls": sum(1 for s in self.sizes if s == 1),
            "inferred_items": sum(self.sizes),
        }


_CACHE: dict[str, _Data] = {}


def _data(name: str) -> _Data:
    if name not in _CACHE:
        make, shape, top_k = MODELS[name]
        model = make()
        validation = aa_models.label_items(model, aa_models.make_items(shape, ITEMS, 1), top_k)
        calibration = aa_models.make_items(shape, CALIBRATION, 2)
        compiled = ov.Core().compile_model(model, "CPU", F32)
        baseline = aa_models.agreement(compiled, validation)[0]
        _CACHE[name] = _Data(model, calibration, validation, baseline)
    return _CACHE[name]


def _run_fastpot(data: _Data, fn: _CountingValidation) -> ov.Model:
    restorer: dict[str, Any] = {} if MAX_ITER is None else {"max_iter_num": MAX_ITER}
    return fastpot.quantize_with_accuracy_control(
        data.model,
        data.calibration,
        data.validation,
        fn,
        max_drop=MAX_DROP,
        drop_type="absolute",
        preset="performance",
        target_device="CPU",
        subset_size=300,
        show_progress=False,
        advanced_accuracy_restorer_parameters=restorer,
    )


def _run_nncf(data: _Data, fn: _CountingValidation) -> ov.Model:
    import nncf  # type: ignore[import-untyped,import-not-found,unused-ignore]  # optional

    advanced = None
    if MAX_ITER is not None:
        advanced = nncf.AdvancedAccuracyRestorerParameters(max_num_iterations=MAX_ITER)
    model: ov.Model = nncf.quantize_with_accuracy_control(
        data.model,
        nncf.Dataset(data.calibration),
        nncf.Dataset(data.validation),
        fn,
        max_drop=MAX_DROP,
        drop_type=nncf.DropType.ABSOLUTE,
        preset=nncf.QuantizationPreset.PERFORMANCE,
        target_device=nncf.TargetDevice.CPU,
        subset_size=300,
        advanced_accuracy_restorer_parameters=advanced,
    )
    return model


TOOLS = {
    "fastpot.quantize_with_accuracy_control": _run_fastpot,
    "nncf.quantize_with_accuracy_control": _run_nncf,
}
NEEDS_NNCF = pytest.mark.skipif(not HAVE_NNCF, reason='nncf not installed (pip install ".[bench]")')
CASES = [
    pytest.param(model, tool, marks=[NEEDS_NNCF] if tool.startswith("nncf") else [])
    for model in MODELS
    for tool in TOOLS
]


@pytest.mark.parametrize(("model_name", "tool"), CASES)
def test_accuracy_aware(benchmark: Any, model_name: str, tool: str) -> None:
    """One AA run of `tool` on `model_name`; time, result and evaluation counts recorded."""
    data = _data(model_name)
    benchmark.group = f"accuracy_aware|{model_name} x{ITEMS}"
    fn = _CountingValidation()
    results: list[ov.Model] = []
    seconds: list[float] = []

    def run() -> None:
        start = time.perf_counter()
        results.append(TOOLS[tool](data, fn))
        seconds.append(time.perf_counter() - start)

    benchmark.pedantic(run, rounds=1, iterations=1)
    compiled = ov.Core().compile_model(results[-1], "CPU", F32)
    final = aa_models.agreement(compiled, data.validation)[0]
    drop = data.baseline - final
    fq = sum(op.get_type_name() == "FakeQuantize" for op in results[-1].get_ops())
    benchmark.extra_info.update(
        {
            "seconds": round(seconds[-1], 2),
            "baseline": data.baseline,
            "final": final,
            "drop": drop,
            "reached": bool(drop <= MAX_DROP + 1e-9),
            "fake_quantizes_left": fq,
            **fn.counts(len(data.validation)),
        }
    )
    assert fn.sizes, "the validation function was never called"
    assert fq > 0, "every FakeQuantize was reverted"
    if not SMALL:  # both tools reach the drop on these models
        assert drop <= MAX_DROP + 1e-9, (tool, data.baseline, final)
