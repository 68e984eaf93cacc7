"""Adapters over the compiled core ``fastpot._core`` (mirrors ``cpp/include/fastpot``).

Arguments arrive validated and normalised by :mod:`fastpot.kernels`; nothing here copies an
input array.
"""

from __future__ import annotations

import numpy as np

from fastpot import _core

__all__ = [
    "aggregate",
    "extremes_per_sample",
    "fq_params",
    "min_max_per_sample",
    "reduce_per_sample",
]


def reduce_per_sample(x: np.ndarray, stat: str, channel_axis: int | None, q: float) -> np.ndarray:
    """See :func:`fastpot.kernels.reduce_per_sample`."""
    return _core.reduce_per_sample(x, stat, channel_axis, q)


def min_max_per_sample(
    x: np.ndarray, channel_axis: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`fastpot.kernels.min_max_per_sample`."""
    return _core.min_max_per_sample(x, channel_axis)


def extremes_per_sample(
    x: np.ndarray, k: int, channel_axis: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """See :func:`fastpot.kernels.extremes_per_sample`."""
    bottom, top, size = _core.extremes_per_sample(x, k, channel_axis)
    return bottom, top, int(size)


def aggregate(values: np.ndarray, how: str) -> np.ndarray:
    """See :func:`fastpot.kernels.aggregate`."""
    return _core.aggregate(values, how)


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
    low, high, levels, _, _ = _core.fq_params(
        min_values, max_values, mode, kind, bits, level_low, level_high
    )
    return low, high, int(levels)


def new_accumulator(
    stat: str, how: str, channel_axis: int | None, q: float
) -> _core.StatisticAccumulator:
    """Create a C++ streaming accumulator (thread-safe, picklable)."""
    return _core.StatisticAccumulator(stat, how, channel_axis, q)
