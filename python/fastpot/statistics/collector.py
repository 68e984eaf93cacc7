"""``StatisticsCollector``: one inference pass serves every algorithm that can share it.

Algorithms register :class:`StatRequest` objects with the sampler they want.
Requests of samplers of the same class and size are collected in one pass (POT merged them
the same way, even when the index lists differ: the first registered sampler is used);
identical requests share one accumulator. Statistics are taken on the model as it is when
:meth:`StatisticsCollector.compute_statistics` runs.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastpot.errors import FastpotError
from fastpot.kernels import StatisticAccumulator
from fastpot.statistics.store import StatisticsStore, statistics_key, store_for_engine
from fastpot.statistics.superset import Superset, superset_recorders

__all__ = [
    "NonFiniteStatisticsError",
    "ShapeRecorder",
    "StatRequest",
    "StatisticsCollector",
    "TensorMeanRecorder",
]

logger = logging.getLogger("fastpot.statistics")

NodeKey = tuple[str, int]  # (producer friendly name, output port)


@dataclass(frozen=True)
class StatRequest:
    """One aggregated statistic of one tensor.

    ``stat`` is a per-sample statistic of :func:`fastpot.kernels.reduce_per_sample` or
    ``"shape"`` (the most common tensor shape seen) or ``"tensor_mean"`` (the element-wise
    mean sample, :class:`TensorMeanRecorder`); ``how`` an aggregator of
    :func:`fastpot.kernels.aggregate`; ``channel_axis`` keeps that axis (per-channel
    statistics); ``q`` is the quantile level of the quantile statistics.
    """

    node: NodeKey
    stat: str
    how: str = "mean"
    channel_axis: int | None = None
    q: float | None = None

    def new_accumulator(self) -> Any:
        """Create a fresh accumulator for this request."""
        if self.stat == "shape":
            return ShapeRecorder()
        if self.stat == "tensor_mean":
            return TensorMeanRecorder()
        return StatisticAccumulator(self.stat, self.how, channel_axis=self.channel_axis, q=self.q)


class ShapeRecorder:
    """Records tensor shapes; :meth:`result` is the per-dimension most common one."""

    stat = "shape"

    def __init__(self) -> None:
        self._shapes: Counter[tuple[int, ...]] = Counter()

    def update(self, x: Any) -> None:
        """Record one batch's shape."""
        self._shapes[tuple(np.shape(x))] += 1

    def result(self) -> tuple[int, ...]:
        """Per-dimension mode of the recorded shapes (POT's ``get_input_shape_for_bias``)."""
        if not self._shapes:
            raise RuntimeError("no shapes were recorded")
        ranks = {len(s) for s in self._shapes}
        if len(ranks) != 1:
            raise RuntimeError(f"tensor rank changes between batches: {sorted(ranks)}")
        dims = []
        for axis in range(ranks.pop()):
            votes: Counter[int] = Counter()
            for shape, n in self._shapes.items():
                votes[shape[axis]] += n
            dims.append(max(votes.items(), key=lambda kv: (kv[1], -kv[0]))[0])
        return tuple(dims)


class TensorMeanRecorder:
    """The element-wise mean sample of a tensor (axis 0 = samples), in float64.

    :meth:`result` is ``[1, ...]``, or None when the samples' shapes differ (dynamic axes).
    """

    stat = "tensor_mean"

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self._count = 0
        self._ragged = False

    def update(self, x: Any) -> None:
        """Add one batch of samples."""
        batch = np.asarray(x, dtype=np.float64)
        if batch.ndim == 0 or self._ragged:
            return
        total = batch.sum(axis=0, keepdims=True)
        if self._sum is not None and self._sum.shape != total.shape:
            self._ragged, self._sum = True, None
            return
        self._sum = total if self._sum is None else self._sum + total
        self._count += batch.shape[0]

    def result(self) -> np.ndarray | None:
        """Return the mean sample, or None (no batch, or samples of different shapes)."""
        if self._sum is None or self._count == 0:
            return None
        return (self._sum / self._count).astype(np.float32)


class StatisticsCollector:
    """Collects registered statistics for several algorithms with as few passes as possible.

    Parameters
    ----------
    engine : Engine
        An :class:`fastpot.engines.IEEngine` (statistics go straight into accumulators) or any
        POT-style engine whose ``predict`` accepts a ``stats_layout``.
    store : StatisticsStore, optional
        On-disk statistics store; default: the one the engine config's ``cache_dir`` or
        ``FASTPOT_CACHE_DIR`` names, if any (:func:`fastpot.statistics.store.store_for_engine`).
    superset : bool
        Record the superset of every pass (:mod:`fastpot.statistics.superset`) and derive
        later requests over the same model and sampler from it, in memory, without a pass.
        Always on with a store. Both apply to fastpot's IEEngine only (POT-style engines
        feed the data their own way: nothing is stored for them).

    Attributes
    ----------
    passes : int
        Inference passes run so far.
    derived : int
        Requests served from a recorded superset or the store instead of a pass.
    """

    def __init__(
        self, engine: Any, store: StatisticsStore | None = None, superset: bool = False
    ) -> None:
        self._engine = engine
        self._registered: dict[str, tuple[list[StatRequest], Any]] = {}
        self._results: dict[str, dict[StatRequest, Any]] = {}
        self.passes = 0  # inference passes run so far (reported by AccuracyAware)
        self.derived = 0
        self.store = store if store is not None else store_for_engine(engine)
        self._superset = superset or self.store is not None
        self._known: dict[str, Superset] = {}  # superset key -> what is recorded for it

    def records_superset(self, model: Any) -> bool:
        """Whether passes over `model` record the superset (on, and fastpot's IEEngine)."""
        return self._superset and _takes_accumulators(self._engine, model)

    def register(self, algo_name: str, requests: list[StatRequest], sampler: Any) -> None:
        """Ask for `requests` over `sampler`'s items on behalf of `algo_name`."""
        self._registered[algo_name] = (list(requests), sampler)

    def compute_statistics(self, model: Any, print_progress: bool = False) -> None:
        """Run the passes for everything registered since the last call."""
        for names, sampler in self._pending_groups():
            self._collect_group(model, names, sampler, print_progress)
        self._registered.clear()

    def _pending_groups(self) -> list[tuple[list[str], Any]]:
        """Group the registered algorithms by sampler class and size (with a sampler each)."""
        groups: dict[tuple[type, int], list[str]] = {}
        for name, (requests, sampler) in self._registered.items():
            if not requests:
                self._results[name] = {}
                continue
            groups.setdefault((type(sampler), len(sampler)), []).append(name)
        return [(names, self._registered[names[0]][1]) for names in groups.values()]

    def _collect_group(self, model: Any, names: list[str], sampler: Any, progress: bool) -> None:
        unique = list(dict.fromkeys(r for n in names for r in self._registered[n][0]))
        values = self._measure(model, unique, sampler, progress)
        for n in names:
            self._results[n] = {r: values[r] for r in self._registered[n][0]}

    def _measure(
        self, model: Any, requests: list[StatRequest], sampler: Any, progress: bool
    ) -> dict[StatRequest, Any]:
        """Compute `requests` in one inference pass (none when the superset has them all)."""
        if not self.records_superset(model):
            accumulators = {r: r.new_accumulator() for r in requests}
            self._run_pass(model, accumulators, sampler, progress)
            values = {r: _result(acc, r) for r, acc in accumulators.items()}
        else:
            values = self._measure_with_superset(model, requests, sampler, progress)
        bad = [r for r, v in values.items() if r.stat != "shape" and not _finite(v)]
        if bad:
            raise NonFiniteStatisticsError(self._explain_nonfinite(model, bad, values, sampler))
        return values

    def _measure_with_superset(
        self, model: Any, requests: list[StatRequest], sampler: Any, progress: bool
    ) -> dict[StatRequest, Any]:
        """Serve `requests` from the recorded superset; one recording pass for the rest."""
        self._engine.set_model(model)
        ov_model = self._engine._model
        key = statistics_key(self._engine, ov_model, sampler, with_data=self.store is not None)
        known = self._known.get(key)
        if known is None:
            known = self.store.load(key) if self.store is not None else Superset()
            self._known[key] = known
        values: dict[StatRequest, Any] = {}
        for r in requests:
            got = known.derive(r)
            if got is not None:
                values[r] = got[0]
        missing = [r for r in requests if r not in values]
        self.derived += len(values)
        if not missing:
            logger.info("Statistics of %d requests served without inference", len(values))
            return values
        accumulators = {r: r.new_accumulator() for r in missing}
        reduced, extremes = superset_recorders(_superset_nodes(ov_model, missing))
        extra: dict[NodeKey, list[Any]] = {}
        for (node, _stat, _axis), recorder in reduced.items():
            extra.setdefault(node, []).append(recorder)
        for (node, _axis), extremes_recorder in extremes.items():
            extra.setdefault(node, []).append(extremes_recorder)
        self._run_pass(model, accumulators, sampler, progress, extra)
        fresh = {r: _result(acc, r) for r, acc in accumulators.items()}
        values.update(fresh)
        if all(r.stat == "shape" or _finite(v) for r, v in fresh.items()):
            part = Superset.from_recorders(reduced, extremes, fresh)
            known.update(part)
            if self.store is not None:
                self.store.save(key, part)
        return values

    def _explain_nonfinite(
        self, model: Any, bad: list[StatRequest], values: dict[StatRequest, Any], sampler: Any
    ) -> str:
        """Name the nodes whose statistics are not finite, and the first samples causing it.

        One extra pass over the same samples (an error path only) finds, per node, the
        first loader item whose tensor holds an infinity or NaN.
        """
        nodes = list(dict.fromkeys(r.node for r in bad))
        layout = {_layout_key(node): {"nonfinite": _per_sample_nonfinite} for node in nodes}
        first: dict[NodeKey, int | None] = dict.fromkeys(nodes)
        try:
            self._engine.set_model(model)
            _, results = self._engine.predict(stats_layout=layout, sampler=sampler)
            indices = list(getattr(sampler, "indices", range(len(sampler))))
            for node in nodes:
                seen = 0
                for batch in (results or {}).get(_layout_key(node), {}).get("nonfinite", []):
                    flags = np.atleast_1d(batch)
                    hits = np.flatnonzero(flags)
                    if hits.size and first[node] is None:
                        position = seen + int(hits[0])
                        first[node] = indices[position] if position < len(indices) else position
                    seen += flags.size
        except Exception as exc:  # noqa: BLE001 - the diagnosis must not hide the real error
            logger.debug("could not locate the non-finite samples: %s", exc)
        lines = []
        for request in bad:
            name, port = request.node
            where = first[request.node]
            sample = f"; first at data loader item {where}" if where is not None else ""
            lines.append(
                f"node {name!r} port {port}: statistic {request.stat}/{request.how} is "
                f"{np.asarray(values[request]).ravel()[:4].tolist()}{sample}"
            )
        return (
            "non-finite activation statistics (an input or layer produces inf or NaN), "
            "refused before any FakeQuantize is written:\n  " + "\n  ".join(lines)
        )

    def _run_pass(
        self,
        model: Any,
        accumulators: dict[StatRequest, Any],
        sampler: Any,
        progress: bool,
        extra: dict[NodeKey, list[Any]] | None = None,
    ) -> None:
        by_node: dict[NodeKey, list[Any]] = {}
        for request, acc in accumulators.items():
            by_node.setdefault(request.node, []).append(acc)
        for node, recorders in (extra or {}).items():  # superset recorders (IEEngine only)
            by_node.setdefault(node, []).extend(recorders)
        engine = self._engine
        engine.set_model(model)
        logger.info("Start computing statistics for %d tensors", len(by_node))
        if _takes_accumulators(engine, model):
            engine.collect_statistics(by_node, sampler, print_progress=progress)
        else:
            _predict_pass(engine, accumulators, sampler, progress)
        self.passes += 1

    def get_statistics_for_algorithm(self, algo_name: str) -> dict[StatRequest, Any]:
        """``{request: value}`` computed for `algo_name`."""
        if algo_name not in self._results:
            raise KeyError(f"no statistics were collected for {algo_name}")
        return self._results[algo_name]


def _takes_accumulators(engine: Any, model: Any) -> bool:
    """Whether `engine` is fastpot's IEEngine as shipped (it feeds accumulators itself).

    Cascades, engines without ``collect_statistics`` and IEEngine subclasses that run the
    model their own way (``predict`` / ``_predict`` overridden, as POT's custom engines do)
    get their statistics through POT's ``predict(stats_layout)``, unless
    the subclass overrides ``collect_statistics`` as well.
    """
    if getattr(model, "is_cascade", False) or not hasattr(engine, "collect_statistics"):
        return False
    from fastpot.engines.ie_engine import IEEngine  # noqa: PLC0415 - engines import this module

    if not isinstance(engine, IEEngine):
        return True
    cls = type(engine)
    if cls.collect_statistics is not IEEngine.collect_statistics:
        return True  # the subclass takes part in fastpot's own path
    return all(getattr(cls, m) is getattr(IEEngine, m) for m in ("predict", "_predict"))


_SUPERSET_STATS = ("min", "max", "abs_max", "quantile", "abs_quantile")


def _superset_nodes(model: Any, requests: list[StatRequest]) -> dict[NodeKey, set[int | None]]:
    """Nodes of range-type requests, each with the channel axes to record.

    Per tensor, axis 1 (POT's per-channel activations) when the rank allows, and every
    channel axis requested.
    """
    ops = {op.get_friendly_name(): op for op in model.get_ops()}
    nodes: dict[NodeKey, set[int | None]] = {}
    for r in requests:
        if r.stat not in _SUPERSET_STATS:
            continue
        axes = nodes.setdefault(r.node, {None})
        axes.add(r.channel_axis)
        op = ops.get(r.node[0])
        if op is not None and r.node[1] < op.get_output_size():
            shape = op.output(r.node[1]).get_partial_shape()
            if shape.rank.is_static and shape.rank.get_length() >= 2:
                axes.add(1)
    return nodes


def _layout_key(node: NodeKey) -> Any:
    """POT's stats_layout key: the node name for output 0, else ``(name, port)``."""
    name, port = node
    return name if port == 0 else (name, port)


def _predict_pass(
    engine: Any, accumulators: dict[StatRequest, Any], sampler: Any, progress: bool
) -> None:
    """One pass through a POT-style engine's ``predict(stats_layout, sampler, stat_aliases)``.

    Each statistic function reduces the tensor it is given to what its accumulator needs
    (per sample, and per channel where asked), so the engine keeps O(samples x channels)
    values instead of whole activations; the values come back per call in sample order
    and are folded into the accumulators as the batches they are.
    """
    from fastpot.compat.pot_engine import TensorStatistic  # noqa: PLC0415 - optional layer

    layout: dict[Any, dict[str, Any]] = {}
    names: dict[StatRequest, tuple[Any, str]] = {}
    for request in accumulators:
        key = _layout_key(request.node)
        stats = layout.setdefault(key, {})
        name = f"{request.stat}_{len(stats)}"
        stats[name] = TensorStatistic(_compact(request))
        names[request] = (key, name)
    aliases = {"fastpot": {key: {n: n for n in stats} for key, stats in layout.items()}}
    _, results = engine.predict(
        stats_layout=layout, sampler=sampler, stat_aliases=aliases, print_progress=progress
    )
    for request, acc in accumulators.items():
        key, name = names[request]
        values = (results or {}).get(key, {}).get(name)
        if not values:
            raise RuntimeError(
                f"engine {type(engine).__name__}: predict returned no statistics for "
                f"{request.node[0]!r} port {request.node[1]} (a stats_layout key it was given)"
            )
        for value in values:
            acc.update(value)


def _compact(request: StatRequest) -> Any:
    """Return a function of one inferred tensor whose result feeds an accumulator as it would.

    Extremes and means are reduced over every axis but the samples (and the channel axis),
    keeping the dims; quantile-type statistics need every value (a copy: engines reuse their
    output buffers); a shape recorder needs the shape only (a zero-stride array).
    """
    stat = request.stat
    axis = request.channel_axis

    def reduced_axes(x: np.ndarray) -> tuple[int, ...]:
        keep = {0, (axis + x.ndim) % x.ndim} if axis is not None else {0}
        return tuple(a for a in range(x.ndim) if a not in keep)

    def fn(tensor: Any) -> np.ndarray:
        x = np.asarray(tensor)
        if stat == "shape":
            return np.broadcast_to(np.zeros((), x.dtype), x.shape)
        if x.ndim < 2 or stat not in ("min", "max", "abs_max", "mean"):
            return np.array(x, copy=True)
        axes = reduced_axes(x)
        reduced: np.ndarray  # keepdims=True: always an array
        if stat == "min":
            reduced = x.min(axis=axes, keepdims=True)
        elif stat == "max":
            reduced = x.max(axis=axes, keepdims=True)
        elif stat == "abs_max":
            reduced = np.abs(x).max(axis=axes, keepdims=True)
        else:
            reduced = x.mean(axis=axes, dtype=np.float64, keepdims=True).astype(x.dtype)
        return reduced

    return fn


class NonFiniteStatisticsError(FastpotError, ValueError):
    """Statistics of some node are inf or NaN: no FakeQuantize range can be made from them."""


def _finite(value: Any) -> bool:
    if value is None:
        return True
    a = np.asarray(value)
    return not np.issubdtype(a.dtype, np.floating) or bool(np.isfinite(a).all())


def _per_sample_nonfinite(tensor: Any) -> np.ndarray:
    x = np.asarray(tensor)
    if x.ndim == 0:
        return np.array([not np.isfinite(x)])
    flags: np.ndarray = ~np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    return flags


def _result(acc: Any, request: StatRequest) -> Any:
    try:
        return acc.result()
    except (RuntimeError, ValueError) as exc:
        raise RuntimeError(
            f"statistic {request.stat}/{request.how} of {request.node[0]!r} port "
            f"{request.node[1]}: {exc}"
        ) from None
