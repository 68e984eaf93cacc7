"""Aggregators of per-batch statistics, over :func:`fastpot.kernels.aggregate`.

Input: the statistics of every batch, either a sequence of arrays ``[N_b, ...]`` (batches may
differ in size) or one array ``[B, N, ...]``. ``mean`` averages inside each batch, then over
batches (unweighted: a short last batch counts as much as a full one); ``min``/``max`` reduce
inside each batch, then over batches; the others work on all samples at once (``median``
also takes ragged batches, unlike POT's). ``AGGREGATION_FN[name]`` looks them up by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastpot import kernels
from fastpot.statistics.functions._common import as_float_array
from fastpot.statistics.functions._registry import FunctionRegistry

__all__ = [
    "AGGREGATION_FN",
    "batch_mean",
    "hl_estimator",
    "max_aggregator",
    "mean_aggregator",
    "mean_no_outliers_aggregator",
    "median_aggregator",
    "median_no_outliers_aggregator",
    "min_aggregator",
]

AGGREGATION_FN = FunctionRegistry("AggregationFunctions")


def _batches(x: Any) -> list[np.ndarray]:
    if isinstance(x, np.ndarray):
        if x.ndim < 2:
            raise ValueError(
                f"x: expected per-batch statistics [B, N, ...], got an array of shape {x.shape}"
            )
        return [as_float_array(b, "x") for b in x]
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
        batches = [as_float_array(b, "x") for b in x]
        for i, b in enumerate(batches):
            if b.ndim == 0:
                batches[i] = b.reshape(1)
        if not batches:
            raise ValueError("x: no statistics to aggregate")
        shapes = {b.shape[1:] for b in batches}
        if len(shapes) > 1:
            raise ValueError(f"x: per-batch statistics differ in shape: {sorted(shapes)}")
        return batches
    raise TypeError("x: expected a sequence of per-batch arrays or an array [B, N, ...]")


def _two_level(x: Any, how: str) -> np.ndarray:
    per_batch = np.stack([kernels.aggregate(b, how) for b in _batches(x)])
    return kernels.aggregate(per_batch, how)


def _flat(x: Any, how: str) -> np.ndarray:
    return kernels.aggregate(np.concatenate(_batches(x)), how)


@AGGREGATION_FN.register("mean")
def mean_aggregator(x: Any, **_: Any) -> np.ndarray:
    """Mean inside each batch, then the (unweighted) mean of the batch means."""
    return _two_level(x, "mean")


@AGGREGATION_FN.register("max")
def max_aggregator(x: Any, **_: Any) -> np.ndarray:
    """Maximum over all batches and samples."""
    return _two_level(x, "max")


@AGGREGATION_FN.register("min")
def min_aggregator(x: Any, **_: Any) -> np.ndarray:
    """Minimum over all batches and samples."""
    return _two_level(x, "min")


@AGGREGATION_FN.register("median")
def median_aggregator(x: Any, **_: Any) -> np.ndarray:
    """``numpy.median`` over all samples of all batches."""
    return _flat(x, "median")


@AGGREGATION_FN.register("mean_no_outliers")
def mean_no_outliers_aggregator(x: Any, **_: Any) -> np.ndarray:
    """Mean of the values within the [1 %, 99 %] quantiles (per channel)."""
    return _flat(x, "mean_no_outliers")


@AGGREGATION_FN.register("median_no_outliers")
def median_no_outliers_aggregator(x: Any, **_: Any) -> np.ndarray:
    """Median of the values within the [1 %, 99 %] quantiles (per channel)."""
    return _flat(x, "median_no_outliers")


@AGGREGATION_FN.register("hl_estimator")
def hl_estimator(x: Any, **_: Any) -> np.ndarray:
    """Hodges-Lehmann estimator: half the median of all pairwise sums ``x_i + x_j, i > j``."""
    return _flat(x, "hl_estimator")


@AGGREGATION_FN.register("batch_mean")
def batch_mean(x: Any, **_: Any) -> np.ndarray:
    """Mean over axis 0 keeping dims (used by bias correction): ``[1, ...]``."""
    array = as_float_array(x, "x")
    mean: np.ndarray = np.mean(array, axis=0, keepdims=True)
    return mean
