"""Weight statistics, over :func:`fastpot.kernels.reduce_per_sample`.

Per-tensor functions reduce the whole constant to one value; per-filter functions give one
value per output channel (slices of axis 0). ``transpose=True`` swaps axes 0 and 1 first, for
ConvolutionBackpropData weights stored IOHW. A scalar gives a single value.
``WEIGHTS_STATS_FN["pertensor" | "perchannel"][stat]`` looks them up by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastpot import kernels
from fastpot.statistics.functions._common import as_float_array
from fastpot.statistics.functions._registry import FunctionRegistry

__all__ = [
    "WEIGHTS_STATS_FN",
    "abs_max_per_filter",
    "abs_max_per_tensor",
    "abs_quantile_per_filter",
    "abs_quantile_per_tensor",
    "compute_w_stats_fn_per_filter",
    "compute_w_stats_fn_per_tensor",
    "max_per_filter",
    "max_per_tensor",
    "min_per_filter",
    "min_per_tensor",
    "quantile_per_filter",
    "quantile_per_tensor",
]

compute_w_stats_fn_per_tensor = FunctionRegistry("WeightsStatisticsPerTensor")
compute_w_stats_fn_per_filter = FunctionRegistry("WeightsStatisticsPerFilter")
WEIGHTS_STATS_FN = {
    "pertensor": compute_w_stats_fn_per_tensor,
    "perchannel": compute_w_stats_fn_per_filter,
}


def _prepare(weights: Any, transpose: bool) -> np.ndarray:
    array = as_float_array(weights, "weights")
    if transpose and array.ndim >= 2:
        array = np.swapaxes(array, 0, 1)
    return array


def _per_tensor(weights: Any, stat: str, q: float | None, transpose: bool) -> np.floating[Any]:
    array = _prepare(weights, transpose).reshape(1, -1)
    value: np.floating[Any] = kernels.reduce_per_sample(array, stat, q=q)[0]
    return value


def _per_filter(
    weights: Any, stat: str, q: float | None, transpose: bool
) -> np.ndarray | np.floating[Any]:
    array = _prepare(weights, transpose)
    if array.ndim == 0:  # one filter: its statistic is a scalar
        value: np.floating[Any] = kernels.reduce_per_sample(array.reshape(1, 1), stat, q=q)[0]
        return value
    return kernels.reduce_per_sample(array, stat, q=q)


@compute_w_stats_fn_per_tensor.register("min")
def min_per_tensor(weights: Any, transpose: bool = False, **_: Any) -> np.floating[Any]:
    """Minimum of the whole constant."""
    return _per_tensor(weights, "min", None, transpose)


@compute_w_stats_fn_per_tensor.register("max")
def max_per_tensor(weights: Any, transpose: bool = False, **_: Any) -> np.floating[Any]:
    """Maximum of the whole constant."""
    return _per_tensor(weights, "max", None, transpose)


@compute_w_stats_fn_per_tensor.register("abs_max")
def abs_max_per_tensor(weights: Any, transpose: bool = False, **_: Any) -> np.floating[Any]:
    """Maximum of ``abs(weights)``."""
    return _per_tensor(weights, "abs_max", None, transpose)


@compute_w_stats_fn_per_tensor.register("quantile")
def quantile_per_tensor(
    weights: Any, q: float, transpose: bool = False, **_: Any
) -> np.floating[Any]:
    """Quantile `q` of the whole constant."""
    return _per_tensor(weights, "quantile", q, transpose)


@compute_w_stats_fn_per_tensor.register("abs_quantile")
def abs_quantile_per_tensor(
    weights: Any, q: float, transpose: bool = False, **_: Any
) -> np.floating[Any]:
    """Quantile `q` of ``abs(weights)``."""
    return _per_tensor(weights, "abs_quantile", q, transpose)


@compute_w_stats_fn_per_filter.register("min")
def min_per_filter(
    weights: Any, transpose: bool = False, **_: Any
) -> np.ndarray | np.floating[Any]:
    """Minimum of each output channel, ``[C_out]``."""
    return _per_filter(weights, "min", None, transpose)


@compute_w_stats_fn_per_filter.register("max")
def max_per_filter(
    weights: Any, transpose: bool = False, **_: Any
) -> np.ndarray | np.floating[Any]:
    """Maximum of each output channel, ``[C_out]``."""
    return _per_filter(weights, "max", None, transpose)


@compute_w_stats_fn_per_filter.register("abs_max")
def abs_max_per_filter(
    weights: Any, transpose: bool = False, **_: Any
) -> np.ndarray | np.floating[Any]:
    """Maximum of ``abs(weights)`` of each output channel, ``[C_out]``."""
    return _per_filter(weights, "abs_max", None, transpose)


@compute_w_stats_fn_per_filter.register("quantile")
def quantile_per_filter(
    weights: Any, q: float, transpose: bool = False, **_: Any
) -> np.ndarray | np.floating[Any]:
    """Quantile `q` of each output channel, ``[C_out]``."""
    return _per_filter(weights, "quantile", q, transpose)


@compute_w_stats_fn_per_filter.register("abs_quantile")
def abs_quantile_per_filter(
    weights: Any, q: float, transpose: bool = False, **_: Any
) -> np.ndarray | np.floating[Any]:
    """Quantile `q` of ``abs(weights)`` of each output channel, ``[C_out]``."""
    return _per_filter(weights, "abs_quantile", q, transpose)
