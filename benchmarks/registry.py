"""The kernel benchmark registry: ``{kernel: {backend_or_peer: setup -> callable}}``.

A *setup* takes the input array and its :class:`Case` and returns a zero-argument callable
that runs the kernel once. Backends are whatever :func:`fastpot.kernels.available_backends`
loads here (a newly installed backend shows up without editing this file); *peers* are plain
NumPy baselines on the same array, plus ``np.add.reduce`` (on one thread, and split over one
thread per CPU) as the read-bandwidth limits.

This module is loaded by ``conftest.py`` (``--import-mode=importlib`` puts no benchmark
directory on ``sys.path``); ``report.py`` does not need it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from fastpot import kernels

__all__ = [
    "BACKENDS",
    "KERNELS",
    "PEER_LIMIT",
    "PEER_LIMIT_THREADS",
    "REGISTRY",
    "SLOW_SECONDS",
    "SMALL_ENV",
    "ArrayPool",
    "BenchCase",
    "Case",
    "KernelInfo",
    "bench_cases",
]

SMALL_ENV = "FASTPOT_BENCH_SMALL"
Q_HIGH = 1.0 - 1e-4  # the quantile level of the target
SLOW_SECONDS = 0.25  # a first call slower than this is timed with benchmark.pedantic(rounds=3)
QUANTILE_RTOL = 1e-6
PEER_LIMIT = "np.add.reduce"  # the physical limit: one plain read of the whole array
# The same read split over one thread per CPU (NumPy releases the GIL in reductions): what the
# multithreaded C++ kernels can reach at best.
PEER_LIMIT_THREADS = "np.add.reduce/threads"
THREADS = os.cpu_count() or 1
JIT_BACKENDS = frozenset({"numba"})  # first call compiles: probe the time on a second call

# Backends that load here, in order of preference. Whatever `available_backends()` returns is
# benchmarked; "numpy" (the reference oracle) always loads.
BACKENDS: tuple[str, ...] = tuple(kernels.available_backends())

Output = object
Kernel = Callable[[], Output]


def _small() -> bool:
    return os.environ.get(SMALL_ENV, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Case:
    """One input layout: its shape, its channel axis and what kind of data it holds."""

    shape: tuple[int, ...]
    channel_axis: int | None
    data: str = "activations"  # or "statistics": positive per-sample values for aggregate()
    dtype: str = "float32"

    @property
    def label(self) -> str:
        return "x".join(str(s) for s in self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


if _small():
    ACTIVATION_CASES: tuple[Case, ...] = (Case((4, 16, 28, 28), 1), Case((4, 32, 96), 2))
    STATISTIC_CASES: tuple[Case, ...] = (Case((20, 16), None, "statistics"),)
else:
    ACTIVATION_CASES = (Case((64, 256, 56, 56), 1), Case((32, 128, 768), 2))
    STATISTIC_CASES = (Case((300, 256), None, "statistics"),)


def make_array(case: Case) -> np.ndarray:
    """Deterministic input for `case` (standard normal activations, positive statistics)."""
    rng = np.random.default_rng(20240611)
    values = rng.standard_normal(case.shape, dtype=np.dtype(case.dtype).type)
    if case.data == "statistics":  # e.g. per-sample maxima: positive, no cancellation
        np.abs(values, out=values)
        values += 3
    return values


def _reduced_axes(ndim: int, keep: int | None) -> tuple[int, ...]:
    """Every axis except the sample axis 0 and the channel axis `keep`."""
    return tuple(a for a in range(1, ndim) if a != keep)


# --- setups: (x, case) -> zero-argument callable ---------------------------------------------

Setup = Callable[[np.ndarray, Case], Kernel]


def _min_max(backend: str) -> Setup:
    def setup(x: np.ndarray, case: Case) -> Kernel:
        return functools.partial(
            kernels.min_max_per_sample, x, channel_axis=case.channel_axis, backend=backend
        )

    return setup


def _reduce(backend: str, stat: str, *, per_channel: bool, q: float | None = None) -> Setup:
    def setup(x: np.ndarray, case: Case) -> Kernel:
        return functools.partial(
            kernels.reduce_per_sample,
            x,
            stat,
            channel_axis=case.channel_axis if per_channel else None,
            q=q,
            backend=backend,
        )

    return setup


def _aggregate(backend: str, how: str) -> Setup:
    def setup(x: np.ndarray, case: Case) -> Kernel:
        return functools.partial(kernels.aggregate, x, how, backend=backend)

    return setup


def _peer_add_reduce(x: np.ndarray, case: Case) -> Kernel:
    return functools.partial(np.add.reduce, x, axis=None)


_POOL: list[ThreadPoolExecutor] = []  # created on first use, joined at interpreter exit


def _peer_add_reduce_threads(x: np.ndarray, case: Case) -> Kernel:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=THREADS))
    pool = _POOL[0]
    chunks = np.array_split(x.reshape(-1), THREADS)  # x is C-contiguous: views, no copies

    def run() -> object:
        return sum(pool.map(np.add.reduce, chunks))

    return run


def _peer_min_max(per_channel: bool) -> Setup:
    """``np.min`` and ``np.max`` (two passes) plus the abs_max derived from them."""

    def setup(x: np.ndarray, case: Case) -> Kernel:
        axes = _reduced_axes(x.ndim, case.channel_axis if per_channel else None)

        def run() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            lo = np.min(x, axis=axes)
            hi = np.max(x, axis=axes)
            return lo, hi, np.maximum(-lo, hi)

        return run

    return setup


def _peer_abs_max(x: np.ndarray, case: Case) -> Kernel:
    """``np.max(np.abs(x))`` per sample (allocates a temporary as large as `x`)."""
    axes = _reduced_axes(x.ndim, None)

    def run() -> np.ndarray:
        return np.max(np.abs(x), axis=axes)

    return run


def _peer_quantile(per_channel: bool) -> Setup:
    def setup(x: np.ndarray, case: Case) -> Kernel:
        n = x.shape[0]
        if per_channel:
            assert case.channel_axis is not None
            c = x.shape[case.channel_axis]

            def run() -> np.ndarray:
                grouped = np.moveaxis(x, case.channel_axis, 1).reshape(n, c, -1)
                return np.quantile(grouped, Q_HIGH, axis=-1)

            return run

        def run_per_sample() -> np.ndarray:
            return np.quantile(x.reshape(n, -1), Q_HIGH, axis=1)

        return run_per_sample

    return setup


def _peer_median(x: np.ndarray, case: Case) -> Kernel:
    return functools.partial(np.median, x, axis=0)


@dataclass(frozen=True)
class KernelInfo:
    """How a kernel is fed, checked and reported."""

    cases: tuple[Case, ...]
    baseline: str  # entry the report divides by ("numpy" = the reference backend)
    exact: bool  # np.array_equal against the reference, else assert_allclose(rtol=1e-6)
    bandwidth: bool  # memory-bound: report GB/s against np.add.reduce
    backends: dict[str, Callable[[str], Setup]]
    peers: dict[str, Setup] = field(default_factory=dict)


KERNELS: dict[str, KernelInfo] = {
    # Fused per-channel (min, max, abs_max): one pass over memory.
    "min_max_per_channel": KernelInfo(
        cases=ACTIVATION_CASES,
        baseline="numpy",
        exact=True,
        bandwidth=True,
        backends={"min_max": _min_max},
        peers={
            "np.min+np.max": _peer_min_max(per_channel=True),
            PEER_LIMIT: _peer_add_reduce,
            PEER_LIMIT_THREADS: _peer_add_reduce_threads,
        },
    ),
    "abs_max_per_sample": KernelInfo(
        cases=ACTIVATION_CASES,
        baseline="numpy",
        exact=True,
        bandwidth=True,
        backends={"abs_max": lambda b: _reduce(b, "abs_max", per_channel=False)},
        peers={
            "np.abs+np.max": _peer_abs_max,
            "np.min+np.max": _peer_min_max(per_channel=False),
            PEER_LIMIT: _peer_add_reduce,
            PEER_LIMIT_THREADS: _peer_add_reduce_threads,
        },
    ),
    "quantile_per_sample": KernelInfo(
        cases=ACTIVATION_CASES,
        baseline="np.quantile",
        exact=False,
        bandwidth=False,
        backends={"quantile": lambda b: _reduce(b, "quantile", per_channel=False, q=Q_HIGH)},
        peers={"np.quantile": _peer_quantile(per_channel=False)},
    ),
    "quantile_per_channel": KernelInfo(
        cases=ACTIVATION_CASES,
        baseline="np.quantile",
        exact=False,
        bandwidth=False,
        backends={"quantile": lambda b: _reduce(b, "quantile", per_channel=True, q=Q_HIGH)},
        peers={"np.quantile": _peer_quantile(per_channel=True)},
    ),
    "aggregate_median": KernelInfo(
        cases=STATISTIC_CASES,
        baseline="numpy",
        exact=False,
        bandwidth=False,
        backends={"median": lambda b: _aggregate(b, "median")},
        peers={"np.median": _peer_median},
    ),
    "aggregate_hl_estimator": KernelInfo(
        cases=STATISTIC_CASES,
        baseline="numpy",
        exact=False,
        bandwidth=False,
        backends={"hl_estimator": lambda b: _aggregate(b, "hl_estimator")},
    ),
}


def _build_registry() -> dict[str, dict[str, Setup]]:
    registry: dict[str, dict[str, Setup]] = {}
    for name, info in KERNELS.items():
        (make_setup,) = info.backends.values()
        # The reference backend first: its (slow) first call also seeds the reference cache.
        order = sorted(BACKENDS, key=lambda b: b != "numpy")
        entries: dict[str, Setup] = {backend: make_setup(backend) for backend in order}
        entries.update(info.peers)
        registry[name] = entries
    return registry


REGISTRY: dict[str, dict[str, Setup]] = _build_registry()


# --- reference results, computed once per (kernel, case) ---------------------------------------

_REFERENCES: dict[tuple[str, Case], Output] = {}


def reference(kernel: str, case: Case, x: np.ndarray) -> Output:
    """The NumPy-reference result of `kernel` on `x` (cached: it takes seconds at full size)."""
    key = (kernel, case)
    if key not in _REFERENCES:
        _REFERENCES[key] = REGISTRY[kernel]["numpy"](x, case)()
    return _REFERENCES[key]


def _as_tuple(value: Output) -> tuple[np.ndarray, ...]:
    if isinstance(value, tuple):
        return tuple(np.asarray(v) for v in value)
    return (np.asarray(value),)


def check_result(kernel: str, got: Output, want: Output) -> None:
    """Assert that a backend's result matches the reference one."""
    got_t, want_t = _as_tuple(got), _as_tuple(want)
    assert len(got_t) == len(want_t), f"{kernel}: {len(got_t)} outputs, expected {len(want_t)}"
    exact = KERNELS[kernel].exact
    for i, (g, w) in enumerate(zip(got_t, want_t, strict=True)):
        assert g.shape == w.shape, f"{kernel}[{i}]: shape {g.shape}, expected {w.shape}"
        assert g.dtype == w.dtype, f"{kernel}[{i}]: dtype {g.dtype}, expected {w.dtype}"
        if exact:
            assert np.array_equal(g, w, equal_nan=True), f"{kernel}[{i}]: differs from reference"
        else:
            np.testing.assert_allclose(g, w, rtol=QUANTILE_RTOL, err_msg=f"{kernel}[{i}]")


# --- what one benchmark needs ------------------------------------------------------------------


@dataclass(frozen=True)
class BenchCase:
    """One (kernel, case, entry) benchmark, ready to check and time."""

    kernel: str
    case: Case
    entry: str  # a backend name or a peer name

    @property
    def id(self) -> str:
        return f"{self.kernel}-{self.case.label}-{self.entry}"

    @property
    def group(self) -> str:
        return f"{self.kernel}|{self.case.label}"

    @property
    def is_backend(self) -> bool:
        return self.entry in BACKENDS

    def extra_info(self) -> dict[str, object]:
        info = KERNELS[self.kernel]
        return {
            "kernel": self.kernel,
            "entry": self.entry,
            "kind": "backend" if self.is_backend else "peer",
            "shape": list(self.case.shape),
            "channel_axis": self.case.channel_axis,
            "dtype": self.case.dtype,
            "nbytes": self.case.nbytes,
            "baseline": info.baseline,
            "bandwidth": info.bandwidth,
            "limit": PEER_LIMIT if PEER_LIMIT in info.peers else None,
        }

    def prepare(self, x: np.ndarray) -> tuple[Kernel, bool]:
        """Build the callable, warm it up, check it against the reference.

        Returns the callable and whether it is slow (to be timed with few rounds).
        """
        fn = REGISTRY[self.kernel][self.entry](x, self.case)
        start = time.perf_counter()
        result = fn()  # warm-up: numba compiles here
        elapsed = time.perf_counter() - start
        if self.entry in JIT_BACKENDS and elapsed > SLOW_SECONDS:
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
        if self.entry == "numpy":  # the oracle itself: seed the cache instead of re-running
            _REFERENCES.setdefault((self.kernel, self.case), result)
        elif self.is_backend:
            check_result(self.kernel, result, reference(self.kernel, self.case, x))
        del result
        return fn, elapsed > SLOW_SECONDS


def bench_cases() -> list[BenchCase]:
    """Every benchmark, ordered so that consecutive ones share their input array."""
    all_cases = list(dict.fromkeys(c for info in KERNELS.values() for c in info.cases))
    return [
        BenchCase(kernel, case, entry)
        for case in all_cases
        for kernel, info in KERNELS.items()
        if case in info.cases
        for entry in REGISTRY[kernel]
    ]


class ArrayPool:
    """Input arrays by case; keeps only the latest one alive (the big one is 205 MB)."""

    def __init__(self) -> None:
        self._case: Case | None = None
        self._array: np.ndarray | None = None

    def get(self, case: Case) -> np.ndarray:
        if self._case != case or self._array is None:
            self._array = None  # free the previous input before allocating the next one
            self._array = make_array(case)
            self._case = case
        return self._array
