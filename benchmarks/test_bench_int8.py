"""INT8 vs FP32 inference of the ResNet-like model (issue 5).

The model is quantized with fastpot's DefaultQuantization (300 samples, or 8 in the smoke
run), compressed with ``compress_model_weights``, saved with ``save_model`` and read back
from disk, then both IRs run the same samples through ``ov.AsyncInferQueue`` with the
THROUGHPUT hint: once with OpenVINO's default precision (what a user gets; bf16 on CPUs with
AMX/AVX512-BF16 for the FP32 model) and once with ``INFERENCE_PRECISION_HINT=f32``.
Group ``int8_throughput|<precision>``; the FP32 model is each group's baseline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

import resnet_like
from fastpot import compress_model_weights, load_model, save_model
from fastpot.engines import IEEngine
from fastpot.pipeline import create_pipeline

SAMPLES = 8 if os.environ.get("FASTPOT_BENCH_SMALL") else 300
PRECISIONS = {"default": {}, "f32": {"INFERENCE_PRECISION_HINT": "f32"}}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[dict[str, Path], np.ndarray]:
    folder = tmp_path_factory.mktemp("int8")
    fp32 = folder / "fp32.xml"
    ov.save_model(resnet_like.make_resnet_like(), fp32, compress_to_fp16=False)
    samples = resnet_like.make_samples(SAMPLES)
    model = load_model(
        {"model_name": "r", "model": str(fp32), "weights": str(fp32.with_suffix(".bin"))}
    )
    engine = IEEngine({"device": "CPU"}, resnet_like.SampleLoader(samples))
    params = {"target_device": "CPU", "preset": "performance", "stat_subset_size": SAMPLES}
    quantized = create_pipeline([{"name": "DefaultQuantization", "params": params}], engine).run(
        model
    )
    compress_model_weights(quantized)
    saved = save_model(quantized, str(folder), model_name="int8")
    return {"FP32": fp32, "INT8": Path(saved[0]["model"])}, samples


@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("which", ["FP32", "INT8"])
def test_throughput(benchmark, models, precision: str, which: str) -> None:
    paths, samples = models
    benchmark.group = f"int8_throughput|{precision} x{SAMPLES}"
    benchmark.extra_info.update(entry=which, kind="backend", baseline="FP32")
    core = ov.Core()
    config = {"PERFORMANCE_HINT": "THROUGHPUT", **PRECISIONS[precision]}
    compiled = core.compile_model(core.read_model(paths[which]), "CPU", config)
    if which == "INT8":  # the compressed IR keeps its FakeQuantize on activations
        ops = core.read_model(paths[which]).get_ops()
        assert any(op.get_type_name() == "FakeQuantize" for op in ops)
        assert any(
            op.get_output_element_type(0) == ov.Type.i8
            for op in ops
            if op.get_type_name() == "Constant"
        )

    def run() -> None:
        queue = ov.AsyncInferQueue(compiled)
        for i in range(len(samples)):
            queue.start_async({0: samples[i : i + 1]})
        queue.wait_all()

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
