"""The README's first command, ``fastpot demo``, and ``fastpot demo-kernels --compare``."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

from fastpot.demo_kernels import load_demo_arrays


def _expected_symmetric(values: np.ndarray) -> tuple[float, float]:
    """POT's performance preset by hand: high = mean of per-sample |x|max."""
    per_sample = np.abs(values.astype(np.float64)).reshape(values.shape[0], -1).max(axis=1)
    high = np.float32(per_sample.astype(np.float32).astype(np.float64).mean())
    if values.min() >= 0:
        return 0.0, float(high)
    return float(-(high * np.float32(256)) / np.float32(254)), float(high)


def test_demo_prints_ranges_matching_a_hand_computation() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fastpot", "demo-kernels", "--compare"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    arrays = load_demo_arrays()
    assert len(arrays) == 4
    for name, values in arrays.items():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        numbers = [float(v) for v in re.findall(r"[-+]\d+\.\d+", line)]
        low, high = _expected_symmetric(values)
        assert numbers[0] == round(low, 4) or abs(numbers[0] - low) < 1e-4, (name, line)
        assert abs(numbers[1] - high) < 1e-4, (name, line, high)
    # every available backend ran and agreed
    assert out.count("agrees with cpp: True") == 3, out


def test_demo_quantizes_the_bundled_cnn_within_one_point(tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastpot",
            "demo",
            "--seconds",
            "0.3",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    fp32 = re.search(r"^FP32\s+(\d+\.\d+) %\s+(\d+) images/s", out, re.MULTILINE)
    int8 = re.search(r"^INT8\s+(\d+\.\d+) %\s+(\d+) images/s", out, re.MULTILINE)
    assert fp32, out
    assert int8, out
    assert float(fp32.group(1)) > 95.0  # the bundled model is a real, trained classifier
    assert float(fp32.group(1)) - float(int8.group(1)) < 1.0
    assert int(fp32.group(2)) > 0
    assert int(int8.group(2)) > 0
    drop = re.search(r"accuracy drop: (-?\d+\.\d+) percentage points", out)
    assert drop, out
    assert float(drop.group(1)) < 1.0
    saved = tmp_path / "digits_cnn_int8.xml"
    assert f"saved: {saved}" in out
    import openvino as ov

    model = ov.Core().read_model(saved)
    types = [op.get_type_name() for op in model.get_ops()]
    assert types.count("FakeQuantize") >= 4


def test_demo_accuracy_metric_in_process() -> None:
    from fastpot.demo import Accuracy, DigitsLoader, load_digits

    data = load_digits()
    assert data["test_images"].shape == (500, 1, 8, 8)
    assert data["calibration_images"].shape == (300, 1, 8, 8)
    loader = DigitsLoader(data["test_images"], data["test_labels"])
    image, label = loader[3]
    assert image.shape == (1, 8, 8)
    assert label == int(data["test_labels"][3])
    metric = Accuracy()
    logits = np.eye(10, dtype=np.float32)[[1, 2, 3]]
    metric.update([logits], [1, 2, 0])
    assert metric.value == {"accuracy": [1.0, 1.0, 0.0]}
    assert metric.avg_value == {"accuracy": 2 / 3}
    metric.reset()
    assert metric.avg_value == {"accuracy": 0.0}
