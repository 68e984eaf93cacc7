"""Argument checks shared by every backend, so that all of them fail the same way."""

from __future__ import annotations

import operator

import numpy as np

STATISTICS = ("min", "max", "abs_max", "mean", "quantile", "abs_quantile")
AGGREGATIONS = (
    "mean",
    "max",
    "min",
    "median",
    "mean_no_outliers",
    "median_no_outliers",
    "hl_estimator",
)
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def check_array(x: object, name: str) -> np.ndarray:
    """Return `x` as an ndarray of a supported float dtype without copying it."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype.kind == "f" and not x.dtype.isnative:
        raise TypeError(f"{name}: byte-swapped arrays ({x.dtype}) are not supported")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name}: unsupported dtype {x.dtype} (accepted: float16, float32, float64)"
        )
    if x.ndim < 1:
        raise ValueError(f"{name}: expected at least 1 dimension (axis 0 holds the samples)")
    if x.size == 0:
        raise ValueError(f"{name}: empty input (shape {x.shape})")
    if any(s % x.itemsize for s in x.strides):
        raise TypeError(f"{name}: strides {x.strides} are not multiples of the item size")
    return x


def check_channel_axis(channel_axis: object, ndim: int) -> int | None:
    """Normalise `channel_axis` (None, or an axis >= 1, negative counting from the end)."""
    if channel_axis is None:
        return None
    try:
        axis = operator.index(channel_axis)  # type: ignore[arg-type]  # TypeError handled below
    except TypeError:
        raise TypeError(
            f"channel_axis: expected an integer or None, got {type(channel_axis).__name__}"
        ) from None
    normalised = axis + ndim if axis < 0 else axis
    if not 1 <= normalised < ndim:
        raise ValueError(
            f"channel_axis: {channel_axis} is out of range for an array with {ndim} "
            "dimensions (axis 0 holds the samples)"
        )
    return normalised


def check_stat(stat: object) -> str:
    """Check the statistic name."""
    if stat not in STATISTICS:
        raise ValueError(f"stat: unknown statistic {stat!r} (expected one of {STATISTICS})")
    return str(stat)


def check_q(stat: str, q: object) -> float:
    """Check the quantile level: required in [0, 1] for quantile statistics."""
    if stat not in ("quantile", "abs_quantile"):
        if q is not None:
            raise ValueError(f"q: only used by quantile statistics, not by {stat!r}")
        return 0.0
    if q is None:
        raise ValueError(f"q: required for stat={stat!r}")
    try:
        value = float(q)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"q: expected a number, got {type(q).__name__}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"q: {q} is outside [0, 1]")
    return value


def check_how(how: object) -> str:
    """Check the aggregator name."""
    if how not in AGGREGATIONS:
        raise ValueError(f"how: unknown aggregator {how!r} (expected one of {AGGREGATIONS})")
    return str(how)


def result_dtype(dtype: np.dtype) -> np.dtype:
    """Float64 stays float64; float16 and float32 give float32 (float16 is exact in it)."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)
