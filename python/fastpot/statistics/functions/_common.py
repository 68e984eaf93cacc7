"""Input conversion shared by the statistic functions."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_float_array"]


def as_float_array(x: Any, what: str) -> np.ndarray:
    """`x` as an ndarray the kernels take (float16/32/64; other dtypes become float32)."""
    array = np.asarray(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected a numeric array, got dtype {array.dtype}")
    if array.dtype not in (np.float16, np.float32, np.float64):
        array = array.astype(np.float32)
    return array
