"""numba twins of the C++ kernels (``cpp/src/stats/*.cpp``, ``cpp/src/fake_quantize.cpp``).

Same algorithms as the C++ core: the canonical layout of :mod:`fastpot.kernels._layout`,
per-thread partial results merged at the end, a top-m candidate filter for tail quantiles,
and float32 range math. The jitted functions are ``nogil``; the thread split happens here in
Python, on the same sizes the C++ ``parallel.hpp`` uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

import numba
import numpy as np
import numpy.typing as npt
from numba import types
from numba.extending import overload

from fastpot.kernels._layout import ReductionLayout, flat_buffer, make_reduction_layout
from fastpot.kernels._validation import result_dtype

__all__ = [
    "aggregate",
    "extremes_per_sample",
    "fq_params",
    "min_max_per_sample",
    "reduce_per_sample",
]

PARALLEL_MIN_ELEMENTS = 1 << 18  # as kParallelMinElements in parallel.hpp
RUN_CHUNK = 1 << 16  # as kRunChunk in reduce.cpp
OUTLIER_FRACTION = 0.01

_jit = numba.njit(nogil=True, cache=True)
# Annotations document the jitted functions for mypy; numba infers its own types from the
# arguments and ignores them.
_Array: TypeAlias = npt.NDArray[Any]
# A NumPy scalar computed in jitted code (float32 or float64: numba follows the buffer).
_Scalar: TypeAlias = Any
_executor: ThreadPoolExecutor | None = None


def _num_threads() -> int:
    env = os.environ.get("FASTPOT_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return os.cpu_count() or 1


def _plan_threads(units: int, elements: int) -> int:
    if units <= 1 or elements < 2 * PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(_num_threads(), units, elements // PARALLEL_MIN_ELEMENTS))


def _run_parallel(threads: int, units: int, fn: Any) -> list[Any]:
    """fn(begin, end) on `threads` contiguous slices of [0, units); results in slice order.

    A pool of nogil calls rather than ``prange``: numba's one always-present threading layer
    (workqueue) aborts the process when two Python threads run parallel functions at once,
    and kernels are called from worker threads (``StatisticAccumulator`` is thread-safe).
    """
    global _executor  # noqa: PLW0603 - one lazily created pool per process
    if threads <= 1:
        return [fn(0, units)]
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_num_threads(), thread_name_prefix="fastpot")
    bounds = [(units * t // threads, units * (t + 1) // threads) for t in range(threads)]
    futures = [_executor.submit(fn, b, e) for b, e in bounds[1:]]
    first = fn(*bounds[0])
    return [first] + [f.result() for f in futures]


# ---- element loading ----------------------------------------------------------------------


@_jit
def _half_bits_to_float(h: int) -> _Scalar:  # always a float32
    """IEEE binary16 bits -> float32, exact (same values as element.hpp's bit conversion)."""
    bits = np.int64(h)
    sign = np.float32(-1.0) if bits & 0x8000 else np.float32(1.0)
    exponent = (bits >> 10) & 0x1F
    mantissa = bits & 0x3FF
    if exponent == 0:  # zero or subnormal: mantissa * 2^-24
        return sign * np.float32(mantissa) * np.float32(2.0**-24)
    if exponent == 31:
        return sign * np.float32(np.inf) if mantissa == 0 else np.float32(np.nan)
    # (1 + mantissa / 1024) * 2^(exponent - 15), every step exact in float32
    return sign * np.float32(1024 + mantissa) * np.float32(2.0 ** (exponent - 25))


# numba checks that an overload's implementations have the signature of the function they
# implement, annotations included: _load and both implementations are annotated alike.
# Indices are cast to uint64: numba wraps negative signed indices (i < 0 -> i + size), and that
# select keeps LLVM from proving the loads contiguous, so it emits gathers (seen on Zen 4:
# 4-8x slower scans). Flat-buffer indices are never negative (flat_buffer's origin is the
# lowest address of the view).
def _load(buf: Any, i: Any) -> Any:
    """Element i of a flat buffer in the compute type (float16 arrive as uint16 bits)."""
    raise NotImplementedError  # only callable from jitted code


# numba's stubs leave "cache" out of the jit options overload() accepts.
@overload(_load, jit_options={"cache": True})  # type: ignore[typeddict-unknown-key]
def _load_impl(buf: Any, i: Any) -> Callable[[Any, Any], Any]:
    if buf.dtype == types.uint16:

        def load_half(buf: Any, i: Any) -> Any:
            return _half_bits_to_float(buf[np.uint64(i)])

        return load_half

    def load(buf: Any, i: Any) -> Any:
        return buf[np.uint64(i)]

    return load


# ---- row walking (mirror of row_cursor) ----------------------------------------------------


@_jit
def _row_start(
    row: int,
    index: _Array,
    samples_per: int,
    channels: int,
    rows_per_group: int,
    innermost: bool,
    sample_stride: int,
    channel_stride: int,
    outer_shape: _Array,
    outer_strides: _Array,
) -> tuple[int, int, int]:
    rest = row
    sample = rest // samples_per
    rest = rest % samples_per
    channel = 0
    if not innermost:
        channel = rest // rows_per_group
        rest = rest % rows_per_group
    offset = sample * sample_stride + channel * channel_stride
    for d in range(outer_shape.size - 1, -1, -1):
        index[d] = rest % outer_shape[d]
        rest //= outer_shape[d]
        offset += index[d] * outer_strides[d]
    return sample, channel, offset


@_jit
def _row_next(
    index: _Array,
    sample: int,
    channel: int,
    offset: int,
    channels: int,
    innermost: bool,
    sample_stride: int,
    channel_stride: int,
    outer_shape: _Array,
    outer_strides: _Array,
) -> tuple[int, int, int]:
    for d in range(outer_shape.size - 1, -1, -1):
        index[d] += 1
        if index[d] < outer_shape[d]:
            return sample, channel, offset + outer_strides[d]
        offset -= (outer_shape[d] - 1) * outer_strides[d]
        index[d] = 0
    if not innermost:
        channel += 1
        if channel < channels:
            return sample, channel, offset + channel_stride
        offset -= (channels - 1) * channel_stride
        channel = 0
    return sample + 1, channel, offset + sample_stride


# ---- min / max / mean ---------------------------------------------------------------------


@_jit
def _minmax_run_f32(bits: _Array, p: int, n: int) -> tuple[_Scalar, _Scalar, np.bool_]:
    """Contiguous float32 run through its int32 bits: returns (lo, hi, nan).

    Integer keys ``b ^ ((b >> 31) & 0x7fffffff)`` order like the floats they encode, and
    integer min/max/or reductions vectorise, which float selects with a NaN check do not.
    """
    lo_key = np.int32(0x7FFFFFFF)
    hi_key = np.int32(-0x80000000)
    worst = np.int32(0)
    for i in range(n):
        b = bits[np.uint64(p + i)]  # unsigned: no wraparound select (see _load)
        key = b ^ ((b >> 31) & np.int32(0x7FFFFFFF))
        lo_key = key if key < lo_key else lo_key
        hi_key = key if key > hi_key else hi_key
        magnitude = b & np.int32(0x7FFFFFFF)
        worst = magnitude if magnitude > worst else worst
    lo_bits = lo_key ^ ((lo_key >> 31) & np.int32(0x7FFFFFFF))
    hi_bits = hi_key ^ ((hi_key >> 31) & np.int32(0x7FFFFFFF))
    pair = np.empty(2, dtype=np.int32)
    pair[0] = lo_bits
    pair[1] = hi_bits
    values = pair.view(np.float32)
    return values[0], values[1], worst > np.int32(0x7F800000)


@_jit
def _minmax_slice(
    buf: _Array,
    bits: _Array,
    origin: int,
    sample_stride: int,
    channels: int,
    channel_stride: int,
    innermost: bool,
    outer_shape: _Array,
    outer_strides: _Array,
    run_length: int,
    run_stride: int,
    rows_per_group: int,
    pieces: int,
    begin: int,
    end: int,
    lo: _Array,
    hi: _Array,
    nan: _Array,
) -> None:
    index = np.zeros(outer_shape.size, dtype=np.int64)
    samples_per = rows_per_group if innermost else channels * rows_per_group
    row = begin // pieces
    sample, channel, offset = _row_start(
        row,
        index,
        samples_per,
        channels,
        rows_per_group,
        innermost,
        sample_stride,
        channel_stride,
        outer_shape,
        outer_strides,
    )
    for unit in range(begin, end):
        unit_row = unit // pieces
        while row < unit_row:
            sample, channel, offset = _row_next(
                index,
                sample,
                channel,
                offset,
                channels,
                innermost,
                sample_stride,
                channel_stride,
                outer_shape,
                outer_strides,
            )
            row += 1
        if innermost:
            # Branch-free selects over the channel row, so that LLVM can vectorise them.
            p = origin + offset
            row_lo = lo[sample * channels : (sample + 1) * channels]
            row_hi = hi[sample * channels : (sample + 1) * channels]
            row_nan = nan[sample * channels : (sample + 1) * channels]
            any_nan = False
            for c in range(channels):
                v = _load(buf, p + c * channel_stride)
                a = row_lo[c]
                b = row_hi[c]
                row_lo[c] = v if v < a else a
                row_hi[c] = v if v > b else b
                any_nan |= v != v
            if any_nan:  # rare: find the channels
                for c in range(channels):
                    v = _load(buf, p + c * channel_stride)
                    row_nan[c] |= v != v
            continue
        piece = unit % pieces
        first = run_length * piece // pieces
        last = run_length * (piece + 1) // pieces
        g = sample * channels + channel
        p = origin + offset + first * run_stride
        if bits.size > 0 and run_stride == 1 and last > first:
            run_lo, run_hi, run_nan = _minmax_run_f32(bits, p, last - first)
            lo[g] = min(lo[g], run_lo)
            hi[g] = max(hi[g], run_hi)
            nan[g] = nan[g] or run_nan
            continue
        # Four independent accumulators per bound hide the compare latency.
        lo0 = lo1 = lo2 = lo3 = lo[g]
        hi0 = hi1 = hi2 = hi3 = hi[g]
        bad = nan[g]
        n = last - first
        i = 0
        while i + 4 <= n:
            a = _load(buf, p + i * run_stride)
            b = _load(buf, p + (i + 1) * run_stride)
            c_ = _load(buf, p + (i + 2) * run_stride)
            d = _load(buf, p + (i + 3) * run_stride)
            lo0 = a if a < lo0 else lo0
            lo1 = b if b < lo1 else lo1
            lo2 = c_ if c_ < lo2 else lo2
            lo3 = d if d < lo3 else lo3
            hi0 = a if a > hi0 else hi0
            hi1 = b if b > hi1 else hi1
            hi2 = c_ if c_ > hi2 else hi2
            hi3 = d if d > hi3 else hi3
            bad = bad or (a != a) or (b != b) or (c_ != c_) or (d != d)
            i += 4
        while i < n:
            a = _load(buf, p + i * run_stride)
            lo0 = a if a < lo0 else lo0
            hi0 = a if a > hi0 else hi0
            bad = bad or (a != a)
            i += 1
        lo[g] = min(min(lo0, lo1), min(lo2, lo3))
        hi[g] = max(max(hi0, hi1), max(hi2, hi3))
        nan[g] = bad


@_jit
def _sum_slice(
    buf: _Array,
    origin: int,
    sample_stride: int,
    channels: int,
    channel_stride: int,
    innermost: bool,
    outer_shape: _Array,
    outer_strides: _Array,
    run_length: int,
    run_stride: int,
    rows_per_group: int,
    pieces: int,
    begin: int,
    end: int,
    sums: _Array,
) -> None:
    index = np.zeros(outer_shape.size, dtype=np.int64)
    samples_per = rows_per_group if innermost else channels * rows_per_group
    row = begin // pieces
    sample, channel, offset = _row_start(
        row,
        index,
        samples_per,
        channels,
        rows_per_group,
        innermost,
        sample_stride,
        channel_stride,
        outer_shape,
        outer_strides,
    )
    for unit in range(begin, end):
        unit_row = unit // pieces
        while row < unit_row:
            sample, channel, offset = _row_next(
                index,
                sample,
                channel,
                offset,
                channels,
                innermost,
                sample_stride,
                channel_stride,
                outer_shape,
                outer_strides,
            )
            row += 1
        if innermost:
            g0 = sample * channels
            p = origin + offset
            for c in range(channels):
                sums[g0 + c] += np.float64(_load(buf, p + c * channel_stride))
            continue
        piece = unit % pieces
        first = run_length * piece // pieces
        last = run_length * (piece + 1) // pieces
        p = origin + offset + first * run_stride
        s0 = s1 = s2 = s3 = 0.0
        n = last - first
        i = 0
        while i + 4 <= n:
            s0 += np.float64(_load(buf, p + i * run_stride))
            s1 += np.float64(_load(buf, p + (i + 1) * run_stride))
            s2 += np.float64(_load(buf, p + (i + 2) * run_stride))
            s3 += np.float64(_load(buf, p + (i + 3) * run_stride))
            i += 4
        while i < n:
            s0 += np.float64(_load(buf, p + i * run_stride))
            i += 1
        sums[sample * channels + channel] += (s0 + s1) + (s2 + s3)


def _layout_args(
    layout: ReductionLayout,
) -> tuple[int, int, int, bool, _Array, _Array, int, int, int]:
    return (
        layout.sample_stride,
        layout.channels,
        layout.channel_stride,
        layout.channels_innermost,
        layout.outer_shape,
        layout.outer_strides,
        layout.run_length,
        layout.run_stride,
        layout.rows_per_group,
    )


def _work_units(layout: ReductionLayout) -> tuple[int, int]:
    """(units, pieces per row): long runs split so one huge sample still uses all threads."""
    rows = layout.rows
    if (
        not layout.channels_innermost
        and layout.run_length > RUN_CHUNK
        and rows < 4 * _num_threads()
    ):
        pieces = -(-layout.run_length // RUN_CHUNK)
    else:
        pieces = 1
    return rows * pieces, pieces


def _compute_dtype(x: np.ndarray) -> type:
    return np.float64 if x.dtype == np.float64 else np.float32


def _minmax(
    x: np.ndarray, channel_axis: int | None
) -> tuple[ReductionLayout, _Array, _Array, _Array]:
    layout = make_reduction_layout(x, channel_axis)
    buf, origin = flat_buffer(x)
    units, pieces = _work_units(layout)
    groups = layout.groups
    dtype = _compute_dtype(x)
    args = _layout_args(layout)

    # float32 runs take the integer-key path; other dtypes pass an empty bits array.
    bits = buf.view(np.int32) if buf.dtype == np.float32 else np.empty(0, dtype=np.int32)

    def slice_(begin: int, end: int) -> tuple[_Array, _Array, _Array]:
        lo: _Array = np.full(groups, np.inf, dtype=dtype)
        hi: _Array = np.full(groups, -np.inf, dtype=dtype)
        nan = np.zeros(groups, dtype=np.bool_)
        _minmax_slice(buf, bits, origin, *args, pieces, begin, end, lo, hi, nan)
        return lo, hi, nan

    parts = _run_parallel(_plan_threads(units, groups * layout.group_size), units, slice_)
    lo, hi, nan = parts[0]
    for plo, phi, pnan in parts[1:]:
        np.minimum(lo, plo, out=lo)
        np.maximum(hi, phi, out=hi)
        nan |= pnan
    return layout, lo, hi, nan


def _shape(layout: ReductionLayout, channel_axis: int | None) -> tuple[int, ...]:
    return (layout.samples,) if channel_axis is None else (layout.samples, layout.channels)


def min_max_per_sample(
    x: np.ndarray, channel_axis: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`fastpot.kernels.min_max_per_sample`."""
    layout, lo, hi, nan = _minmax(x, channel_axis)
    out = result_dtype(x.dtype)
    # max|x| == max(max x, -min x) exactly; + 0 makes a zero +0.0 (np.maximum may keep -0.0
    # on a tie of zeros), as |x| is in the reference.
    abs_hi = np.maximum(hi, -lo) + hi.dtype.type(0)
    results = []
    for raw in (lo, hi, abs_hi):
        values = raw.astype(out)
        values[nan] = np.nan
        results.append(values.reshape(_shape(layout, channel_axis)))
    return results[0], results[1], results[2]


def reduce_per_sample(x: np.ndarray, stat: str, channel_axis: int | None, q: float) -> np.ndarray:
    """See :func:`fastpot.kernels.reduce_per_sample`."""
    if stat in ("min", "max", "abs_max"):
        lo, hi, abs_hi = min_max_per_sample(x, channel_axis)
        return {"min": lo, "max": hi, "abs_max": abs_hi}[stat]
    layout = make_reduction_layout(x, channel_axis)
    if stat == "mean":
        buf, origin = flat_buffer(x)
        units, pieces = _work_units(layout)
        args = _layout_args(layout)

        def slice_(begin: int, end: int) -> np.ndarray:
            sums = np.zeros(layout.groups, dtype=np.float64)
            _sum_slice(buf, origin, *args, pieces, begin, end, sums)
            return sums

        parts = _run_parallel(
            _plan_threads(units, layout.groups * layout.group_size), units, slice_
        )
        sums = np.sum(parts, axis=0) if len(parts) > 1 else parts[0]
        mean: _Array = sums / layout.group_size
        return mean.astype(result_dtype(x.dtype)).reshape(_shape(layout, channel_axis))
    values = _quantile_groups(x, layout, q, stat == "abs_quantile")
    return values.astype(result_dtype(x.dtype)).reshape(_shape(layout, channel_axis))


# ---- quantiles (mirror of quantile.cpp) -------------------------------------------------------


@_jit
def _lerp_like_numpy(a: float, b: float, t: float) -> _Scalar:
    diff = b - a
    if t >= 0.5:
        return b - diff * (1.0 - t)
    return a + diff * t


@_jit
def _locate_quantile(n: int, q: float) -> tuple[int, int, float]:
    h = np.float64(n - 1) * q
    lower = np.floor(h)
    lo = min(np.int64(lower), n - 1)
    return lo, min(lo + 1, n - 1), h - lower


@_jit
def _plan_group(n: int, q: float) -> tuple[int, int, float, int, bool]:
    """(lower, upper, fraction, m, from_top): which side to collect, and how many values."""
    lower, upper, fraction = _locate_quantile(n, q)
    m_top = n - lower
    m_bottom = upper + 1
    from_top = m_top <= m_bottom
    return lower, upper, fraction, (m_top if from_top else m_bottom), from_top


@_jit
def _prune(buf: _Array, count: int, m: int) -> _Scalar:
    """Keep the m largest of buf[:count] in buf[:m]; returns the new threshold."""
    part = np.partition(buf[:count], count - m)
    buf[:m] = part[count - m :]
    return part[count - m]


@_jit
def _finish(
    buf: _Array, count: int, m: int, upper: int, lower: int, fraction: float, from_top: bool
) -> _Scalar:
    part = np.partition(buf[:count], count - m)
    first = np.float64(part[count - m])  # m-th largest
    second = first
    if m >= 2:
        second = np.float64(part[count - m + 1 :].min())  # (m-1)-th largest
    if from_top:
        a, b = first, second
    else:
        a, b = -second, -first
    return _lerp_like_numpy(a, b, fraction)


@_jit
def _collect(
    buf: _Array,
    origin: int,
    count: int,
    cap: int,
    m: int,
    pruned: bool,
    threshold: float,
    sign: float,
    absolute: bool,
    p: int,
    n: int,
    stride: int,
    cand: _Array,
) -> tuple[int, bool, float, bool]:
    """Scan one run into the candidate buffer `cand`; returns (count, pruned, threshold, nan).

    As scan_run in quantile.cpp: everything enters until the first prune sets a threshold,
    then blocks of 16 are tested at once (``not x <= threshold`` is true for hits and NaN)
    and only blocks with a hit take the per-element path.
    """
    i = 0
    while i < n:
        if pruned and i + 16 <= n:
            hit = False
            for j in range(16):
                v = _load(buf, p + (i + j) * stride)
                x = sign * (abs(v) if absolute else v)
                hit |= not x <= threshold
            if not hit:
                i += 16
                continue
            block_end = i + 16
        else:
            block_end = i + 1
        while i < block_end:
            v = _load(buf, p + i * stride)
            x = sign * (abs(v) if absolute else v)
            i += 1
            if x != x:
                return count, pruned, threshold, True
            if pruned and not x > threshold:
                continue
            cand[count] = x
            count += 1
            if count >= cap:
                threshold = _prune(cand, count, m)
                count = m
                pruned = True
    return count, pruned, threshold, False


@_jit
def _quantile_rows(
    buf: _Array,
    origin: int,
    sample_stride: int,
    channels: int,
    channel_stride: int,
    innermost: bool,
    outer_shape: _Array,
    outer_strides: _Array,
    run_length: int,
    run_stride: int,
    rows_per_group: int,
    first_row: int,
    rows: int,
    run_first: int,
    run_last: int,
    m: int,
    cap: int,
    sign: float,
    absolute: bool,
    cand: _Array,
) -> tuple[int, bool]:
    """Candidates of the rows [first_row, first_row + rows) restricted to [run_first, run_last)."""
    index = np.zeros(outer_shape.size, dtype=np.int64)
    samples_per = channels * rows_per_group
    sample, channel, offset = _row_start(
        first_row,
        index,
        samples_per,
        channels,
        rows_per_group,
        innermost,
        sample_stride,
        channel_stride,
        outer_shape,
        outer_strides,
    )
    count = 0
    pruned = False
    threshold = cand.dtype.type(0)  # the compute type: cand[0] * 0 would be float64
    for _ in range(rows):
        count, pruned, threshold, bad = _collect(
            buf,
            origin,
            count,
            cap,
            m,
            pruned,
            threshold,
            sign,
            absolute,
            origin + offset + run_first * run_stride,
            run_last - run_first,
            run_stride,
            cand,
        )
        if bad:
            return count, True
        sample, channel, offset = _row_next(
            index,
            sample,
            channel,
            offset,
            channels,
            innermost,
            sample_stride,
            channel_stride,
            outer_shape,
            outer_strides,
        )
    return count, False


@_jit
def _quantile_groups_outer(
    buf: _Array,
    origin: int,
    sample_stride: int,
    channels: int,
    channel_stride: int,
    innermost: bool,
    outer_shape: _Array,
    outer_strides: _Array,
    run_length: int,
    run_stride: int,
    rows_per_group: int,
    group_begin: int,
    group_end: int,
    q: float,
    absolute: bool,
    cand: _Array,
    out: _Array,
) -> None:
    n = rows_per_group * run_length
    lower, upper, fraction, m, from_top = _plan_group(n, q)
    cap = cand.size
    # In the compute type: float32 * int is float64 in numba, which keeps the scan scalar.
    sign = cand.dtype.type(1 if from_top else -1)
    for g in range(group_begin, group_end):
        count, bad = _quantile_rows(
            buf,
            origin,
            sample_stride,
            channels,
            channel_stride,
            innermost,
            outer_shape,
            outer_strides,
            run_length,
            run_stride,
            rows_per_group,
            g * rows_per_group,
            rows_per_group,
            0,
            run_length,
            m,
            cap,
            sign,
            absolute,
            cand,
        )
        if bad:
            out[g] = np.nan
        else:
            out[g] = _finish(cand, count, m, upper, lower, fraction, from_top)


@_jit
def _quantile_groups_inner(
    buf: _Array,
    origin: int,
    sample_stride: int,
    channels: int,
    channel_stride: int,
    outer_shape: _Array,
    outer_strides: _Array,
    rows_per_group: int,
    group_begin: int,
    group_end: int,
    q: float,
    absolute: bool,
    cand: _Array,
    out: _Array,
) -> None:
    """Channel-last layouts: per sample, every row feeds the slice's channels."""
    n = rows_per_group
    lower, upper, fraction, m, from_top = _plan_group(n, q)
    cap = cand.shape[1]
    sign = cand.dtype.type(1 if from_top else -1)  # the compute type, as in the outer scan
    index = np.zeros(outer_shape.size, dtype=np.int64)
    g = group_begin
    while g < group_end:
        sample = g // channels
        c0 = g % channels
        c1 = min(channels, c0 + (group_end - g))
        counts = np.zeros(c1 - c0, dtype=np.int64)
        pruned = np.zeros(c1 - c0, dtype=np.bool_)
        thresholds = np.zeros(c1 - c0, dtype=cand.dtype)
        bad = np.zeros(c1 - c0, dtype=np.bool_)
        s, ch, offset = _row_start(
            sample * rows_per_group,
            index,
            rows_per_group,
            channels,
            rows_per_group,
            True,
            sample_stride,
            channel_stride,
            outer_shape,
            outer_strides,
        )
        for _ in range(rows_per_group):
            p = origin + offset
            for c in range(c0, c1):
                k = c - c0
                if bad[k]:
                    continue
                v = _load(buf, p + c * channel_stride)
                x = sign * (abs(v) if absolute else v)
                if x != x:
                    bad[k] = True
                    continue
                if pruned[k] and not x > thresholds[k]:
                    continue
                cand[k, counts[k]] = x
                counts[k] += 1
                if counts[k] >= cap:
                    thresholds[k] = _prune(cand[k], counts[k], m)
                    counts[k] = m
                    pruned[k] = True
            s, ch, offset = _row_next(
                index,
                s,
                ch,
                offset,
                channels,
                True,
                sample_stride,
                channel_stride,
                outer_shape,
                outer_strides,
            )
        for c in range(c0, c1):
            k = c - c0
            if bad[k]:
                out[sample * channels + c] = np.nan
            else:
                out[sample * channels + c] = _finish(
                    cand[k], counts[k], m, upper, lower, fraction, from_top
                )
        g = sample * channels + c1


def _capacity(m: int, group_size: int) -> int:
    """Candidate buffer size: as top_candidates in quantile.cpp, never above the group."""
    return int(min(max(4 * m, 64), group_size))


def _quantile_groups(
    x: np.ndarray, layout: ReductionLayout, q: float, absolute: bool
) -> np.ndarray:
    buf, origin = flat_buffer(x)
    dtype = _compute_dtype(x)
    groups = layout.groups
    n = layout.group_size
    lower = min(int(np.floor((n - 1) * q)), n - 1)
    upper = min(lower + 1, n - 1)
    m = min(n - lower, upper + 1)
    cap = _capacity(m, n)
    out = np.empty(groups, dtype=np.float64)
    total = groups * n
    threads = _plan_threads(groups, total)
    args = _layout_args(layout)

    if layout.channels_innermost:

        def inner(begin: int, end: int) -> None:
            cand: _Array = np.zeros((min(end - begin, layout.channels), cap), dtype=dtype)
            _quantile_groups_inner(
                buf,
                origin,
                layout.sample_stride,
                layout.channels,
                layout.channel_stride,
                layout.outer_shape,
                layout.outer_strides,
                layout.rows_per_group,
                begin,
                end,
                q,
                absolute,
                cand,
                out,
            )

        _run_parallel(threads, groups, inner)
        return out

    if threads > 1 or groups >= _num_threads() or total < 2 * PARALLEL_MIN_ELEMENTS:

        def outer(begin: int, end: int) -> None:
            cand: _Array = np.zeros(cap, dtype=dtype)
            _quantile_groups_outer(buf, origin, *args, begin, end, q, absolute, cand, out)

        _run_parallel(threads, groups, outer)
        return out

    # Few large groups: split each group over threads, then select from the union of the
    # candidate buffers (each holds a superset of its part's top m).
    nthreads = max(1, min(_num_threads(), total // PARALLEL_MIN_ELEMENTS))
    from_top = (n - lower) <= (upper + 1)
    sign = dtype(1 if from_top else -1)
    split_rows = layout.rows_per_group >= nthreads
    for g in range(groups):

        def part(begin: int, end: int, g: int = g) -> tuple[np.ndarray, bool]:
            cand: _Array = np.zeros(cap, dtype=dtype)
            rows_per_group, run_length = layout.rows_per_group, layout.run_length
            first_row, count_rows, e0, e1 = g * rows_per_group, rows_per_group, 0, run_length
            if split_rows:
                r0 = rows_per_group * begin // nthreads
                r1 = rows_per_group * end // nthreads
                first_row, count_rows = g * rows_per_group + r0, r1 - r0
            else:
                e0 = run_length * begin // nthreads
                e1 = run_length * end // nthreads
            count, bad = _quantile_rows(
                buf, origin, *args, first_row, count_rows, e0, e1, m, cap, sign, absolute, cand
            )
            return cand[:count].copy(), bad

        parts = _run_parallel(nthreads, nthreads, part)
        if any(bad for _, bad in parts):
            out[g] = np.nan
            continue
        pool = np.concatenate([c for c, _ in parts])
        out[g] = _finish(
            pool, pool.size, m, upper, lower, (n - 1) * q - np.floor((n - 1) * q), from_top
        )
    return out


# ---- extremes (mirror of extremes.cpp) ---------------------------------------------------------
# One side at a time: the top-m candidate collector of the quantiles, on x for the largest
# values and on -x for the smallest (extremes.cpp keeps both sides in one pass).


@_jit
def _best_sorted(cand: _Array, count: int, k: int, sign: float, out: _Array, row: int) -> None:
    """Write the k largest of ``cand[:count]`` (values times `sign`) ascending into out[row]."""
    part = np.partition(cand[:count], count - k)[count - k :]
    out[row, :] = np.sort(part * sign)


@_jit
def _extremes_groups_outer(
    buf: _Array,
    origin: int,
    sample_stride: int,
    channels: int,
    channel_stride: int,
    innermost: bool,
    outer_shape: _Array,
    outer_strides: _Array,
    run_length: int,
    run_stride: int,
    rows_per_group: int,
    group_begin: int,
    group_end: int,
    k: int,
    sign: float,
    cand: _Array,
    out: _Array,
) -> None:
    cap = cand.size
    for g in range(group_begin, group_end):
        count, bad = _quantile_rows(
            buf,
            origin,
            sample_stride,
            channels,
            channel_stride,
            innermost,
            outer_shape,
            outer_strides,
            run_length,
            run_stride,
            rows_per_group,
            g * rows_per_group,
            rows_per_group,
            0,
            run_length,
            k,
            cap,
            sign,
            False,
            cand,
        )
        if bad:
            out[g, :] = np.nan
        else:
            _best_sorted(cand, count, k, sign, out, g)


@_jit
def _extremes_groups_inner(
    buf: _Array,
    origin: int,
    sample_stride: int,
    channels: int,
    channel_stride: int,
    outer_shape: _Array,
    outer_strides: _Array,
    rows_per_group: int,
    group_begin: int,
    group_end: int,
    k: int,
    sign: float,
    cand: _Array,
    out: _Array,
) -> None:
    """Channel-last layouts: per sample, every row feeds the slice's channels."""
    cap = cand.shape[1]
    index = np.zeros(outer_shape.size, dtype=np.int64)
    g = group_begin
    while g < group_end:
        sample = g // channels
        c0 = g % channels
        c1 = min(channels, c0 + (group_end - g))
        counts = np.zeros(c1 - c0, dtype=np.int64)
        pruned = np.zeros(c1 - c0, dtype=np.bool_)
        thresholds = np.zeros(c1 - c0, dtype=cand.dtype)
        bad = np.zeros(c1 - c0, dtype=np.bool_)
        s, ch, offset = _row_start(
            sample * rows_per_group,
            index,
            rows_per_group,
            channels,
            rows_per_group,
            True,
            sample_stride,
            channel_stride,
            outer_shape,
            outer_strides,
        )
        for _ in range(rows_per_group):
            p = origin + offset
            for c in range(c0, c1):
                j = c - c0
                if bad[j]:
                    continue
                x = sign * _load(buf, p + c * channel_stride)
                if x != x:
                    bad[j] = True
                    continue
                if pruned[j] and not x > thresholds[j]:
                    continue
                cand[j, counts[j]] = x
                counts[j] += 1
                if counts[j] >= cap:
                    thresholds[j] = _prune(cand[j], counts[j], k)
                    counts[j] = k
                    pruned[j] = True
            s, ch, offset = _row_next(
                index,
                s,
                ch,
                offset,
                channels,
                True,
                sample_stride,
                channel_stride,
                outer_shape,
                outer_strides,
            )
        for c in range(c0, c1):
            j = c - c0
            if bad[j]:
                out[sample * channels + c, :] = np.nan
            else:
                _best_sorted(cand[j], counts[j], k, sign, out, sample * channels + c)
        g = sample * channels + c1


def _extremes_side(x: np.ndarray, layout: ReductionLayout, k: int, sign: float) -> np.ndarray:
    """Return [groups, k] ascending: the k largest values (sign +1) or the k smallest (-1)."""
    buf, origin = flat_buffer(x)
    dtype = _compute_dtype(x)
    groups = layout.groups
    n = layout.group_size
    cap = _capacity(k, n)
    out: _Array = np.empty((groups, k), dtype=dtype)
    total = groups * n
    threads = _plan_threads(groups, total)
    args = _layout_args(layout)
    signed = dtype(sign)

    if layout.channels_innermost:

        def inner(begin: int, end: int) -> None:
            cand: _Array = np.zeros((min(end - begin, layout.channels), cap), dtype=dtype)
            _extremes_groups_inner(
                buf,
                origin,
                layout.sample_stride,
                layout.channels,
                layout.channel_stride,
                layout.outer_shape,
                layout.outer_strides,
                layout.rows_per_group,
                begin,
                end,
                k,
                signed,
                cand,
                out,
            )

        _run_parallel(threads, groups, inner)
        return out

    if threads > 1 or groups >= _num_threads() or total < 2 * PARALLEL_MIN_ELEMENTS:

        def outer(begin: int, end: int) -> None:
            cand: _Array = np.zeros(cap, dtype=dtype)
            _extremes_groups_outer(buf, origin, *args, begin, end, k, signed, cand, out)

        _run_parallel(threads, groups, outer)
        return out

    # Few large groups: split each group over threads, then select from the union of the
    # candidate buffers (each holds a superset of its part's k best).
    nthreads = max(1, min(_num_threads(), total // PARALLEL_MIN_ELEMENTS))
    split_rows = layout.rows_per_group >= nthreads
    for g in range(groups):

        def part(begin: int, end: int, g: int = g) -> tuple[np.ndarray, bool]:
            cand: _Array = np.zeros(cap, dtype=dtype)
            rows_per_group, run_length = layout.rows_per_group, layout.run_length
            first_row, count_rows, e0, e1 = g * rows_per_group, rows_per_group, 0, run_length
            if split_rows:
                r0 = rows_per_group * begin // nthreads
                r1 = rows_per_group * end // nthreads
                first_row, count_rows = g * rows_per_group + r0, r1 - r0
            else:
                e0 = run_length * begin // nthreads
                e1 = run_length * end // nthreads
            count, bad = _quantile_rows(
                buf, origin, *args, first_row, count_rows, e0, e1, k, cap, signed, False, cand
            )
            return cand[:count].copy(), bad

        parts = _run_parallel(nthreads, nthreads, part)
        if any(bad for _, bad in parts):
            out[g, :] = np.nan
            continue
        pool = np.concatenate([c for c, _ in parts])
        _best_sorted(pool, pool.size, k, signed, out, g)
    return out


def extremes_per_sample(
    x: np.ndarray, k: int, channel_axis: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """See :func:`fastpot.kernels.extremes_per_sample`."""
    layout = make_reduction_layout(x, channel_axis)
    bottom = _extremes_side(x, layout, k, -1.0)
    top = _extremes_side(x, layout, k, 1.0)
    shape = (*_shape(layout, channel_axis), k)
    rd = result_dtype(x.dtype)
    # A NaN stops one side's scan only: a group is NaN on both sides if either saw one.
    nan = np.isnan(bottom[:, 0]) | np.isnan(top[:, 0])
    bottom[nan] = np.nan
    top[nan] = np.nan
    return bottom.astype(rd).reshape(shape), top.astype(rd).reshape(shape), layout.group_size


# ---- aggregators (mirror of aggregate.cpp) ----------------------------------------------------


@_jit
def _quantile_inplace(values: _Array, q: float) -> _Scalar:
    """numpy.quantile (linear) of a 1-D array that holds no NaN (the caller checked)."""
    lower, upper, fraction = _locate_quantile(values.size, q)
    part = np.partition(values, lower)
    a = part[lower]
    b = a if upper == lower else part[lower + 1 :].min()
    return _lerp_like_numpy(a, b, fraction)


@_jit
def _median(values: _Array) -> _Scalar:
    """numpy.median of a 1-D array that holds no NaN (the caller checked)."""
    n = values.size
    mid = (n - 1) // 2
    part = np.partition(values, mid)
    if n % 2 == 1:
        return part[mid]
    return (part[mid] + part[mid + 1 :].min()) / 2.0


@_jit
def _aggregate_column(column: _Array, how: int) -> _Scalar:
    for v in column:  # NaN anywhere: NaN (the helpers below rely on a NaN-free column)
        if v != v:
            return np.nan
    if how == 0:  # mean
        return column.sum() / column.size
    if how == 1:
        return column.max()
    if how == 2:
        return column.min()
    if how == 3:
        return _median(column)
    if how == 4 or how == 5:
        low = _quantile_inplace(column.copy(), OUTLIER_FRACTION)
        high = _quantile_inplace(column.copy(), 1.0 - OUTLIER_FRACTION)
        kept = column[(column >= low) & (column <= high)]
        if kept.size == 0:  # e.g. two distinct samples: both lie outside [q(1%), q(99%)]
            return np.nan
        if how == 4:
            return kept.sum() / kept.size
        return _median(kept)
    # hl_estimator
    n = column.size
    if n == 1:
        return column[0]
    # No NaN in the column: the only NaN pair sum is inf + -inf, and then the median of the
    # sums is NaN (numpy.median); otherwise the sums hold no NaN either.
    if np.any(column == np.inf) and np.any(column == -np.inf):
        return np.nan
    sums = np.empty(n * (n - 1) // 2, dtype=np.float64)
    k = 0
    for i in range(1, n):
        for j in range(i):
            sums[k] = column[i] + column[j]
            k += 1
    return 0.5 * _median(sums)


@_jit
def _aggregate_columns(columns: _Array, how: int, out: _Array) -> None:
    for k in range(columns.shape[1]):
        out[k] = _aggregate_column(np.ascontiguousarray(columns[:, k]), how)


_HOW = {
    "mean": 0,
    "max": 1,
    "min": 2,
    "median": 3,
    "mean_no_outliers": 4,
    "median_no_outliers": 5,
    "hl_estimator": 6,
}


def aggregate(values: np.ndarray, how: str) -> np.ndarray:
    """See :func:`fastpot.kernels.aggregate`."""
    # Per-sample statistics are small ([S, C]); gathering them as float64 columns is the
    # same work the C++ core does.
    columns = values.reshape(values.shape[0], -1).astype(np.float64)
    out = np.empty(columns.shape[1], dtype=np.float64)
    _aggregate_columns(columns, _HOW[how], out)
    return out.reshape(values.shape[1:]).astype(result_dtype(values.dtype))


# ---- FakeQuantize ranges (mirror of fake_quantize.cpp) ---------------------------------------


@_jit
def _fq_symmetric(
    lo: _Array,
    hi: _Array,
    weights: bool,
    is_signed: bool,
    levels: int,
    input_low: _Array,
    input_high: _Array,
) -> None:
    largest = hi[0]
    for v in hi:
        largest = max(largest, v)
    floor = max(np.float32(8e-5), np.float32(0.01) * largest)
    unsigned_range = not weights and not is_signed
    if unsigned_range:
        for v in lo:
            if not v >= np.float32(0):
                unsigned_range = False
                break
    n = np.float32(levels)
    for i in range(hi.size):
        m = max(hi[i], floor)
        input_high[i] = m
        if weights:
            input_low[i] = -m
        elif unsigned_range:
            input_low[i] = np.float32(0)
        else:
            input_low[i] = -(m * n) / (n - np.float32(2))


@_jit
def _fq_asymmetric(
    lo_in: _Array, hi_in: _Array, bits: int, input_low: _Array, input_high: _Array
) -> None:
    guard = np.float32(8e-4)
    zero = np.float32(0)
    h = np.float32((1 << bits) - 1)
    for i in range(hi_in.size):
        lo = lo_in[i]
        hi = hi_in[i]
        if hi - lo <= guard:
            hi = hi + guard
            lo = lo - guard
        lo = min(lo, zero)
        hi = max(hi, zero)
        scale = h / (hi - lo)
        zp = np.float32(np.rint(-lo * scale))
        lo_a = zp / (zp - h) * hi if zp < h else lo
        hi_b = (zp - h) / zp * lo if zp > zero else hi
        if hi - lo_a > hi_b - lo:
            lo = lo_a
        else:
            hi = hi_b
        input_low[i] = lo
        input_high[i] = hi


def fq_params(
    min_values: np.ndarray | None,
    max_values: np.ndarray,
    mode: str,
    kind: str,
    bits: int,
    level_low: int | None,
    level_high: int | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """See :func:`fastpot.kernels.fq_params`; inputs are C-contiguous float32."""
    half = 1 << (bits - 1)
    narrow = mode == "symmetric" and kind == "weights"
    low = level_low if level_low is not None else (-half + 1 if narrow else -half)
    high = level_high if level_high is not None else half - 1
    levels = abs(high) + abs(low) + 1
    hi = max_values.ravel()
    lo = hi if min_values is None else min_values.ravel()
    input_low = np.empty_like(hi)
    input_high = np.empty_like(hi)
    if mode == "symmetric":
        is_signed = level_low is not None and level_low < 0
        _fq_symmetric(lo, hi, kind == "weights", is_signed, levels, input_low, input_high)
    else:
        _fq_asymmetric(lo, hi, bits, input_low, input_high)
    return input_low.reshape(max_values.shape), input_high.reshape(max_values.shape), levels
