"""extremes_per_sample and the C++ SampleRecorder against sorting, on every backend.

The k smallest and k largest values of each group must be exactly the first and last k
values of ``numpy.sort`` of the group (NaN in a group: all of its outputs NaN), for any
layout (strided, transposed, channel-last, broadcast, misaligned), on the single-threaded
and the multithreaded paths. Also: abs_max of signed zeros is +0.0 on every backend (the
NumPy reference, ``np.abs(x).max()``, is the oracle; the IEEngine paths are checked in
tests/engines/test_signed_zero_abs_max.py: this folder runs under the sanitizers, where
OpenVINO's plugins do not load).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from fastpot import _core, kernels
from fastpot.kernels import extremes_count, extremes_per_sample, reference

BACKENDS = ("cpp", "numba", "numpy")
DTYPES = (np.float16, np.float32, np.float64)


def _sorted_groups(x: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Groups of `x` sorted in float64, and whether each holds a NaN."""
    values = x.astype(np.float64)
    if axis is None:
        groups = values.reshape(values.shape[0], -1)
    else:
        groups = np.moveaxis(values, axis, 1).reshape(values.shape[0], values.shape[axis], -1)
    return np.sort(groups, axis=-1), np.isnan(groups).any(axis=-1)


def _expected(x: np.ndarray, k: int, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    ordered, nan = _sorted_groups(x, axis)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    bottom = np.where(nan[..., None], np.nan, ordered[..., :k]).astype(dtype)
    top = np.where(nan[..., None], np.nan, ordered[..., ordered.shape[-1] - k :]).astype(dtype)
    return bottom, top


def _check(x: np.ndarray, k: int, axis: int | None, backend: str) -> None:
    got = extremes_per_sample(x, k, channel_axis=axis, backend=backend)
    norm = None if axis is None else axis % x.ndim
    bottom, top = _expected(x, k, norm)
    what = f"[{backend} {x.dtype} {x.shape} {x.strides} axis={axis} k={k}]"
    assert got.bottom.dtype == bottom.dtype, what
    assert got.top.dtype == top.dtype, what
    assert got.bottom.shape == bottom.shape, what
    assert got.top.shape == top.shape, what
    assert np.array_equal(got.bottom, bottom, equal_nan=True), what
    assert np.array_equal(got.top, top, equal_nan=True), what
    assert got.size == x.size // x.shape[0] // (1 if norm is None else x.shape[norm]), what


def _misaligned(values: np.ndarray, offset: int) -> np.ndarray:
    buffer = bytearray(values.nbytes + offset)
    view = np.frombuffer(buffer, np.uint8)[offset:].view(values.dtype).reshape(values.shape)
    view[...] = values
    return view


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((4, 3, 9, 7), None), ((4, 3, 9, 7), 1), ((4, 3, 9, 7), -1), ((5, 40), None), ((6, 1), 1)],
)
def test_small_inputs_match_sorting(backend, dtype, shape, axis) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::5] = np.round(x.reshape(-1)[::5])  # ties
    size = x.size // shape[0] // (1 if axis is None else shape[axis])
    for k in sorted({1, min(2, size), max(1, size // 2), size}):
        _check(x, k, axis, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_fills_the_group_and_infinities_are_values(backend) -> None:
    x = np.random.default_rng(1).standard_normal((4, 3, 200)).astype(np.float32)
    x[0, 1, 17] = np.nan
    x[1, :, :5] = np.inf
    x[2, 2, :] = -np.inf
    x[3, 0, :] = -0.0
    for axis in (None, 1):
        for k in (1, 3, 50, 200 if axis else 600):
            _check(x, k, axis, backend)
    got = extremes_per_sample(x, 3, channel_axis=1, backend=backend)
    assert np.isnan(got.bottom[0, 1]).all()
    assert np.isnan(got.top[0, 1]).all()
    assert not np.isnan(got.bottom[0, 0]).any()
    assert (got.top[1] == np.inf).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_transposed_broadcast_and_misaligned(backend) -> None:
    rng = np.random.default_rng(2)
    base = rng.standard_normal((6, 8, 10, 12)).astype(np.float32)
    views = [
        base[::2, :, ::-1, 1::3],
        base.transpose(0, 2, 3, 1),  # channel-last when axis is -1
        np.broadcast_to(base[:, :1], (6, 5, 10, 12)),
        _misaligned(base, 1),
        _misaligned(base.astype(np.float16), 1),
        _misaligned(base.astype(np.float64), 4)[:, ::-1],
    ]
    for x in views:
        for axis in (None, 1, -1):
            size = x.size // x.shape[0] // (1 if axis is None else x.shape[axis])
            for k in (1, 3, size):
                _check(x, k, axis, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((1, 3, 512, 512), None), ((2, 8, 128, 300), 1), ((2, 4096, 72), -1), ((64, 9000), None)],
    ids=["pertensor-n1", "axis1", "channel-last", "many-groups"],
)
def test_large_inputs_take_the_threaded_paths(backend, shape, axis) -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal(shape).astype(np.float32)
    values.reshape(-1)[::1001] = np.inf
    values.reshape(-1)[7::997] = -np.inf
    x = _misaligned(values, 2)
    size = values.size // shape[0] // (1 if axis is None else shape[axis % values.ndim])
    k = extremes_count(size, 1e-3)
    _check(values, k, axis, backend)
    if backend != "numpy":
        got = extremes_per_sample(x, k, channel_axis=axis, backend=backend)
        want = extremes_per_sample(values, k, channel_axis=axis, backend=backend)
        assert np.array_equal(got.bottom, want.bottom)
        assert np.array_equal(got.top, want.top)


def test_adversarial_orders_stay_exact() -> None:
    # Sorted and reversed data make every value a new extreme on one side.
    ramp = np.arange(50_000, dtype=np.float32)
    for x in (ramp, ramp[::-1], np.repeat(np.float32(1.5), 50_000)):
        batch = np.stack([x, -x])
        for backend in BACKENDS:
            for k in (3, 52, 1000):
                _check(batch, k, None, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_arguments_raise_the_same_errors(backend) -> None:
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="k: 0 is outside"):
        extremes_per_sample(x, 0, backend=backend)
    with pytest.raises(ValueError, match="k: 13 is outside"):
        extremes_per_sample(x, 13, backend=backend)
    with pytest.raises(ValueError, match="k: 5 is outside"):
        extremes_per_sample(x, 5, channel_axis=1, backend=backend)
    with pytest.raises(TypeError, match="k: expected an integer"):
        extremes_per_sample(x, 2.0, backend=backend)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unsupported dtype"):
        extremes_per_sample(x.astype(np.int32), 1, backend=backend)
    with pytest.raises(ValueError, match="channel_axis"):
        extremes_per_sample(x, 1, channel_axis=0, backend=backend)


def test_core_rejects_bad_k_with_a_message() -> None:
    x = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match=r"k: 6 is outside \[1, 5\]"):
        _core.extremes_per_sample(x, 6, None)


def test_extremes_count_formula_and_core_agree() -> None:
    for size in (1, 2, 3, 5, 6, 7, 999, 1000, 1001, 1002, 12345, 401408):
        want = min(size, math.floor(1e-3 * (size - 1)) + 3)
        assert extremes_count(size, 1e-3) == want == _core.extremes_count(size, 1e-3)
    with pytest.raises(ValueError, match="bound"):
        extremes_count(10, 0.7)
    with pytest.raises(ValueError, match="bound"):
        _core.extremes_count(10, -1.0)


# ---- SampleRecorder ------------------------------------------------------------------------


def test_value_recorder_keeps_every_batch_in_order() -> None:
    rng = np.random.default_rng(4)
    batches = [rng.standard_normal((n, 3, 5)).astype(np.float32) for n in (2, 1, 4)]
    for stat in ("min", "max", "abs_max"):
        for axis in (None, 1):
            recorder = _core.SampleRecorder(stat, axis)
            for b in batches:
                recorder.update(b)
            want = np.concatenate(
                [kernels.reduce_per_sample(b, stat, channel_axis=axis) for b in batches]
            )
            got = recorder.values()
            assert got.tobytes() == want.tobytes()
            assert got.shape == want.shape
            assert recorder.lengths == [2, 1, 4]
            assert recorder.samples == 7
            assert recorder.consistent
            assert recorder.stat == stat


def test_extremes_recorder_keeps_k_per_side_or_the_whole_group() -> None:
    rng = np.random.default_rng(5)
    batches = [rng.standard_normal((n, 2, 3000)).astype(np.float64) for n in (3, 2)]
    recorder = _core.SampleRecorder("extremes", 1, bound=1e-3)
    for b in batches:
        recorder.update(b)
    k = extremes_count(3000, 1e-3)
    assert (recorder.k, recorder.width, recorder.size, recorder.channels) == (k, k, 3000, 2)
    bottom, top = recorder.extremes()
    want = [extremes_per_sample(b, k, channel_axis=1, backend="numpy") for b in batches]
    assert np.array_equal(bottom, np.concatenate([w.bottom for w in want]))
    assert np.array_equal(top, np.concatenate([w.top for w in want]))
    # Groups of 4 values: 2 k >= 4, so the whole sorted group is kept once.
    small = _core.SampleRecorder("extremes", None)
    x = rng.standard_normal((3, 2, 2)).astype(np.float32)
    small.update(x)
    low, high = small.extremes()
    assert low is high
    assert high.shape == (3, 1, 4)
    assert np.array_equal(high[:, 0], np.sort(x.reshape(3, -1), axis=-1))


def test_recorder_of_a_scalar_and_of_changing_shapes() -> None:
    recorder = _core.SampleRecorder("extremes", None)
    recorder.update(np.array(2.5, np.float32))  # a 0-d tensor is one sample
    recorder.update(np.array(-1.0, np.float32))
    _, top = recorder.extremes()
    assert top.reshape(-1).tolist() == [2.5, -1.0]
    assert recorder.lengths == [1, 1]
    changing = _core.SampleRecorder("extremes", 1)
    changing.update(np.zeros((1, 2, 8), np.float32))
    changing.update(np.zeros((1, 2, 9), np.float32))  # another group size
    assert not changing.consistent
    assert changing.lengths == [1, 1]
    with pytest.raises(ValueError, match="batches differ"):
        changing.extremes()
    with pytest.raises(ValueError, match="no batch"):
        _core.SampleRecorder("min").values()
    with pytest.raises(ValueError, match="records extremes"):
        recorder.values()
    with pytest.raises(ValueError, match="unknown statistic"):
        _core.SampleRecorder("median")


def test_recorder_fed_from_threads_keeps_every_sample() -> None:
    recorder = _core.SampleRecorder("extremes", 1)
    x = np.random.default_rng(6).standard_normal((2, 4, 5000)).astype(np.float32)

    def feed() -> None:
        for _ in range(20):
            recorder.update(x)

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bottom, top = recorder.extremes()
    assert recorder.samples == 160
    assert bottom.shape == (160, 4, recorder.k)
    want = extremes_per_sample(x, recorder.k, channel_axis=1)
    assert np.array_equal(top, np.concatenate([want.top] * 80))


# ---- abs_max of signed zeros ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_abs_max_of_zeros_is_positive_zero(backend, dtype) -> None:
    x = np.array([[-0.0, -0.0], [0.0, 0.0], [-0.0, 0.0], [0.0, -0.0]], dtype=dtype)
    want = reference.reduce_per_sample(x, "abs_max", None, 0.0)
    assert not np.signbit(want).any()  # the oracle: np.abs(x).max()
    for got in (
        kernels.reduce_per_sample(x, "abs_max", backend=backend),
        kernels.min_max_per_sample(x, backend=backend)[2],
        kernels.reduce_per_sample(x[:, :, None], "abs_max", channel_axis=1, backend=backend),
    ):
        assert (got == 0).all(), (backend, got)
        assert not np.signbit(got).any(), (backend, got)
