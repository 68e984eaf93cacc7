"""``fastpot demo-kernels``: statistics and FakeQuantize ranges for a bundled set of activations.

The bundled arrays are the input and three ReLU outputs of a small CNN (``plain_cnn`` from
the test zoo) over 16 calibration samples. The demo feeds them sample by sample, as POT's
statistics pass does with ``stat_batch_size: 1``, into streaming accumulators with the
estimators of DefaultQuantization's presets, and prints the resulting
8-bit activation ranges:

* ``performance`` (symmetric, per tensor): high = mean of per-sample ``abs_max``; the sign
  comes from the minimum over samples of per-sample ``min``;
* ``mixed`` (asymmetric, per tensor): mean of per-sample ``min`` and ``max``, zero-point
  aligned.
"""

from __future__ import annotations

import time
from importlib import resources

import numpy as np

from fastpot.kernels import StatisticAccumulator, available_backends, fq_params, resolve_backend

__all__ = ["load_demo_arrays", "run_demo"]

# (statistic, aggregator) pairs the two presets need for a per-tensor activation FQ.
_ESTIMATORS = {
    "sym_min": ("min", "min"),
    "sym_max": ("abs_max", "mean"),
    "asym_min": ("min", "mean"),
    "asym_max": ("max", "mean"),
}


def load_demo_arrays() -> dict[str, np.ndarray]:
    """Load the bundled activations: ``{tensor name: [samples, ...] float16 array}``."""
    source = resources.files("fastpot") / "data" / "demo_activations.npz"
    with resources.as_file(source) as path, np.load(path) as data:
        return {name: data[name] for name in data.files}


def _collect(arrays: dict[str, np.ndarray], backend: str) -> dict[str, dict[str, np.ndarray]]:
    results = {}
    for name, values in arrays.items():
        accumulators = {
            key: StatisticAccumulator(stat, how, backend=backend)
            for key, (stat, how) in _ESTIMATORS.items()
        }
        for i in range(values.shape[0]):
            sample = values[i : i + 1]
            for acc in accumulators.values():
                acc.update(sample)
        results[name] = {key: acc.result() for key, acc in accumulators.items()}
    return results


def run_demo(backend: str = "auto", compare: bool = False) -> int:
    """Print statistics-derived ranges for the bundled arrays; returns an exit code."""
    arrays = load_demo_arrays()
    chosen = resolve_backend(backend)
    start = time.perf_counter()
    stats = _collect(arrays, chosen)
    elapsed = time.perf_counter() - start

    samples = next(iter(arrays.values())).shape[0]
    print(f"fastpot demo-kernels: {len(arrays)} tensors x {samples} samples, backend {chosen}")
    header = (
        f"{'tensor':<12} {'shape':<16} {'performance (symmetric)':>26} {'mixed (asymmetric)':>26}"
    )
    print(header)
    print("-" * len(header))
    for name, s in stats.items():
        sym = fq_params(s["sym_min"], s["sym_max"], mode="symmetric", kind="activations")
        asym = fq_params(s["asym_min"], s["asym_max"], mode="asymmetric", kind="activations")
        shape = "x".join(str(d) for d in arrays[name].shape[1:])
        sym_text = f"[{float(sym.input_low):+.4f}, {float(sym.input_high):+.4f}]"
        asym_text = f"[{float(asym.input_low):+.4f}, {float(asym.input_high):+.4f}]"
        print(f"{name:<12} {shape:<16} {sym_text:>26} {asym_text:>26}")
    print(f"levels: {sym.levels}; statistics collected in {elapsed * 1e3:.1f} ms")

    if compare:
        print("\nbackend timings (same statistics, one sample per update):")
        reference = stats
        for other in available_backends():
            _collect(arrays, other)  # warm-up (numba compiles on first use)
            start = time.perf_counter()
            result = _collect(arrays, other)
            ms = (time.perf_counter() - start) * 1e3
            same = all(
                np.allclose(result[n][k], reference[n][k], rtol=1e-6)
                for n in result
                for k in result[n]
            )
            print(f"  {other:<6} {ms:8.1f} ms   agrees with {chosen}: {same}")
    return 0
