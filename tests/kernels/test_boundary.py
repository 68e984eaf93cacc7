"""Rejected inputs name the argument; backend selection; the C++ core releases the GIL."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from fastpot import kernels
from fastpot.errors import BackendUnavailableError, FastpotError
from fastpot.kernels import _backends

GOOD = np.ones((3, 4, 5), dtype=np.float32)


def _reduce(x, backend, **kwargs):
    return kernels.reduce_per_sample(x, kwargs.pop("stat", "max"), backend=backend, **kwargs)


def _min_max(x, backend, **kwargs):
    return kernels.min_max_per_sample(x, backend=backend, **kwargs)


ENTRY_POINTS = {"reduce_per_sample": _reduce, "min_max_per_sample": _min_max}


# ---- arrays -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    "dtype", [np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128, np.longdouble]
)
def test_unsupported_dtypes(backend, entry, dtype):
    x = np.ones((3, 4), dtype=dtype)
    if np.dtype(dtype) == np.float64:  # longdouble is float64 on some platforms
        pytest.skip("longdouble is float64 here")
    with pytest.raises(TypeError, match=r"x: .*" + np.dtype(dtype).name):
        ENTRY_POINTS[entry](x, backend)


@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.complex64])
def test_aggregate_unsupported_dtypes(backend, dtype):
    with pytest.raises(TypeError, match=r"values: .*" + np.dtype(dtype).name):
        kernels.aggregate(np.ones((3, 4), dtype=dtype), "mean", backend=backend)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("value", [[[1.0, 2.0], [3.0, 4.0]], (1.0, 2.0), 3.0, None])
def test_non_arrays(backend, entry, value):
    with pytest.raises(TypeError, match=r"x: expected a numpy\.ndarray"):
        ENTRY_POINTS[entry](value, backend)


def test_aggregate_non_array(backend):
    with pytest.raises(TypeError, match="values"):
        kernels.aggregate([1.0, 2.0], "mean", backend=backend)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("shape", [(0,), (0, 4), (3, 0), (3, 4, 0)])
def test_empty_arrays(backend, entry, shape):
    with pytest.raises(ValueError, match="x: empty"):
        ENTRY_POINTS[entry](np.ones(shape, dtype=np.float32), backend)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)])
def test_aggregate_empty(backend, shape):
    with pytest.raises(ValueError, match="values"):
        kernels.aggregate(np.ones(shape, dtype=np.float32), "median", backend=backend)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_zero_dimensional(backend, entry):
    with pytest.raises(ValueError, match="x: expected at least 1 dimension"):
        ENTRY_POINTS[entry](np.array(1.0, dtype=np.float32), backend)


def test_aggregate_zero_dimensional(backend):
    with pytest.raises(ValueError, match="values"):
        kernels.aggregate(np.array(1.0), "mean", backend=backend)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_byte_swapped(backend, entry):
    x = GOOD.astype(GOOD.dtype.newbyteorder())
    # Either message is fine as long as it names the argument and the byte order.
    with pytest.raises(TypeError, match=r"x: (byte-swapped|unsupported dtype >f4)"):
        ENTRY_POINTS[entry](x, backend)


def test_aggregate_byte_swapped(backend):
    x = np.ones((3, 2), dtype=">f8" if np.little_endian else "<f8")
    with pytest.raises(TypeError, match=r"values: (byte-swapped|unsupported dtype .f8)"):
        kernels.aggregate(x, "mean", backend=backend)


def test_misaligned_strides(backend):
    raw = np.zeros(64, dtype=np.uint8)
    x = np.ndarray((3, 4), dtype=np.float32, buffer=raw, strides=(18, 2))
    with pytest.raises(TypeError, match="x: strides"):
        _reduce(x, backend)


# ---- channel_axis, stat, q, how -----------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("axis", [0, 3, 7, -3, -4, -10])
def test_channel_axis_out_of_range(backend, entry, axis):
    with pytest.raises(ValueError, match="channel_axis"):
        ENTRY_POINTS[entry](GOOD, backend, channel_axis=axis)


def test_channel_axis_on_rank1(backend):
    with pytest.raises(ValueError, match="channel_axis"):
        _reduce(np.ones(4, np.float32), backend, channel_axis=-1)


@pytest.mark.parametrize("axis", [1.0, "1", [1]])
def test_channel_axis_not_an_integer(backend, axis):
    with pytest.raises(TypeError, match="channel_axis"):
        _reduce(GOOD, backend, channel_axis=axis)


def test_numpy_integer_channel_axis(backend):
    got = _reduce(GOOD, backend, channel_axis=np.int64(2))
    assert got.shape == (3, 5)


@pytest.mark.parametrize("stat", ["quantile", "abs_quantile"])
@pytest.mark.parametrize("q", [None, 1.5, -0.1, float("nan"), float("inf")])
def test_bad_quantile_levels(backend, stat, q):
    with pytest.raises(ValueError, match="q"):
        _reduce(GOOD, backend, stat=stat, q=q)


def test_q_not_a_number(backend):
    with pytest.raises(TypeError, match="q"):
        _reduce(GOOD, backend, stat="quantile", q="half")


@pytest.mark.parametrize("stat", ["min", "max", "abs_max", "mean"])
def test_q_for_non_quantile_statistic(backend, stat):
    with pytest.raises(ValueError, match="q"):
        _reduce(GOOD, backend, stat=stat, q=0.5)


@pytest.mark.parametrize("stat", ["median", "MAX", "", "abs-max", None])
def test_unknown_statistic(backend, stat):
    with pytest.raises(ValueError, match="stat"):
        kernels.reduce_per_sample(GOOD, stat, backend=backend)


@pytest.mark.parametrize("how", ["average", "Mean", "quantile", "", None])
def test_unknown_aggregator(backend, how):
    with pytest.raises(ValueError, match="how"):
        kernels.aggregate(GOOD, how, backend=backend)


# ---- backend selection --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CPP", "c++", "numpy ", "torch", ""])
def test_unknown_backend(name):
    with pytest.raises(ValueError, match="backend"):
        kernels.reduce_per_sample(GOOD, "max", backend=name)
    with pytest.raises(ValueError, match="backend"):
        kernels.resolve_backend(name)


def test_backend_registry():
    assert kernels.BACKENDS == ("cpp", "numba", "numpy")
    assert set(kernels.CAPABILITIES) >= {
        "reduce_per_sample",
        "min_max_per_sample",
        "aggregate",
        "fq_params",
        "StatisticAccumulator",
    }
    available = kernels.available_backends()
    assert "numpy" in available
    assert "cpp" in available, "the C++ extension did not load"
    assert issubclass(BackendUnavailableError, FastpotError)
    assert issubclass(BackendUnavailableError, RuntimeError)


def test_environment_override(monkeypatch):
    monkeypatch.setenv("FASTPOT_BACKEND", "numpy")
    assert kernels.resolve_backend() == "numpy"
    assert kernels.resolve_backend("auto") == "numpy"
    assert kernels.resolve_backend("cpp") == "cpp"  # explicit requests win
    monkeypatch.setenv("FASTPOT_BACKEND", " NumPy ")
    assert kernels.resolve_backend() == "numpy"
    monkeypatch.setenv("FASTPOT_BACKEND", "auto")
    assert kernels.resolve_backend() == "cpp"
    monkeypatch.delenv("FASTPOT_BACKEND")
    assert kernels.resolve_backend() == "cpp"


def test_environment_override_is_used_by_the_kernels(monkeypatch):
    monkeypatch.setenv("FASTPOT_BACKEND", "numpy")
    acc = kernels.StatisticAccumulator("max", "max")
    assert acc.backend == "numpy"
    monkeypatch.setenv("FASTPOT_BACKEND", "bogus")
    with pytest.raises(ValueError, match="FASTPOT_BACKEND"):
        kernels.reduce_per_sample(GOOD, "max")


def test_bogus_environment_value(monkeypatch):
    monkeypatch.setenv("FASTPOT_BACKEND", "bogus")
    with pytest.raises(ValueError, match="FASTPOT_BACKEND"):
        kernels.resolve_backend()
    assert kernels.resolve_backend("numpy") == "numpy"


def _fresh_registry(monkeypatch, broken: tuple[str, ...]) -> None:
    """Pretend the given backends fail to import (restored by monkeypatch)."""
    modules = dict(_backends._MODULES)
    for name in broken:
        modules[name] = "fastpot.kernels._no_such_backend_module"
    monkeypatch.setattr(_backends, "_MODULES", modules)
    monkeypatch.setattr(_backends, "_loaded", {})
    monkeypatch.setattr(_backends, "_failures", {})
    monkeypatch.setattr(_backends, "_warned_fallback", False)
    monkeypatch.delenv("FASTPOT_BACKEND", raising=False)


def test_explicit_unavailable_backend_raises(monkeypatch):
    _fresh_registry(monkeypatch, ("numba",))
    with pytest.raises(BackendUnavailableError, match="numba"):
        kernels.resolve_backend("numba")
    with pytest.raises(BackendUnavailableError):
        kernels.reduce_per_sample(GOOD, "max", backend="numba")
    assert "numba" not in kernels.available_backends()


def test_auto_falls_back_with_one_warning(monkeypatch):
    _fresh_registry(monkeypatch, ("cpp", "numba"))
    with pytest.warns(RuntimeWarning, match="C\\+\\+ core is unavailable"):
        assert kernels.resolve_backend() == "numpy"
    # Only once.
    assert kernels.resolve_backend() == "numpy"
    got = kernels.reduce_per_sample(GOOD, "max")
    assert got.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(BackendUnavailableError, match="cpp"):
        kernels.resolve_backend("cpp")


def test_no_backend_at_all(monkeypatch):
    _fresh_registry(monkeypatch, ("cpp", "numba", "numpy"))
    with pytest.raises(BackendUnavailableError):
        kernels.resolve_backend()


# ---- the compiled core checks its own inputs ----------------------------------------------


def test_core_rejects_bad_input_directly():
    from fastpot import _core

    with pytest.raises(TypeError, match="x: unsupported dtype"):
        _core.reduce_per_sample(np.ones((2, 3), np.int32), "max")
    with pytest.raises(TypeError, match="byte-swapped"):
        _core.reduce_per_sample(np.ones((2, 3), GOOD.dtype.newbyteorder()), "max")
    with pytest.raises(ValueError, match="empty"):
        _core.reduce_per_sample(np.ones((2, 0), np.float32), "max")
    with pytest.raises(ValueError, match="channel_axis"):
        _core.reduce_per_sample(np.ones((2, 3), np.float32), "max", 0)
    with pytest.raises(ValueError, match="channel_axis"):
        _core.min_max_per_sample(np.ones((2, 3), np.float32), 2)
    with pytest.raises(ValueError, match="q"):
        _core.reduce_per_sample(np.ones((2, 3), np.float32), "quantile", None, 1.5)
    with pytest.raises(ValueError, match="q"):
        _core.reduce_per_sample(np.ones((2, 3), np.float32), "quantile", None, float("nan"))
    with pytest.raises(ValueError, match="stat"):
        _core.reduce_per_sample(np.ones((2, 3), np.float32), "median")
    with pytest.raises(ValueError, match="how"):
        _core.aggregate(np.ones((2, 3), np.float32), "avg")
    with pytest.raises(ValueError, match="values"):
        _core.aggregate(np.ones((0, 3), np.float32), "mean")
    with pytest.raises(ValueError, match="mode"):
        _core.fq_params(None, np.ones(2, np.float32), "sym", "weights")
    with pytest.raises(TypeError, match="min_values"):
        _core.fq_params(np.ones(2, np.float64), np.ones(2, np.float32), "symmetric", "activations")
    with pytest.raises(ValueError, match="min_values"):
        _core.fq_params(np.ones(3, np.float32), np.ones(2, np.float32), "asymmetric", "weights")
    with pytest.raises(ValueError, match="channel_axis"):
        _core.StatisticAccumulator("max", "max", 0)


# ---- the GIL ------------------------------------------------------------------------------


@pytest.fixture
def single_threaded_core():
    from fastpot import _core

    before = _core.num_threads()
    _core.set_num_threads(1)
    yield _core
    _core.set_num_threads(before)
    assert _core.num_threads() == before


def _longest_stall(call) -> tuple[float, float]:
    """Run `call` in a thread; return (its duration, longest gap between two iterations of
    a Python loop running meanwhile in this thread)."""
    done = threading.Event()
    started = threading.Event()
    timing = {}

    def worker():
        started.set()
        t0 = time.perf_counter()
        call()
        timing["duration"] = time.perf_counter() - t0
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait()
    last = time.perf_counter()
    longest = 0.0
    counter = 0
    while not done.is_set():
        counter += 1
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    thread.join()
    assert counter > 0
    return timing["duration"], longest


@pytest.mark.parametrize(
    "kernel", ["reduce_per_sample", "min_max_per_sample", "aggregate", "accumulator"]
)
def test_python_threads_run_while_the_kernel_runs(single_threaded_core, kernel, rng):
    x = rng.normal(size=(1, 6_000_000)).astype(np.float32)
    values = rng.normal(size=(2500, 1)).astype(np.float32)
    acc = kernels.StatisticAccumulator("quantile", "max", q=0.5, backend="cpp")
    calls = {
        "reduce_per_sample": lambda: kernels.reduce_per_sample(x, "quantile", q=0.5, backend="cpp"),
        "min_max_per_sample": lambda: [
            kernels.min_max_per_sample(x, backend="cpp") for _ in range(20)
        ],
        "aggregate": lambda: kernels.aggregate(values, "hl_estimator", backend="cpp"),
        "accumulator": lambda: acc.update(x),
    }
    duration, stall = _longest_stall(calls[kernel])
    assert duration > 0.02, f"{kernel}: too fast to tell ({duration:.3f} s)"
    # Holding the GIL would stall this thread for the whole call.
    assert stall < 0.5 * duration, (
        f"{kernel}: a Python thread stalled {stall:.3f} s during a {duration:.3f} s call"
    )


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPUs")
def test_two_threads_run_kernels_concurrently(single_threaded_core, rng):
    # Two kernel calls started together overlap in time: neither the GIL nor a lock inside
    # the core serialises them. (Overlap, not speed: it holds on a loaded machine too.)
    x = rng.normal(size=(1, 10_000_000)).astype(np.float32)
    kernels.reduce_per_sample(x[:, :1000], "quantile", q=0.5, backend="cpp")
    barrier = threading.Barrier(2)
    spans: list[tuple[float, float]] = []

    def run():
        barrier.wait()
        t0 = time.perf_counter()
        kernels.reduce_per_sample(x, "quantile", q=0.5, backend="cpp")
        spans.append((t0, time.perf_counter()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = spans
    overlap = min(a1, b1) - max(a0, b0)
    shorter = min(a1 - a0, b1 - b0)
    assert overlap > 0.5 * shorter, f"calls overlapped {overlap:.4f} s of {shorter:.4f} s"
