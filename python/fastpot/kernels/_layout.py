"""Canonical reduction layout, mirroring ``cpp/include/fastpot/layout.hpp``.

The numba kernels walk this description of an arbitrary strided array (samples x channels x
rows of 1-D runs) through a flat, zero-copy view of the array's memory, exactly as the C++
kernels do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ReductionLayout", "flat_buffer", "make_reduction_layout"]


@dataclass(frozen=True)
class ReductionLayout:
    """Samples x channels x rows; every row is a strided run (strides in elements)."""

    samples: int
    sample_stride: int
    channels: int
    channel_stride: int
    channels_innermost: bool
    outer_shape: np.ndarray  # int64, row index space within one group / sample
    outer_strides: np.ndarray  # int64, elements
    run_length: int
    run_stride: int
    group_size: int
    rows_per_group: int

    @property
    def groups(self) -> int:
        """Number of (sample, channel) groups."""
        return self.samples * self.channels

    @property
    def rows(self) -> int:
        """Rows in the whole array."""
        per_sample = 1 if self.channels_innermost else self.channels
        return self.samples * per_sample * self.rows_per_group


def make_reduction_layout(x: np.ndarray, channel_axis: int | None) -> ReductionLayout:
    """Layout of a validated array; `channel_axis` is already normalised (>= 1) or None."""
    strides = [s // x.itemsize for s in x.strides]
    reduced = [
        (x.shape[d], strides[d]) for d in range(1, x.ndim) if d != channel_axis and x.shape[d] != 1
    ]
    # Reduced axes in order of decreasing |stride|: the innermost run has the smallest one.
    reduced.sort(key=lambda a: -abs(a[1]))
    merged: list[tuple[int, int]] = []
    for size, stride in reduced:
        if merged and merged[-1][1] == size * stride:
            merged[-1] = (merged[-1][0] * size, stride)
        else:
            merged.append((size, stride))
    group_size = int(np.prod([s for s, _ in merged], dtype=np.int64)) if merged else 1

    channels, channel_stride = 1, 0
    if channel_axis is not None:
        channels, channel_stride = x.shape[channel_axis], strides[channel_axis]
    innermost = channels > 1 and (not merged or abs(channel_stride) < abs(merged[-1][1]))
    if innermost:
        outer = merged
        run_length, run_stride = channels, channel_stride
    elif merged:
        outer = merged[:-1]
        run_length, run_stride = merged[-1]
    else:
        outer, run_length, run_stride = [], 1, 1
    outer_shape = np.array([s for s, _ in outer], dtype=np.int64)
    outer_strides = np.array([st for _, st in outer], dtype=np.int64)
    return ReductionLayout(
        samples=x.shape[0],
        sample_stride=strides[0],
        channels=channels,
        channel_stride=channel_stride,
        channels_innermost=innermost,
        outer_shape=outer_shape,
        outer_strides=outer_strides,
        run_length=run_length,
        run_stride=run_stride,
        group_size=group_size,
        rows_per_group=int(np.prod(outer_shape, dtype=np.int64)) if outer else 1,
    )


def flat_buffer(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Return a 1-D view of all memory `x` addresses and the index of ``x[0, ..., 0]``.

    No copy: the view starts at the lowest address `x` touches (negative strides move it
    below the origin). float16 data is viewed as uint16 bits (the kernels convert).
    """
    lowest = tuple(n - 1 if s < 0 else 0 for n, s in zip(x.shape, x.strides, strict=True))
    start = x[tuple(slice(i, i + 1) for i in lowest)]
    span = 1 + sum((n - 1) * abs(s) for n, s in zip(x.shape, x.strides, strict=True)) // x.itemsize
    flat = np.lib.stride_tricks.as_strided(start, shape=(span,), strides=(x.itemsize,))
    origin = (
        sum((n - 1) * -s for n, s in zip(x.shape, x.strides, strict=True) if s < 0) // x.itemsize
    )
    if flat.dtype == np.float16:
        flat = flat.view(np.uint16)
    return flat, origin
