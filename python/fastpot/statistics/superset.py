"""One statistics pass that serves every range estimator: the superset and its derivation.

A range estimator asks for one per-sample statistic (``min``, ``max``, ``abs_max``,
``quantile``, ``abs_quantile``), per tensor or per channel, folded over the samples by an
aggregator (``mean`` of per-batch means, ``min``, ``max``, ``median``, ...). Everything
before the aggregator is a function of each sample alone, so a pass that keeps, per batch,

* the per-sample ``min`` / ``max`` / ``abs_max`` of every tensor, per tensor and per channel
  (:class:`PerSampleRecorder`), and
* the ``k`` smallest and ``k`` largest values of every sample (and of every channel of
  every sample), with the number ``N`` of values they were taken from
  (:class:`ExtremesRecorder`),

lets any aggregator and any quantile level ``q`` with ``min(q, 1 - q) <= OUTLIER_BOUND`` be
derived afterwards without inference (:meth:`Superset.derive`). The linear quantile of ``N``
values at ``q`` reads the values of rank ``floor(q * (N - 1))`` and the next one, which lie
among the ``floor(OUTLIER_BOUND * (N - 1)) + 2`` extreme values on that side
(:func:`extremes_count` keeps one more against rounding of ``q``); ``abs_quantile`` needs
the largest ``|x|``, which are among the largest and the smallest ``x``.

Bit-identity with a direct collection: the derived per-sample values are fed, batch by batch
as the pass saw them, to a fresh :class:`~fastpot.kernels.StatisticAccumulator` whose
per-sample reduction is the identity on them (a ``max`` of ``[n]`` or of ``[n, C]`` per
channel reduces a single value), so the aggregator does exactly the arithmetic it would
have done in the pass. Per-sample quantiles are interpolated as the kernels do
(:mod:`fastpot.kernels.reference`: ``numpy.quantile``'s linear method, in float64, then
rounded to the kernels' result dtype). A request outside the superset (another statistic,
``q`` beyond the bound, a channel axis not recorded, tensors whose size changes between
batches) is not derivable and is collected by a real pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastpot.kernels import (
    StatisticAccumulator,
    extremes_per_sample,
    reduce_per_sample,
    resolve_backend,
)
from fastpot.kernels import extremes_count as kernel_extremes_count
from fastpot.kernels._validation import result_dtype

__all__ = [
    "OUTLIER_BOUND",
    "Batched",
    "ExtremesRecorder",
    "Extremes",
    "PerSampleRecorder",
    "Superset",
    "extremes_count",
    "superset_recorders",
]

#: Quantile levels ``q`` with ``min(q, 1 - q)`` up to this bound are derived exactly
#: (``outlier_prob`` up to 1e-3: every preset and AccuracyAware's grid).
OUTLIER_BOUND = 1e-3
NodeKey = tuple[str, int]
ReducedKey = tuple[NodeKey, str, "int | None"]  # (node, min/max/abs_max, channel axis)
ExtremesKey = tuple[NodeKey, "int | None"]  # (node, channel axis)
_EXTREMES = ("min", "max", "abs_max")
_QUANTILES = ("quantile", "abs_quantile")


def extremes_count(size: int, bound: float = OUTLIER_BOUND) -> int:
    """Return the number of extreme values kept on each side of a group of `size` values.

    ``floor(bound * (size - 1)) + 2`` values cover the two ranks a quantile at
    ``q <= bound`` (or ``q >= 1 - bound``) interpolates between; one more absorbs the
    rounding of ``q = 1 - outlier_prob``. Never more than `size`.
    """
    return kernel_extremes_count(size, bound)


def _native_recorder(backend: str, stat: str, channel_axis: int | None, bound: float) -> Any:
    """Return a C++ ``fastpot._core.SampleRecorder`` when `backend` resolves to ``cpp``.

    The engine's C++ dispatcher feeds it in its inference callbacks (no Python per batch);
    None for the other backends.
    """
    if resolve_backend(backend) != "cpp":
        return None
    from fastpot import _core  # noqa: PLC0415 - only with the C++ backend

    return _core.SampleRecorder(stat, channel_axis, 0.0, bound)


class PerSampleRecorder:
    """Keeps the per-sample ``min``, ``max`` or ``abs_max`` of every batch, as fed.

    The engine feeds it as it feeds a :class:`~fastpot.kernels.StatisticAccumulator` of the
    same ``stat`` and ``channel_axis`` (in-graph reductions where it uses them), and it
    reduces each batch with the same kernel, so its values are the accumulator's per-sample
    values. With the C++ backend the values are kept by ``native_recorder``, which the
    engine's dispatcher feeds directly.
    """

    def __init__(self, stat: str, channel_axis: int | None, backend: str = "auto") -> None:
        if stat not in _EXTREMES:
            raise ValueError(f"stat: {stat!r} is not one of {_EXTREMES}")
        self.stat = stat
        self.channel_axis = channel_axis
        self.backend = backend
        self.native_recorder = _native_recorder(backend, stat, channel_axis, OUTLIER_BOUND)
        self.batches: list[np.ndarray] = []
        self.broken = False  # the channel count changed: nothing is derived from it

    def update(self, batch: Any) -> None:
        """Reduce one batch per sample (and channel) and keep the values."""
        if self.native_recorder is not None:
            self.native_recorder.update(np.asarray(batch))  # a 0-d batch is one sample
            return
        if self.broken:
            return
        x = np.asarray(batch)
        if x.ndim == 0:  # a scalar tensor is one sample, as the engine feeds accumulators
            x = x.reshape(1)
        values = reduce_per_sample(
            x, self.stat, channel_axis=self.channel_axis, backend=self.backend
        )
        if self.batches and values.shape[1:] != self.batches[0].shape[1:]:
            self.broken = True
            self.batches.clear()
            return
        self.batches.append(np.array(values, copy=True))

    def result(self) -> Batched | None:
        """Return the recorded values (None if nothing was fed, or the channel count changed)."""
        native = self.native_recorder
        if native is not None:
            if native.channels < 0 or not native.consistent:
                return None
            return Batched(native.values(), tuple(native.lengths))
        if self.broken or not self.batches:
            return None
        return Batched.join(self.batches)


@dataclass(frozen=True)
class Batched:
    """Per-sample values of every batch, concatenated (axis 0), with each batch's length."""

    values: np.ndarray
    lengths: tuple[int, ...]

    @classmethod
    def join(cls, batches: list[np.ndarray]) -> Batched:
        """Concatenate `batches`, keeping their lengths."""
        return cls(np.concatenate(batches, axis=0), tuple(len(b) for b in batches))

    def split(self, values: np.ndarray | None = None) -> list[np.ndarray]:
        """`values` (default: :attr:`values`) cut back into the batches (views)."""
        data = self.values if values is None else values
        out, start = [], 0
        for n in self.lengths:
            out.append(data[start : start + n])
            start += n
        return out


@dataclass
class Extremes:
    """The ``k`` smallest and largest values of every group of ``size`` values.

    ``top`` and ``bottom`` are ``[S, G, k]`` ascending over all ``S`` samples of the pass
    (``G`` = 1 per tensor, or the channels), ``nan`` is ``[S, G]``: whether the group held a
    NaN; ``lengths`` are the batches' sample counts; ``dtype`` is the kernels' result dtype
    of the tensor. When ``2 k >= size`` both hold the whole group.
    """

    size: int
    k: int
    dtype: str
    top: np.ndarray
    bottom: np.ndarray
    nan: np.ndarray
    lengths: tuple[int, ...]

    @property
    def whole(self) -> bool:
        """Whether every value of every group is kept."""
        return 2 * self.k >= self.size

    def per_sample_quantile(self, q: float, absolute: bool) -> np.ndarray | None:
        """Per-sample quantile ``[S, G]`` of every sample, or None when `q` is not covered."""
        n = self.size
        h = np.float64(n - 1) * np.float64(q)
        floor = np.floor(h)
        lower = min(int(floor), n - 1)
        upper = min(lower + 1, n - 1)
        fraction = h - floor
        if absolute:
            if self.whole:
                ranked = np.sort(np.abs(self.top.astype(np.float64)), axis=-1)
            else:  # the largest |x| are among the largest and the smallest x
                both = np.concatenate([self.bottom, self.top], axis=-1).astype(np.float64)
                ranked = np.sort(np.abs(both), axis=-1)[..., -self.k :]
            first = n - ranked.shape[-1]
            if lower < first:
                return None
            a, b = ranked[..., lower - first], ranked[..., upper - first]
        elif self.whole:
            a, b = self.top[..., lower], self.top[..., upper]
        elif upper < self.k:
            a, b = self.bottom[..., lower], self.bottom[..., upper]
        elif lower >= n - self.k:
            first = n - self.k
            a, b = self.top[..., lower - first], self.top[..., upper - first]
        else:
            return None
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as NumPy's
            diff = b - a
            value = b - diff * (1.0 - fraction) if fraction >= 0.5 else a + diff * fraction
        value = np.where(self.nan, np.nan, value)
        return value.astype(self.dtype)


class ExtremesRecorder:
    """Keeps each sample's (or each sample's channels') ``k`` smallest and largest values.

    ``stat`` is ``"extremes"``: not a kernel statistic, so the engine exports the whole
    tensor to it. Memory is O(k) per sample and channel. The values come from
    :func:`fastpot.kernels.extremes_per_sample` (a group with a NaN keeps only NaN); with
    the C++ backend ``native_recorder`` keeps them and the engine's dispatcher feeds it.
    """

    stat = "extremes"

    def __init__(
        self, channel_axis: int | None, bound: float = OUTLIER_BOUND, backend: str = "auto"
    ) -> None:
        self.channel_axis = channel_axis
        self.bound = bound
        self.backend = backend
        self.native_recorder = _native_recorder(backend, "extremes", channel_axis, bound)
        self.size = -1
        self.k = 0
        self.dtype = ""
        self._top: list[np.ndarray] = []
        self._bottom: list[np.ndarray] = []
        self.broken = False  # group size or count changed between batches

    def update(self, batch: Any) -> None:
        """Keep the extreme values of one batch."""
        if self.native_recorder is not None:
            self.native_recorder.update(np.asarray(batch))  # a 0-d batch is one sample
            return
        if self.broken:
            return
        x = np.asarray(batch)
        if x.ndim == 0:
            x = x.reshape(1)
        n = x.shape[0]
        channels = 1 if self.channel_axis is None else x.shape[self.channel_axis]
        size = x.size // max(n * channels, 1)
        if self.size < 0:
            self.size, self.k = size, extremes_count(size, self.bound)
            self.dtype = str(result_dtype(x.dtype))
        elif size != self.size or channels != self._top[0].shape[1]:
            self.broken = True
            self._top, self._bottom = [], []
            return
        whole = 2 * self.k >= size  # both sides would hold the whole group: keep it sorted
        ext = extremes_per_sample(
            x, size if whole else self.k, channel_axis=self.channel_axis, backend=self.backend
        )
        self._top.append(ext.top.reshape(n, channels, -1))
        if not whole:
            self._bottom.append(ext.bottom.reshape(n, channels, -1))

    def result(self) -> Extremes | None:
        """Return what was recorded (None if nothing, or the group size changed)."""
        native = self.native_recorder
        if native is not None:
            if native.channels < 0 or not native.consistent:
                return None
            bottom, top = native.extremes()
            size, k, lengths = int(native.size), int(native.k), tuple(native.lengths)
        else:
            if self.broken or not self._top:
                return None
            top = np.concatenate(self._top, axis=0)
            bottom = np.concatenate(self._bottom, axis=0) if self._bottom else top
            size, k, lengths = self.size, self.k, tuple(len(t) for t in self._top)
        # NaN fills a group's outputs: its last value tells whether the group held one.
        nan = np.isnan(top[..., -1])
        return Extremes(size, k, str(top.dtype), top, bottom, nan, lengths)


def superset_recorders(
    nodes: dict[NodeKey, set[int | None]], backend: str = "auto"
) -> tuple[dict[ReducedKey, PerSampleRecorder], dict[ExtremesKey, ExtremesRecorder]]:
    """Create the recorders of the superset of `nodes` (node -> the channel axes to record)."""
    reduced: dict[ReducedKey, PerSampleRecorder] = {}
    extremes: dict[ExtremesKey, ExtremesRecorder] = {}
    for node, axes in nodes.items():
        for axis in sorted(axes, key=lambda a: (a is not None, a or 0)):
            for stat in _EXTREMES:
                reduced[(node, stat, axis)] = PerSampleRecorder(stat, axis, backend)
            extremes[(node, axis)] = ExtremesRecorder(axis, backend=backend)
    return reduced, extremes


@dataclass
class Superset:
    """What a pass recorded: per-sample values, extremes, and the exact results it computed.

    ``results`` holds requests measured directly (``shape``, ``tensor_mean``, ``mean``...),
    served as they are; everything else is derived from ``reduced`` / ``extremes``.
    """

    reduced: dict[ReducedKey, Batched] = field(default_factory=dict)
    extremes: dict[ExtremesKey, Extremes] = field(default_factory=dict)
    results: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def from_recorders(
        cls,
        reduced: dict[ReducedKey, PerSampleRecorder],
        extremes: dict[ExtremesKey, ExtremesRecorder],
        results: dict[Any, Any],
    ) -> Superset:
        """Collect what the recorders kept (a broken recorder is left out)."""
        values = {k: r.result() for k, r in reduced.items()}
        kept = {k: r.result() for k, r in extremes.items()}
        return cls(
            reduced={k: b for k, b in values.items() if b is not None},
            extremes={k: e for k, e in kept.items() if e is not None},
            results=dict(results),
        )

    def update(self, other: Superset) -> None:
        """Add everything `other` holds."""
        self.reduced.update(other.reduced)
        self.extremes.update(other.extremes)
        self.results.update(other.results)

    def derive(self, request: Any) -> tuple[Any] | None:
        """Return ``(value,)`` for `request`, or None when the superset cannot give it exactly.

        `request` is a :class:`~fastpot.statistics.StatRequest`. A value recorded directly is
        returned as it is (``tensor_mean`` may be None itself, hence the tuple).
        """
        if request in self.results:
            return (self.results[request],)
        stat, axis = request.stat, request.channel_axis
        if stat in _EXTREMES:
            batched = self.reduced.get((request.node, stat, axis))
            if batched is None:
                return None
            values, lengths = batched.values, batched.lengths
        elif stat in _QUANTILES and request.q is not None:
            ext = self.extremes.get((request.node, axis))
            if ext is None:
                return None
            per_sample = ext.per_sample_quantile(float(request.q), stat == "abs_quantile")
            if per_sample is None:
                return None
            n = per_sample.shape[0]
            values = per_sample.reshape(n, -1) if axis is not None else per_sample.reshape(n)
            lengths = ext.lengths
        else:
            return None
        # "max" of [n] (or of [n, C] per channel) reduces one value: the identity, so the
        # aggregator sees exactly the per-sample values of the pass. A mean is a mean of
        # per-batch means: fed batch by batch; min, max and the median-type aggregators do
        # not depend on the batches (running extremes, or every value kept): fed at once.
        acc = StatisticAccumulator("max", request.how, channel_axis=None if axis is None else 1)
        if request.how == "mean":
            for part in Batched(values, lengths).split():
                acc.update(part)
        else:
            acc.update(values)
        result = acc.result()
        return (result.reshape(()) if axis is None else result.reshape(-1),)
