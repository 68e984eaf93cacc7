"""Plain NumPy implementations: the correctness oracle for every backend.

Readable rather than fast: values are converted to float64 before any arithmetic, and the
results are rounded to the kernels' result dtype (float64 for float64 input, float32
otherwise). Range math (``fq_params``) is done in float32, as NumPy 1.x did for POT.

This module *defines* the results for NaN and infinities, which the other backends follow:

* NaN anywhere in a reduced group (a sample, a sample's channel, an aggregated column)
  makes that result NaN, as ``numpy.min``/``max``/``mean``/``quantile``/``median`` do.
* ``+-inf`` are ordinary values and IEEE arithmetic decides the rest: a mean over both
  ``+inf`` and ``-inf`` is NaN; a quantile interpolates with ``numpy.quantile``'s formula,
  so between two equal infinities (``inf - inf``) it is NaN, even at a weight of 0;
  ``numpy.median`` averages its two middle values, so ``median([-inf, inf])`` is NaN and
  ``median([inf, inf])`` is inf.
* ``hl_estimator`` is half the median of the pairwise sums ``x_i + x_j``, ``i > j``: a
  column with both ``+inf`` and ``-inf`` has a NaN sum, hence a NaN result.
* ``*_no_outliers`` compare the column with its 1% / 99% quantiles: a NaN bound keeps
  nothing, and keeping nothing gives NaN.

These cases raise no NumPy floating-point warnings here (the compiled backends compute the
same IEEE values silently): every public function runs under ``np.errstate(all="ignore")``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from fastpot.kernels._validation import result_dtype

__all__ = [
    "aggregate",
    "extremes_per_sample",
    "fq_params",
    "min_max_per_sample",
    "reduce_per_sample",
]

OUTLIER_FRACTION = 0.01  # *_no_outliers keep values within the [1%, 99%] quantiles

_F = TypeVar("_F", bound=Callable[..., object])


def _silent(fn: _F) -> _F:
    """Run `fn` without NumPy floating-point warnings (inf - inf, inf * 0, x / 0)."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        with np.errstate(all="ignore"):  # a fresh errstate per call: it is not reentrant
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _grouped(x: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """View `x` as [N, K] (per tensor) or [N, C, K] (per channel), in float64."""
    values = x.astype(np.float64)
    if channel_axis is None:
        return values.reshape(values.shape[0], -1)
    values = np.moveaxis(values, channel_axis, 1)
    return values.reshape(values.shape[0], values.shape[1], -1)


@_silent
def reduce_per_sample(x: np.ndarray, stat: str, channel_axis: int | None, q: float) -> np.ndarray:
    """Per-sample (and per-channel) statistic over all other axes."""
    values = _grouped(x, channel_axis)
    result: np.ndarray
    if stat == "min":
        result = values.min(axis=-1)
    elif stat == "max":
        result = values.max(axis=-1)
    elif stat == "abs_max":
        result = np.abs(values).max(axis=-1)
    elif stat == "mean":
        result = values.mean(axis=-1)
    elif stat == "quantile":
        result = np.quantile(values, q, axis=-1)
    elif stat == "abs_quantile":
        result = np.quantile(np.abs(values), q, axis=-1)
    else:
        raise ValueError(f"stat: unknown statistic {stat!r}")
    return result.astype(result_dtype(x.dtype))


@_silent
def min_max_per_sample(
    x: np.ndarray, channel_axis: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample min, max and abs_max."""
    return (
        reduce_per_sample(x, "min", channel_axis, 0.0),
        reduce_per_sample(x, "max", channel_axis, 0.0),
        reduce_per_sample(x, "abs_max", channel_axis, 0.0),
    )


@_silent
def extremes_per_sample(
    x: np.ndarray, k: int, channel_axis: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the k smallest and k largest values of every group (ascending), and its size.

    A group holding a NaN gets NaN in all of its outputs (its quantiles are NaN).
    """
    values = _grouped(x, channel_axis)
    size = values.shape[-1]
    ordered = np.sort(values, axis=-1)
    nan = np.isnan(values).any(axis=-1, keepdims=True)
    bottom = np.where(nan, np.nan, ordered[..., :k])
    top = np.where(nan, np.nan, ordered[..., size - k :])
    dtype = result_dtype(x.dtype)
    return bottom.astype(dtype), top.astype(dtype), size


def _hodges_lehmann(column: np.ndarray) -> float:
    if column.size == 1:
        return float(column[0])
    i, j = np.tril_indices(column.size, k=-1)  # all pairs with i > j
    return float(0.5 * np.median(column[i] + column[j]))


def _without_outliers(column: np.ndarray) -> np.ndarray:
    low, high = np.quantile(column, [OUTLIER_FRACTION, 1.0 - OUTLIER_FRACTION])
    kept: np.ndarray = column[(column >= low) & (column <= high)]
    return kept


def _aggregate_column(column: np.ndarray, how: str) -> float:
    if np.isnan(column).any():
        return float("nan")
    if how == "mean":
        return float(column.mean())
    if how == "max":
        return float(column.max())
    if how == "min":
        return float(column.min())
    if how == "median":
        return float(np.median(column))
    if how in ("mean_no_outliers", "median_no_outliers"):
        kept = _without_outliers(column)
        if kept.size == 0:  # e.g. two distinct samples: both lie outside [q(1%), q(99%)]
            return float("nan")
        return float(kept.mean() if how == "mean_no_outliers" else np.median(kept))
    if how == "hl_estimator":
        return _hodges_lehmann(column)
    raise ValueError(f"how: unknown aggregator {how!r}")


@_silent
def aggregate(values: np.ndarray, how: str) -> np.ndarray:
    """Aggregate per-sample statistics over axis 0, column by column."""
    columns = values.astype(np.float64).reshape(values.shape[0], -1)
    result = np.array([_aggregate_column(columns[:, k], how) for k in range(columns.shape[1])])
    return result.reshape(values.shape[1:]).astype(result_dtype(values.dtype))


def levels_for(
    mode: str, kind: str, bits: int, level_low: int | None, level_high: int | None
) -> tuple[int, int, int]:
    """(levels, level_low, level_high), as POT computes them."""
    half = 2 ** (bits - 1)
    narrow = mode == "symmetric" and kind == "weights"
    low = level_low if level_low is not None else (-half + 1 if narrow else -half)
    high = level_high if level_high is not None else half - 1
    return abs(high) + abs(low) + 1, low, high


@_silent
def fq_params(
    min_values: np.ndarray | None,
    max_values: np.ndarray,
    mode: str,
    kind: str,
    bits: int,
    level_low: int | None,
    level_high: int | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(input_low, input_high, levels) from aggregated statistics, in float32."""
    levels, _, _ = levels_for(mode, kind, bits, level_low, level_high)
    is_signed = level_low is not None and level_low < 0
    hi = np.asarray(max_values, dtype=np.float32)
    if mode == "symmetric":
        floor = np.maximum(np.float32(8e-5), np.float32(0.01) * hi.max())
        m = np.maximum(hi, floor)
        if kind == "weights":
            return -m, m, levels
        assert min_values is not None
        if not is_signed and bool((np.asarray(min_values) >= 0).all()):
            return np.zeros_like(m), m, levels
        n = np.float32(levels)
        return -(m * n) / (n - np.float32(2)), m, levels

    assert min_values is not None
    lo = np.asarray(min_values, dtype=np.float32)
    guard = np.float32(8e-4)
    tiny = hi - lo <= guard
    hi = np.where(tiny, hi + guard, hi)
    lo = np.where(tiny, lo - guard, lo)
    lo = np.minimum(lo, np.float32(0))
    hi = np.maximum(hi, np.float32(0))
    # Zero-point alignment: move one end so that zero lands exactly on the integer grid.
    h = np.float32(2**bits - 1)
    zp = np.round(-lo * (h / (hi - lo)))
    with np.errstate(divide="ignore", invalid="ignore"):
        lo_a = np.where(zp < h, zp / (zp - h) * hi, lo)
        hi_b = np.where(zp > 0, (zp - h) / zp * lo, hi)
    keep_high = (hi - lo_a) > (hi_b - lo)
    return np.where(keep_high, lo_a, lo), np.where(keep_high, hi, hi_b), levels
