"""DefaultQuantization vs plain inference on the issue's ResNet-like model (issue 5).

Group ``quantize|resnet_like xN``: plain ``ov.AsyncInferQueue`` inference of the N samples
(the baseline: compiled once, outside the timing), fastpot's ``create_pipeline`` +
``Pipeline.run`` with DefaultQuantization (``performance`` preset, and the ``quantile``
range-estimator preset), and, when NNCF is installed (``pip install ".[bench]"``),
``nncf.quantize`` on the same model and samples (its default, and its quantile range
estimator). Every quantization case builds a fresh model outside the timing and is checked
after the timing: its FakeQuantize count, and that the quantized model stays close to FP32.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

import resnet_like
from fastpot import load_model
from fastpot.engines import IEEngine
from fastpot.pipeline import create_pipeline

SAMPLES = 8 if os.environ.get("FASTPOT_BENCH_SMALL") else 300
GROUP = f"quantize|resnet_like x{SAMPLES}"
BASELINE = "plain AsyncInferQueue"
CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}
FASTPOT_CASES = {
    "fastpot DefaultQuantization": {},
    "fastpot DefaultQuantization quantile": {"range_estimator": {"preset": "quantile"}},
}
NNCF_CASES = ("nncf.quantize", "nncf.quantize quantile")
HAVE_NNCF = importlib.util.find_spec("nncf") is not None


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("resnet_like")
    xml = folder / "resnet_like.xml"
    ov.save_model(resnet_like.make_resnet_like(), xml, compress_to_fp16=False)
    return xml, resnet_like.make_samples(SAMPLES)


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
        model, dataset, subset_size=len(samples), advanced_parameters=advanced
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


@pytest.mark.parametrize("case", CASES)
def test_quantize(benchmark, setup, case: str) -> None:
    xml, samples = setup
    benchmark.group = GROUP
    benchmark.extra_info.update(
        entry=case, kind="peer" if case == BASELINE else "backend", baseline=BASELINE
    )
    results: list[ov.Model] = []
    if case == BASELINE:
        compiled = ov.Core().compile_model(ov.Core().read_model(xml), "CPU", CONFIG)

        def setup_round():
            return (), {}

        def run() -> None:
            queue = ov.AsyncInferQueue(compiled)
            for i in range(len(samples)):
                queue.start_async({0: samples[i : i + 1]})
            queue.wait_all()

    else:
        holder: dict[str, object] = {}

        def setup_round():
            if case in FASTPOT_CASES:
                holder["fn"] = _fastpot(xml, samples, FASTPOT_CASES[case])
            else:
                holder["fn"] = _nncf(xml, samples, quantile=case.endswith("quantile"))
            return (), {}

        def run() -> None:
            results.append(holder["fn"]())

    benchmark.pedantic(run, setup=setup_round, rounds=3, iterations=1, warmup_rounds=1)
    if results:
        _check(results[-1], xml, samples)
