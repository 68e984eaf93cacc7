"""Kernel benchmarks: every backend and NumPy peer of every kernel, side by side per shape.

Run ``pytest benchmarks --benchmark-json=.benchmarks/run.json``, then
``python benchmarks/report.py .benchmarks/run.json`` (see ``README.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

    from registry import ArrayPool, BenchCase

SLOW_ROUNDS = 3


def test_kernel(
    benchmark: BenchmarkFixture, bench_case: BenchCase, bench_arrays: ArrayPool
) -> None:
    benchmark.group = bench_case.group
    benchmark.extra_info.update(bench_case.extra_info())
    x = bench_arrays.get(bench_case.case)
    # Warm-up call, checked against the NumPy reference (backends only) before any timing.
    fn, slow = bench_case.prepare(x)
    benchmark.extra_info["timing"] = "pedantic" if slow else "calibrated"
    if slow:
        benchmark.pedantic(fn, rounds=SLOW_ROUNDS, iterations=1)
    else:
        benchmark(fn)
