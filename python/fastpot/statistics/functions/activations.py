"""Activation statistics of one batch, over :func:`fastpot.kernels.reduce_per_sample`.

``x`` is one batch with the sample axis first. Per-tensor functions return one value per
sample (``[N]``; a rank-1 input is one sample and gives ``[1]``). Per-channel functions keep
axis 1 (``[N, C]``); tensors of rank < 3 are returned unchanged (one value per element), as
POT did. ``ACTIVATIONS_STATS_FN["pertensor" | "perchannel"][stat]`` looks them up by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastpot import kernels
from fastpot.statistics.functions._common import as_float_array
from fastpot.statistics.functions._registry import FunctionRegistry

__all__ = [
    "ACTIVATIONS_STATS_FN",
    "compute_abs_max_per_channel",
    "compute_abs_max_per_tensor",
    "compute_abs_quantile_per_channel",
    "compute_abs_quantile_per_tensor",
    "compute_act_stats_fn_per_channel",
    "compute_act_stats_fn_per_tensor",
    "compute_max_per_channel",
    "compute_max_per_tensor",
    "compute_mean_per_channel",
    "compute_mean_per_channel_axis",
    "compute_min_per_channel",
    "compute_min_per_tensor",
    "compute_quantile_per_channel",
    "compute_quantile_per_tensor",
]

compute_act_stats_fn_per_tensor = FunctionRegistry("ActivationStatisticsPerTensor")
compute_act_stats_fn_per_channel = FunctionRegistry("ActivationStatisticsPerChannel")
ACTIVATIONS_STATS_FN = {
    "pertensor": compute_act_stats_fn_per_tensor,
    "perchannel": compute_act_stats_fn_per_channel,
}


def _per_tensor(x: Any, stat: str, q: float | None = None) -> np.ndarray:
    array = as_float_array(x, "x")
    if array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array.reshape(1, -1)
    return kernels.reduce_per_sample(array, stat, q=q)


def _per_channel(x: Any, stat: str, q: float | None = None, axis: int = 1) -> np.ndarray:
    array = as_float_array(x, "x")
    if array.ndim < 3:
        return array
    return kernels.reduce_per_sample(array, stat, channel_axis=axis, q=q)


@compute_act_stats_fn_per_tensor.register("min")
def compute_min_per_tensor(x: Any, **_: Any) -> np.ndarray:
    """Minimum of each sample, ``[N]``."""
    return _per_tensor(x, "min")


@compute_act_stats_fn_per_tensor.register("max")
def compute_max_per_tensor(x: Any, **_: Any) -> np.ndarray:
    """Maximum of each sample, ``[N]``."""
    return _per_tensor(x, "max")


@compute_act_stats_fn_per_tensor.register("abs_max")
def compute_abs_max_per_tensor(x: Any, **_: Any) -> np.ndarray:
    """Maximum of ``abs(x)`` of each sample, ``[N]``."""
    return _per_tensor(x, "abs_max")


@compute_act_stats_fn_per_tensor.register("quantile")
def compute_quantile_per_tensor(x: Any, q: float, **_: Any) -> np.ndarray:
    """``numpy.quantile(sample, q)`` (linear interpolation) of each sample, ``[N]``."""
    return _per_tensor(x, "quantile", q)


@compute_act_stats_fn_per_tensor.register("abs_quantile")
def compute_abs_quantile_per_tensor(x: Any, q: float, **_: Any) -> np.ndarray:
    """``numpy.quantile(abs(sample), q)`` of each sample, ``[N]``."""
    return _per_tensor(x, "abs_quantile", q)


@compute_act_stats_fn_per_channel.register("min")
def compute_min_per_channel(x: Any, **_: Any) -> np.ndarray:
    """Minimum of each sample and channel (axis 1), ``[N, C]``."""
    return _per_channel(x, "min")


@compute_act_stats_fn_per_channel.register("max")
def compute_max_per_channel(x: Any, **_: Any) -> np.ndarray:
    """Maximum of each sample and channel, ``[N, C]``."""
    return _per_channel(x, "max")


@compute_act_stats_fn_per_channel.register("abs_max")
def compute_abs_max_per_channel(x: Any, **_: Any) -> np.ndarray:
    """Maximum of ``abs(x)`` of each sample and channel, ``[N, C]``."""
    return _per_channel(x, "abs_max")


@compute_act_stats_fn_per_channel.register("quantile")
def compute_quantile_per_channel(x: Any, q: float, **_: Any) -> np.ndarray:
    """Quantile `q` of each sample and channel, ``[N, C]``."""
    return _per_channel(x, "quantile", q)


@compute_act_stats_fn_per_channel.register("abs_quantile")
def compute_abs_quantile_per_channel(x: Any, q: float, **_: Any) -> np.ndarray:
    """Quantile `q` of ``abs(x)`` of each sample and channel, ``[N, C]``."""
    return _per_channel(x, "abs_quantile", q)


@compute_act_stats_fn_per_channel.register("mean")
def compute_mean_per_channel(x: Any, **_: Any) -> np.ndarray:
    """Mean of each sample and channel, ``[N, C]``."""
    return _per_channel(x, "mean")


@compute_act_stats_fn_per_channel.register("mean_axis")
def compute_mean_per_channel_axis(x: Any, axis: int = 1, **_: Any) -> np.ndarray:
    """Mean of each sample and channel of axis `axis` (1 for Convolution, -1 for MatMul).

    Tensors of rank < 3 are returned unchanged, as for the other per-channel functions.
    """
    return _per_channel(x, "mean", axis=axis)
