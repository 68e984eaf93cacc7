"""``fastpot demo``: quantize a bundled CNN with the POT-style API and compare FP32 with INT8.

The bundled model (``fastpot/data/digits_cnn.{xml,bin}``) is a small CNN trained on
scikit-learn's copy of the UCI handwritten digits (8x8 grey images, ten classes); the
bundled data (``digits.npz``) holds 300 training images for calibration and 500 held-out
test images with their labels. ``tools/make_demo_model.py`` regenerates all three files.

The demo does what a POT user script does: a :class:`~fastpot.api.DataLoader`, a top-1
:class:`~fastpot.api.Metric` with per-sample values, an
:class:`~fastpot.engines.IEEngine`, ``create_pipeline`` with DefaultQuantization,
``compress_model_weights`` and ``save_model``; then it reloads the saved INT8 IR, measures
the top-1 accuracy of both models on the test images and times both compiled models.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from fastpot.api import DataLoader, Metric

__all__ = ["Accuracy", "DemoResult", "DigitsLoader", "load_digits", "run_demo"]

MODEL_NAME = "digits_cnn"


def _data_file(name: str) -> Path:
    return Path(str(resources.files("fastpot") / "data" / name))


def load_digits() -> dict[str, np.ndarray]:
    """Load the bundled data: calibration (300) and test (500) images and labels.

    Keys: ``calibration_images``, ``calibration_labels``, ``test_images``, ``test_labels``.

    Images are float32 ``[N, 1, 8, 8]`` in [0, 1]; labels int64.
    """
    with np.load(_data_file("digits.npz")) as data:
        return {name: data[name] for name in data.files}


class DigitsLoader(DataLoader):
    """Items ``(image [1, 8, 8], label)`` of one split of the bundled digits."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        super().__init__({})
        if len(images) != len(labels):
            raise ValueError(f"images: {len(images)} images for {len(labels)} labels")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])


class Accuracy(Metric):
    """Top-1 accuracy; ``value`` gives the per-sample hits of the last batch."""

    def __init__(self) -> None:
        self._last: list[float] = []
        super().__init__()

    @property
    def value(self) -> dict[str, list[float]]:
        """Per-sample top-1 hits (1.0 or 0.0) of the last batch."""
        return {"accuracy": list(self._last)}

    @property
    def avg_value(self) -> dict[str, float]:
        """Top-1 accuracy since the last ``reset``."""
        return {"accuracy": self._hits / self._count if self._count else 0.0}

    def update(self, output: Any, target: Any) -> None:
        """Count the hits of a batch: `output` is the list of model outputs."""
        predicted = np.asarray(output[0]).reshape(len(target), -1).argmax(axis=1)
        self._last = [float(p == t) for p, t in zip(predicted, target, strict=True)]
        self._hits += sum(self._last)
        self._count += len(self._last)

    def reset(self) -> None:
        """Forget all batches."""
        self._hits = 0.0
        self._count = 0
        self._last = []

    def get_attributes(self) -> dict[str, dict[str, str]]:
        """Direction and type of the metric."""
        return {"accuracy": {"direction": "higher-better", "type": "accuracy"}}


@dataclass
class DemoResult:
    """What the demo measured."""

    fp32_accuracy: float
    int8_accuracy: float
    fp32_throughput: float
    int8_throughput: float
    fake_quantize_nodes: int
    int8_constants: int
    saved: list[dict[str, str]]

    @property
    def drop_pp(self) -> float:
        """Accuracy drop in percentage points."""
        return 100.0 * (self.fp32_accuracy - self.int8_accuracy)


def _compile_for_timing(model: ov.Model, device: str) -> Any:
    config = {"PERFORMANCE_HINT": "THROUGHPUT"}
    if device.upper().startswith("CPU"):
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return ov.Core().compile_model(model, device, config)


def _rate(compiled: Any, batches: list[np.ndarray], seconds: float) -> float:
    """Images per second of `compiled` over `batches`, for about `seconds`."""
    queue = ov.AsyncInferQueue(compiled)
    done = 0
    start = time.perf_counter()
    while True:
        for batch in batches:
            queue.start_async({0: batch})
            done += len(batch)
        queue.wait_all()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def _throughputs(
    models: list[ov.Model], images: np.ndarray, device: str, seconds: float
) -> list[float]:
    """Best images/s of each model over three alternating rounds (batches of 50 images).

    Alternating the models and keeping each one's best round makes the comparison robust
    to other load on the machine.
    """
    compiled = [_compile_for_timing(m, device) for m in models]
    batches = [images[i : i + 50] for i in range(0, len(images) - 49, 50)]
    for c in compiled:  # warm-up
        _rate(c, batches, 0.0)
    best = [0.0] * len(models)
    for _ in range(3):
        for i, c in enumerate(compiled):
            best[i] = max(best[i], _rate(c, batches, seconds / 3))
    return best


def _accuracy(model: Any, loader: DigitsLoader, device: str) -> float:
    from fastpot.engines import IEEngine  # noqa: PLC0415 - keeps `fastpot --help` light

    engine = IEEngine({"device": device}, data_loader=loader, metric=Accuracy())
    engine.set_model(model)
    metrics, _ = engine.predict()
    return float(metrics["accuracy"])


def quantize_demo(output_dir: str | Path, device: str = "CPU") -> tuple[Any, list[dict[str, str]]]:
    """Quantize the bundled model with DefaultQuantization and save it to `output_dir`.

    Returns
    -------
    (CompressedModel, list of dict)
        The FP32 model as loaded, and ``save_model``'s result for the INT8 model.
    """
    from fastpot.engines import IEEngine  # noqa: PLC0415
    from fastpot.graph import compress_model_weights, load_model, save_model  # noqa: PLC0415
    from fastpot.pipeline import create_pipeline  # noqa: PLC0415

    data = load_digits()
    config = {
        "model_name": MODEL_NAME,
        "model": str(_data_file(f"{MODEL_NAME}.xml")),
        "weights": str(_data_file(f"{MODEL_NAME}.bin")),
    }
    calibration = DigitsLoader(data["calibration_images"], data["calibration_labels"])
    engine = IEEngine({"device": device, "stat_requests_number": 1}, data_loader=calibration)
    pipeline = create_pipeline(
        [
            {
                "name": "DefaultQuantization",
                "params": {
                    "target_device": "ANY",
                    "preset": "performance",
                    "stat_subset_size": 300,
                },
            }
        ],
        engine,
    )
    fp32 = load_model(config)
    int8 = pipeline.run(load_model(config))
    compress_model_weights(int8)
    saved = save_model(int8, output_dir, model_name=f"{MODEL_NAME}_int8")
    return fp32, saved


def run_demo(
    device: str = "CPU", output_dir: str | None = None, seconds: float = 1.0, verbose: bool = True
) -> DemoResult:
    """Run the demo and print the comparison table.

    Parameters
    ----------
    device : str
        OpenVINO device.
    output_dir : str, optional
        Keep the INT8 IR here (default: a temporary directory, removed afterwards).
    seconds : float
        How long to time each model.
    verbose : bool
        Print the table.

    Returns
    -------
    DemoResult
    """
    data = load_digits()
    test = DigitsLoader(data["test_images"], data["test_labels"])
    with tempfile.TemporaryDirectory(prefix="fastpot-demo-") as scratch:
        target = Path(output_dir) if output_dir is not None else Path(scratch)
        fp32, saved = quantize_demo(target, device)
        int8_model = ov.Core().read_model(saved[0]["model"], saved[0]["weights"])
        fp32_model = fp32.get_model()
        fp32_rate, int8_rate = _throughputs(
            [fp32_model, int8_model], data["test_images"], device, seconds
        )
        result = DemoResult(
            fp32_accuracy=_accuracy(fp32_model, test, device),
            int8_accuracy=_accuracy(int8_model, test, device),
            fp32_throughput=fp32_rate,
            int8_throughput=int8_rate,
            fake_quantize_nodes=sum(
                op.get_type_name() == "FakeQuantize" for op in int8_model.get_ops()
            ),
            int8_constants=sum(
                op.get_type_name() == "Constant"
                and op.get_element_type() in (ov.Type.i8, ov.Type.u8, ov.Type.i4, ov.Type.u4)
                for op in int8_model.get_ops()
            ),
            saved=saved if output_dir is not None else [],
        )
    if verbose:
        print(format_table(result, len(test), device))
    return result


def format_table(result: DemoResult, n_test: int, device: str) -> str:
    """Format the demo's printed report."""
    speedup = result.int8_throughput / result.fp32_throughput
    lines = [
        f"fastpot demo: digits CNN, DefaultQuantization (performance preset), {device}",
        (
            "calibration: 300 training images; evaluation: "
            f"{n_test} held-out test images (scikit-learn digits)"
        ),
        "",
        "model  top-1 accuracy  throughput",
        f"FP32   {100 * result.fp32_accuracy:6.2f} %        {result.fp32_throughput:10.0f} images/s",
        f"INT8   {100 * result.int8_accuracy:6.2f} %        {result.int8_throughput:10.0f} images/s",
        "",
        f"accuracy drop: {result.drop_pp:.2f} percentage points; INT8/FP32 speed: {speedup:.2f}x",
        (
            f"INT8 IR: {result.fake_quantize_nodes} FakeQuantize nodes, "
            f"{result.int8_constants} int8 weight constants"
        ),
    ]
    if result.saved:
        lines.append(f"saved: {result.saved[0]['model']}")
    return "\n".join(lines)
