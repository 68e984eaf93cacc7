"""Statistics and FakeQuantize-range kernels with interchangeable backends.

Every public function takes ``backend="auto" | "cpp" | "numba" | "numpy"``:

* ``cpp`` — the compiled core ``fastpot._core`` (default; releases the GIL, uses all cores
  for large inputs);
* ``numba`` — ``@njit(nogil=True)`` twins of the C++ kernels;
* ``numpy`` — :mod:`fastpot.kernels.reference`, the readable oracle.

``auto`` picks ``cpp``, or ``numba`` with one warning if the extension cannot be imported.
The environment variable ``FASTPOT_BACKEND`` overrides what ``auto`` means. Asking for a
backend explicitly never falls back: it raises :class:`~fastpot.errors.BackendUnavailableError`.

NaN and infinities (all backends; :mod:`fastpot.kernels.reference` is the oracle that
defines them, and the other backends match it value for value):

* a NaN anywhere in a reduced group (a sample, a sample's channel, an aggregated column)
  makes that result NaN, as ``numpy.min``/``max``/``mean``/``quantile``/``median`` do;
* ``+-inf`` are ordinary values and IEEE arithmetic decides the rest: ``min``/``max``/
  ``abs_max`` are exact; a ``mean`` over both ``+inf`` and ``-inf`` is NaN; quantiles
  interpolate with ``numpy.quantile``'s formula, so between two equal infinities
  (``inf - inf``) the result is NaN, as in NumPy; ``median`` averages the two middle values
  as ``numpy.median`` does (``median([-inf, inf])`` is NaN, ``median([inf, inf])`` inf);
* ``hl_estimator`` of a column holding both ``+inf`` and ``-inf`` is NaN (one pairwise sum
  is ``inf + -inf``); ``*_no_outliers`` keep nothing when a quantile bound is NaN, and
  keeping nothing gives NaN;
* no backend raises NumPy floating-point warnings for these cases;
* ``fq_params`` rejects NaN statistics with ``ValueError``; infinite statistics go through
  the same float32 formulas (an infinite range, identical on every backend).

Memory layout: inputs may have any strides (negative, zero) and any alignment (a float32
view at an odd offset of a byte buffer works, with the same results as an aligned copy);
nothing is copied, except for misaligned ``fq_params`` ranges, which are tiny.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, cast

import numpy as np

from fastpot.kernels import _validation as _v
from fastpot.kernels import reference
from fastpot.kernels._backends import (
    BACKENDS,
    CAPABILITIES,
    available_backends,
    backend_module,
    resolve_backend,
)
from fastpot.kernels.accumulator import StatisticAccumulator

__all__ = [
    "BACKENDS",
    "CAPABILITIES",
    "ExtremeValues",
    "FQParams",
    "StatisticAccumulator",
    "aggregate",
    "available_backends",
    "extremes_count",
    "extremes_per_sample",
    "fq_params",
    "min_max_per_sample",
    "reduce_per_sample",
    "resolve_backend",
]


class _Backend(Protocol):
    """What every backend module defines (the checks above it are done here, once)."""

    def reduce_per_sample(
        self, x: np.ndarray, stat: str, channel_axis: int | None, q: float
    ) -> np.ndarray: ...

    def min_max_per_sample(
        self, x: np.ndarray, channel_axis: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def extremes_per_sample(
        self, x: np.ndarray, k: int, channel_axis: int | None
    ) -> tuple[np.ndarray, np.ndarray, int]: ...

    def aggregate(self, values: np.ndarray, how: str) -> np.ndarray: ...

    def fq_params(
        self,
        min_values: np.ndarray | None,
        max_values: np.ndarray,
        mode: str,
        kind: str,
        bits: int,
        level_low: int | None,
        level_high: int | None,
    ) -> tuple[np.ndarray, np.ndarray, int]: ...


def _impl(backend: str) -> _Backend:
    return cast(_Backend, backend_module(resolve_backend(backend)))


def reduce_per_sample(
    x: np.ndarray,
    stat: str,
    *,
    channel_axis: int | None = None,
    q: float | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Reduce every sample (axis 0) to one value, or one value per channel.

    Parameters
    ----------
    x : numpy.ndarray
        float16, float32 or float64 array ``[N, ...]``; any strides, any alignment (views
        are not copied).
    stat : {"min", "max", "abs_max", "mean", "quantile", "abs_quantile"}
        Statistic. Quantiles interpolate linearly, exactly as
        ``numpy.quantile``.
    channel_axis : int, optional
        Keep this axis (>= 1, or negative from the end): the result is ``[N, C]``.
        Without it the result is ``[N]``.
    q : float, optional
        Quantile level in [0, 1]; required for the quantile statistics only.
    backend : str
        ``"auto"``, ``"cpp"``, ``"numba"`` or ``"numpy"``.

    Returns
    -------
    numpy.ndarray
        float64 for float64 input, float32 otherwise. A group with a NaN gives NaN;
        infinities count as values (a mean over ``+inf`` and ``-inf`` is NaN, a quantile
        interpolated between two equal infinities is NaN, as ``numpy.quantile`` gives).
    """
    x = _v.check_array(x, "x")
    stat = _v.check_stat(stat)
    axis = _v.check_channel_axis(channel_axis, x.ndim)
    level = _v.check_q(stat, q)
    return _impl(backend).reduce_per_sample(x, stat, axis, level)


def min_max_per_sample(
    x: np.ndarray, *, channel_axis: int | None = None, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample ``(min, max, abs_max)`` in one pass over memory.

    Same arguments and result shapes as :func:`reduce_per_sample`.
    """
    x = _v.check_array(x, "x")
    axis = _v.check_channel_axis(channel_axis, x.ndim)
    return _impl(backend).min_max_per_sample(x, axis)


class ExtremeValues(NamedTuple):
    """Each group's ``k`` smallest and ``k`` largest values (ascending) and its value count."""

    bottom: np.ndarray
    top: np.ndarray
    size: int


def extremes_count(size: int, bound: float) -> int:
    """Values to keep on each side of a group of `size` for quantiles up to `bound`.

    ``min(size, floor(bound * (size - 1)) + 3)``: the linear quantile at ``q`` reads the
    values of rank ``floor(q * (size - 1))`` and the next one, which lie among the
    ``floor(bound * (size - 1)) + 2`` extreme values on that side when
    ``min(q, 1 - q) <= bound``; one more absorbs the rounding of ``q = 1 - bound``.
    """
    if not 0.0 <= bound <= 0.5:
        raise ValueError(f"bound: {bound} is outside [0, 0.5]")
    return min(size, math.floor(bound * max(size - 1, 0)) + 3)


def extremes_per_sample(
    x: np.ndarray, k: int, *, channel_axis: int | None = None, backend: str = "auto"
) -> ExtremeValues:
    """Return the ``k`` smallest and ``k`` largest values of every sample (or sample, channel).

    Parameters
    ----------
    x : numpy.ndarray
        float16, float32 or float64 array ``[N, ...]``; any strides, any alignment (views
        are not copied).
    k : int
        Values per side, ``1 <= k <=`` the values of each group.
    channel_axis : int, optional
        Keep this axis (>= 1, or negative from the end): groups are ``(sample, channel)``.
    backend : str
        ``"auto"``, ``"cpp"``, ``"numba"`` or ``"numpy"``.

    Returns
    -------
    ExtremeValues
        ``bottom`` and ``top``: ``[N, k]`` (or ``[N, C, k]``), ascending, float64 for float64
        input, float32 otherwise: exactly the first and the last ``k`` values of the sorted
        group (``-0.0`` and ``+0.0`` are equal, so which of two equal zeros is kept is not
        specified, as in a sort). ``size``: the values of each group. A group holding a NaN
        has NaN in all of its ``2 k`` outputs, so a quantile computed from them is NaN, as
        ``numpy.quantile`` of the group is; ``+-inf`` are ordinary values.
    """
    x = _v.check_array(x, "x")
    axis = _v.check_channel_axis(channel_axis, x.ndim)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k: expected an integer, got {type(k).__name__}")
    size = x.size // x.shape[0] // (1 if axis is None else x.shape[axis])
    if not 1 <= k <= size:
        raise ValueError(f"k: {k} is outside [1, {size}] (the values of each group)")
    bottom, top, n = _impl(backend).extremes_per_sample(x, int(k), axis)
    return ExtremeValues(bottom, top, int(n))


def aggregate(values: np.ndarray, how: str, *, backend: str = "auto") -> np.ndarray:
    """Aggregate per-sample statistics over axis 0.

    Parameters
    ----------
    values : numpy.ndarray
        ``[S, ...]`` per-sample values (e.g. the output of :func:`reduce_per_sample`).
    how : {"mean", "max", "min", "median", "mean_no_outliers", "median_no_outliers", \
"hl_estimator"}
        ``*_no_outliers`` keep, per column, the values within the 1% and 99% quantiles
        (inclusive); ``hl_estimator`` is half the median of all pairwise sums
        ``x_i + x_j, i > j`` (self-pairs excluded; O(S^2) memory; one sample gives the
        sample itself).
    backend : str
        ``"auto"``, ``"cpp"``, ``"numba"`` or ``"numpy"``.

    Returns
    -------
    numpy.ndarray
        Shape ``values.shape[1:]``; float64 for float64 input, float32 otherwise. A column
        with a NaN gives NaN; infinities count as values, so ``mean`` of ``+inf`` and
        ``-inf`` is NaN, ``median`` follows ``numpy.median``, ``hl_estimator`` of a column
        with both ``+inf`` and ``-inf`` is NaN (its pair sum ``inf + -inf`` is), and
        ``*_no_outliers`` give NaN when nothing is kept (a NaN quantile bound keeps
        nothing).
    """
    values = _v.check_array(values, "values")
    how = _v.check_how(how)
    return _impl(backend).aggregate(values, how)


class FQParams(NamedTuple):
    """FakeQuantize parameters: range constants (float32) and the number of levels."""

    input_low: np.ndarray
    input_high: np.ndarray
    output_low: np.ndarray
    output_high: np.ndarray
    levels: int


def fq_params(
    min_values: np.ndarray | float | None,
    max_values: np.ndarray | float,
    *,
    mode: str,
    kind: str,
    bits: int = 8,
    level_low: int | None = None,
    level_high: int | None = None,
    backend: str = "auto",
) -> FQParams:
    """FakeQuantize ranges from aggregated statistics.

    Parameters
    ----------
    min_values, max_values : array_like
        Aggregated statistics, broadcast against each other (per tensor: scalars; per
        channel: e.g. ``[C, 1, 1, 1]``). ``max_values`` is the absolute maximum in symmetric
        mode. ``min_values`` may be None for symmetric weights, where it is not used; for
        symmetric activations only its sign matters (all >= 0 gives an unsigned range).
    mode : {"symmetric", "asymmetric"}
    kind : {"weights", "activations"}
    bits : int
        Quantization bits (levels default to ``2**bits`` or ``2**bits - 1`` for symmetric
        weights).
    level_low, level_high : int, optional
        Explicit integer range (hardware or user configuration); a negative ``level_low``
        makes the configuration *signed*.
    backend : str
        ``"auto"``, ``"cpp"``, ``"numba"`` or ``"numpy"``.

    Returns
    -------
    FQParams
        float32 arrays of the broadcast shape; output ranges equal input ranges.

    Raises
    ------
    ValueError
        For an invalid argument, a NaN statistic, or ``min_values > max_values`` in
        asymmetric mode (infinite statistics give infinite ranges, the same on every
        backend).
    """
    if mode not in ("symmetric", "asymmetric"):
        raise ValueError(f"mode: {mode!r} is not one of 'symmetric', 'asymmetric'")
    if kind not in ("weights", "activations"):
        raise ValueError(f"kind: {kind!r} is not one of 'weights', 'activations'")
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ValueError(f"bits: {bits!r} is not an integer in [1, 32]")
    if level_low is not None and level_high is not None and level_low >= level_high:
        raise ValueError(f"level_low/level_high: {level_low} >= {level_high}")
    levels, _, _ = reference.levels_for(mode, kind, int(bits), level_low, level_high)
    if levels < 2:
        raise ValueError(f"level_low/level_high: {levels} level(s); at least 2 are needed")
    needs_min = not (mode == "symmetric" and kind == "weights")
    if min_values is None and needs_min:
        raise ValueError(f"min_values: required for {mode} {kind}")
    # Range arrays are small: converting them to C-contiguous float32 here is deliberate.
    hi = np.asarray(max_values, dtype=np.float32)
    lo = None if min_values is None else np.asarray(min_values, dtype=np.float32)
    if lo is not None:
        lo, hi = np.broadcast_arrays(lo, hi)
    shape = hi.shape  # np.ascontiguousarray turns 0-d into 1-d: restore the shape after
    hi = np.ascontiguousarray(hi)
    lo = None if lo is None else np.ascontiguousarray(lo)
    if hi.size == 0:
        raise ValueError("max_values: empty input")
    for name, arr in (("min_values", lo), ("max_values", hi)):
        if arr is not None and np.isnan(arr).any():
            index = np.unravel_index(int(np.argmax(np.isnan(arr))), arr.shape)
            raise ValueError(f"{name}: NaN statistic at index {tuple(int(i) for i in index)}")
    if mode == "asymmetric" and lo is not None and bool((lo > hi).any()):
        index = np.unravel_index(int(np.argmax(lo > hi)), lo.shape)
        raise ValueError(
            f"min_values: greater than max_values at index {tuple(int(i) for i in index)}"
        )
    low, high, levels = _impl(backend).fq_params(
        lo, hi, mode, kind, int(bits), level_low, level_high
    )
    low = np.asarray(low, dtype=np.float32).reshape(shape)
    high = np.asarray(high, dtype=np.float32).reshape(shape)
    return FQParams(low, high, low.copy(), high.copy(), int(levels))
