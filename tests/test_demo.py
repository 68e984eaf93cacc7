"""``fastpot demo-kernels --compare`` on the bundled activations."""

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
