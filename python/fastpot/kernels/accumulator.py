"""Streaming statistic accumulators: feed batches, merge partial results, pickle them."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from fastpot.kernels import _validation as _v
from fastpot.kernels._backends import backend_module, resolve_backend

__all__ = ["StatisticAccumulator"]

_KEEPS_ALL = ("median", "mean_no_outliers", "median_no_outliers", "hl_estimator")


class StatisticAccumulator:
    """One statistic of one tensor, accumulated over batches.

    Each batch ``[n, ...]`` (axis 0 = samples) is reduced per sample with
    :func:`fastpot.kernels.reduce_per_sample`, then folded into the aggregator's state:
    ``mean`` is the unweighted mean of per-batch means (as POT computes it), ``min``/``max``
    are running extremes; both keep O(channels) memory whatever the number of samples. The
    median-type aggregators (``median``, ``*_no_outliers``, ``hl_estimator``) need every
    per-sample value and keep them.

    ``update`` and ``merge`` are thread-safe. ``a.merge(b)`` gives the same result as feeding
    ``a`` both streams. Accumulators pickle (state included).

    NaN and infinities follow :mod:`fastpot.kernels.reference` on every backend: a NaN
    per-sample value makes its channel NaN for good (``min``/``max``/``mean`` included);
    ``+-inf`` are ordinary values (a ``mean`` over both ``+inf`` and ``-inf`` is NaN); the
    median-type aggregators give what :func:`fastpot.kernels.aggregate` gives on all kept
    values. No NumPy floating-point warning is raised for these cases.

    Parameters
    ----------
    stat : str
        Per-sample statistic, as in :func:`fastpot.kernels.reduce_per_sample`.
    how : str
        Aggregator, as in :func:`fastpot.kernels.aggregate`.
    channel_axis : int, optional
        Keep this axis of each batch: the result is ``[C]``; otherwise a 0-d array.
    q : float, optional
        Quantile level for the quantile statistics.
    backend : str
        ``"auto"``, ``"cpp"``, ``"numba"`` or ``"numpy"``.
    """

    def __init__(
        self,
        stat: str,
        how: str,
        *,
        channel_axis: int | None = None,
        q: float | None = None,
        backend: str = "auto",
    ) -> None:
        self.stat = _v.check_stat(stat)
        self.how = _v.check_how(how)
        self.q = _v.check_q(self.stat, q)
        if channel_axis is not None and channel_axis == 0:
            raise ValueError(
                "channel_axis: axis 0 holds the samples and cannot be the channel axis"
            )
        self.channel_axis = channel_axis
        self.backend = resolve_backend(backend)
        self._impl = backend_module(self.backend)
        self._lock = threading.Lock()
        self._native: Any = None
        if self.backend == "cpp":
            self._native = self._impl.new_accumulator(self.stat, self.how, channel_axis, self.q)
        self._channels = -1
        self._batches = 0
        self._samples = 0
        self._float64 = False
        self._values: list[np.ndarray] = []  # kept per-sample values [n, C] per batch
        self._running: np.ndarray | None = None  # running state for mean / min / max

    @property
    def samples(self) -> int:
        """Number of samples fed so far."""
        return int(self._native.samples) if self._native is not None else self._samples

    @property
    def batches(self) -> int:
        """Number of batches fed so far."""
        return int(self._native.batches) if self._native is not None else self._batches

    def update(self, batch: np.ndarray) -> None:
        """Reduce one batch per sample and fold it into the state."""
        batch = _v.check_array(batch, "batch")
        axis = _v.check_channel_axis(self.channel_axis, batch.ndim)
        if self._native is not None:
            self._native.update(batch)
            return
        per_sample = self._impl.reduce_per_sample(batch, self.stat, axis, self.q)
        per_sample = per_sample.astype(np.float64).reshape(batch.shape[0], -1)
        self._fold(per_sample, batch.dtype == np.float64, batches=1)

    def _fold(self, per_sample: np.ndarray, float64: bool, batches: int) -> None:
        n, channels = per_sample.shape
        # IEEE results without warnings (inf + -inf), as the C++ accumulator computes them.
        with self._lock, np.errstate(invalid="ignore", over="ignore"):
            if self._channels >= 0 and channels != self._channels:
                raise ValueError(
                    f"batch: {channels} channels, but earlier batches had {self._channels}"
                )
            self._channels = channels
            self._float64 = self._float64 or float64
            if self.how in _KEEPS_ALL:
                self._values.append(per_sample)
            elif self.how == "mean":
                batch_mean = per_sample.mean(axis=0)
                self._running = batch_mean if self._running is None else self._running + batch_mean
            else:
                reduce = np.maximum if self.how == "max" else np.minimum
                extreme = reduce.reduce(per_sample, axis=0)
                self._running = extreme if self._running is None else reduce(self._running, extreme)
            self._batches += batches
            self._samples += n

    def merge(self, other: StatisticAccumulator) -> None:
        """Add everything ``other`` has seen (same statistic, aggregator, axis, q, backend)."""
        if other is self:
            raise ValueError("other: cannot merge an accumulator into itself")
        same = (self.stat, self.how, self.channel_axis, self.q, self.backend) == (
            other.stat,
            other.how,
            other.channel_axis,
            other.q,
            other.backend,
        )
        if not same:
            raise ValueError(
                "other: accumulators differ in statistic, aggregator, channel axis, q or backend"
            )
        if self._native is not None:
            self._native.merge(other._native)
            return
        with other._lock:
            state = (
                other._channels,
                other._batches,
                other._samples,
                other._float64,
                list(other._values),
                other._running,
            )
        channels, batches, samples, float64, values, running = state
        if channels < 0:
            return
        with self._lock:
            if self._channels >= 0 and channels != self._channels:
                raise ValueError(f"other: {channels} channels, but this has {self._channels}")
            self._channels = channels
            self._float64 = self._float64 or float64
            self._values.extend(values)
            if running is not None:
                if self._running is None:
                    self._running = running.copy()
                elif self.how == "mean":
                    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf is NaN
                        self._running = self._running + running
                elif self.how == "max":
                    self._running = np.maximum(self._running, running)
                else:
                    self._running = np.minimum(self._running, running)
            self._batches += batches
            self._samples += samples

    def result(self) -> np.ndarray:
        """Return the aggregated statistic: ``[C]`` with a channel axis, else a 0-d array."""
        if self._native is not None:
            values = self._native.result()
        else:
            with self._lock:
                if self._channels < 0:
                    raise ValueError("accumulator: no batch has been fed yet")
                dtype = np.float64 if self._float64 else np.float32
                if self.how in _KEEPS_ALL:
                    pool = np.concatenate(self._values, axis=0).astype(dtype)
                    values = self._impl.aggregate(pool, self.how)
                elif self.how == "mean":
                    assert self._running is not None
                    values = (self._running / self._batches).astype(dtype)
                else:
                    assert self._running is not None
                    values = self._running.astype(dtype)
        values = np.asarray(values)
        return values.reshape(()) if self.channel_axis is None else values

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_impl")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._impl = backend_module(resolve_backend(self.backend))
