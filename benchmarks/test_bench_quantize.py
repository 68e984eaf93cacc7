"""DefaultQuantization vs plain inference on the issue's ResNet-like model (issue 5).

Group ``quantize|resnet_like xN``: plain ``ov.AsyncInferQueue`` inference of the N samples
(the baseline: compiled once, outside the timing), fastpot's ``create_pipeline`` +
``Pipeline.run`` with DefaultQuantization (``performance`` preset, and the ``quantile``
range-estimator preset), and, when NNCF is installed (``pip install ".[bench]"``),
``nncf.quantize`` on the same model and samples (its default, and its quantile range
estimator; ``PERFORMANCE`` preset, ``CPU`` target as fastpot's). Every quantization case builds
a fresh model outside the timing and is checked after the timing: its FakeQuantize count,
that the quantized model stays close to FP32, and its accuracy on held-out samples that
calibration did not see, recorded in ``extra_info`` the same way for both tools (and
``ratio_to_plain``: before every round plain inference runs once more, untimed, and the
median of the per-round ratios is recorded; ratios of medians taken minutes apart move by
0.2x on this shared machine):

- ``sqnr_db``: signal-to-quantization-noise ratio of the output against FP32 over all held-out
  samples, ``10 log10(sum(ref**2) / sum((int8 - ref)**2))``;
- ``top1_agreement``: fraction of held-out argmaxes (over the output's last axis, per sample
  and position) that equal FP32's.

Group ``quantize|zoo``: ``fastpot.quantize(model, items, subset_size=N)`` against
``nncf.quantize(model, nncf.Dataset(items), subset_size=N, preset=PERFORMANCE,
target_device=CPU)`` on each model of ``tests/data/zoo`` with its ``.npz`` items: the first
half calibrates, the second half is held out (8 + 8 items in smoke mode).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest

import resnet_like
from fastpot import load_model
from fastpot import quantize as fastpot_quantize
from fastpot.engines import IEEngine
from fastpot.pipeline import create_pipeline
from per_round import record_ratios_to_plain

SMALL = bool(os.environ.get("FASTPOT_BENCH_SMALL"))
SAMPLES = 8 if SMALL else 300
HELD_OUT = 4 if SMALL else 100  # ResNet-like samples from another seed than calibration's
GROUP = f"quantize|resnet_like x{SAMPLES}"
BASELINE = "plain AsyncInferQueue"
CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}
FASTPOT_CASES = {
    "fastpot DefaultQuantization": {},
    "fastpot DefaultQuantization quantile": {"range_estimator": {"preset": "quantile"}},
}
NNCF_CASES = ("nncf.quantize", "nncf.quantize quantile")
HAVE_NNCF = importlib.util.find_spec("nncf") is not None
ZOO = Path(__file__).resolve().parents[1] / "tests" / "data" / "zoo"
ZOO_MODELS = sorted(json.loads((ZOO / "manifest.json").read_text())["models"])
ZOO_SMALL_HALF = 8  # smoke mode: 8 calibration + 8 held-out items per zoo model
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("resnet_like")
    xml = folder / "resnet_like.xml"
    ov.save_model(resnet_like.make_resnet_like(), xml, compress_to_fp16=False)
    return xml, resnet_like.make_samples(SAMPLES)


@pytest.fixture(scope="module")
def held_out(setup: tuple[Path, np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Held-out ResNet-like inputs (seed 2; calibration uses seed 1) and FP32's outputs."""
    xml, _ = setup
    feeds = list(resnet_like.make_samples(HELD_OUT, seed=2)[:, None])
    return feeds, _outputs(ov.Core().read_model(xml), feeds)


def _outputs(model: ov.Model, feeds: Sequence[Any]) -> np.ndarray:
    """First output of `model` (compiled with f32 precision) on each feed, stacked."""
    compiled = ov.Core().compile_model(model, "CPU", F32)
    return np.stack([np.asarray(compiled(feed)[0], np.float64) for feed in feeds])


def _accuracy(quantized: ov.Model, feeds: Sequence[Any], reference: np.ndarray) -> dict[str, Any]:
    """SQNR (dB) and top-1 agreement of `quantized` against the FP32 `reference` outputs."""
    got = _outputs(quantized, feeds)
    noise = float(np.sum((got - reference) ** 2))
    sqnr = 10.0 * np.log10(float(np.sum(reference**2)) / noise) if noise > 0 else float("inf")
    agreement = float(np.mean(got.argmax(axis=-1) == reference.argmax(axis=-1)))
    return {
        "sqnr_db": round(sqnr, 3),
        "top1_agreement": round(agreement, 4),
        "held_out": len(feeds),
    }


def _fastpot(xml: Path, samples: np.ndarray, extra: dict):
    model = load_model(
        {"model_name": "resnet_like", "model": str(xml), "weights": str(xml.with_suffix(".bin"))}
    )
    engine = IEEngine({"device": "CPU"}, resnet_like.SampleLoader(samples))
    params = {"target_device": "CPU", "preset": "performance", "stat_subset_size": len(samples)}
    pipeline = create_pipeline(
        [{"name": "DefaultQuantization", "params": {**params, **extra}}], engine
    )
    return lambda: pipeline.run(model).get_model()


def _nncf(xml: Path, samples: np.ndarray, quantile: bool):
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    model = ov.Core().read_model(xml)
    dataset = nncf.Dataset([samples[i : i + 1] for i in range(len(samples))])
    advanced = None
    if quantile:
        advanced = AdvancedQuantizationParameters(
            activations_range_estimator_params=RangeEstimatorParametersSet.MEAN_QUANTILE
        )
    return lambda: nncf.quantize(
        model,
        dataset,
        subset_size=len(samples),
        preset=nncf.QuantizationPreset.PERFORMANCE,
        target_device=nncf.TargetDevice.CPU,
        advanced_parameters=advanced,
    )


def _check(quantized: ov.Model, xml: Path, samples: np.ndarray) -> None:
    n_fq = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    assert n_fq >= 17, n_fq  # at least the input of every conv/matmul (NNCF folds weight FQs)
    core = ov.Core()
    fp32 = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    int8 = core.compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = samples[:2]
    for i in range(len(x)):
        ref, got = fp32(x[i : i + 1])[0], int8(x[i : i + 1])[0]
        rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        assert rel < 0.2, rel


CASES = [BASELINE, *FASTPOT_CASES, *(NNCF_CASES if HAVE_NNCF else ())]
ROUNDS = 5


def _plain(xml: Path, samples: np.ndarray) -> Callable[[], None]:
    """Plain inference of every sample (compiled once, here, outside any timing)."""
    compiled = ov.Core().compile_model(ov.Core().read_model(xml), "CPU", CONFIG)

    def run() -> None:
        queue = ov.AsyncInferQueue(compiled)
        for i in range(len(samples)):
            queue.start_async({0: samples[i : i + 1]})
        queue.wait_all()

    return run


@pytest.mark.parametrize("case", CASES)
def test_quantize(benchmark, setup, held_out, case: str) -> None:
    xml, samples = setup
    benchmark.group = GROUP
    benchmark.extra_info.update(
        entry=case, kind="peer" if case == BASELINE else "backend", baseline=BASELINE
    )
    results: list[ov.Model] = []
    if case == BASELINE:
        run = _plain(xml, samples)

        def setup_round():
            return (), {}

    else:
        holder: dict[str, object] = {}
        plain = _plain(xml, samples)
        plain_times: list[float] = []

        def setup_round():
            # Untimed: plain inference of the same minute (for the per-round ratio), then a
            # fresh model to quantize.
            start = time.perf_counter()
            plain()
            plain_times.append(time.perf_counter() - start)
            if case in FASTPOT_CASES:
                holder["fn"] = _fastpot(xml, samples, FASTPOT_CASES[case])
            else:
                holder["fn"] = _nncf(xml, samples, quantile=case.endswith("quantile"))
            return (), {}

        def run() -> None:
            results.append(holder["fn"]())

    benchmark.pedantic(run, setup=setup_round, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    if case != BASELINE:
        record_ratios_to_plain(benchmark, plain_times)
    if results:
        _check(results[-1], xml, samples)
        benchmark.extra_info.update(_accuracy(results[-1], *held_out))


def _zoo_items(name: str) -> tuple[Path, list[Any], list[Any]]:
    """A zoo model's IR and its ``.npz`` items split into calibration and held-out halves.

    An item is the input array of one sample (batch 1), or ``{input name: array}`` for a
    model with several inputs.
    """
    entry = json.loads((ZOO / "manifest.json").read_text())["models"][name]
    names = [spec["name"] for spec in entry["inputs"]]
    with np.load(ZOO / entry["calibration"]) as data:
        arrays = {key: data[key] for key in names}
    count = len(arrays[names[0]])
    items: list[Any] = [
        arrays[names[0]][i : i + 1]
        if len(names) == 1
        else {key: arrays[key][i : i + 1] for key in names}
        for i in range(count)
    ]
    half = ZOO_SMALL_HALF if SMALL else count // 2
    return ZOO / entry["xml"], items[:half], items[half : 2 * half]


def _zoo_quantizer(tool: str, model: ov.Model, items: list[Any]) -> Callable[[], ov.Model]:
    if tool == "fastpot.quantize":
        return lambda: fastpot_quantize(model, items, subset_size=len(items), show_progress=False)
    import nncf

    return lambda: nncf.quantize(
        model,
        nncf.Dataset(items),
        subset_size=len(items),
        preset=nncf.QuantizationPreset.PERFORMANCE,
        target_device=nncf.TargetDevice.CPU,
    )


NEEDS_NNCF = pytest.mark.skipif(not HAVE_NNCF, reason='nncf not installed (pip install ".[bench]")')
ZOO_TOOLS = [pytest.param("fastpot.quantize"), pytest.param("nncf.quantize", marks=NEEDS_NNCF)]


@pytest.mark.parametrize("tool", ZOO_TOOLS)
@pytest.mark.parametrize("name", ZOO_MODELS)
def test_quantize_zoo(benchmark: Any, name: str, tool: str) -> None:
    xml, calibration, held = _zoo_items(name)
    benchmark.group = "quantize|zoo"
    benchmark.extra_info.update(
        entry=f"{name} {tool}", model=name, tool=tool, calibration=len(calibration)
    )
    holder: dict[str, Callable[[], ov.Model]] = {}
    results: list[ov.Model] = []

    def setup_round() -> tuple[tuple[()], dict[str, Any]]:
        holder["fn"] = _zoo_quantizer(tool, ov.Core().read_model(xml), calibration)
        return (), {}

    def run() -> None:
        results.append(holder["fn"]())

    benchmark.pedantic(run, setup=setup_round, rounds=3, iterations=1, warmup_rounds=1)
    quantized = results[-1]
    assert any(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    accuracy = _accuracy(quantized, held, _outputs(ov.Core().read_model(xml), held))
    benchmark.extra_info.update(accuracy)
    assert accuracy["sqnr_db"] > 3.0, accuracy  # INT8 noise well below the signal on every model
