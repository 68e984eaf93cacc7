"""``StatisticsCollector``: one inference pass serves every algorithm that can share it.

Algorithms register :class:`StatRequest` objects with the sampler they want (POT spec 5.6).
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

from fastpot.kernels import StatisticAccumulator

__all__ = ["ShapeRecorder", "StatRequest", "StatisticsCollector"]

logger = logging.getLogger("fastpot.statistics")

NodeKey = tuple[str, int]  # (producer friendly name, output port)


@dataclass(frozen=True)
class StatRequest:
    """One aggregated statistic of one tensor.

    ``stat`` is a per-sample statistic of :func:`fastpot.kernels.reduce_per_sample` or
    ``"shape"`` (the most common tensor shape seen); ``how`` an aggregator of
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


class StatisticsCollector:
    """Collects registered statistics for several algorithms with as few passes as possible.

    Parameters
    ----------
    engine : Engine
        An :class:`fastpot.engines.IEEngine` (statistics go straight into accumulators) or any
        POT-style engine whose ``predict`` accepts a ``stats_layout``.
    """

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._registered: dict[str, tuple[list[StatRequest], Any]] = {}
        self._results: dict[str, dict[StatRequest, Any]] = {}
        self.passes = 0  # inference passes run so far (reported by AccuracyAware)

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
        """Compute `requests` in one inference pass."""
        accumulators = {r: r.new_accumulator() for r in requests}
        self._run_pass(model, accumulators, sampler, progress)
        return {r: _result(acc, r) for r, acc in accumulators.items()}

    def _run_pass(
        self, model: Any, accumulators: dict[StatRequest, Any], sampler: Any, progress: bool
    ) -> None:
        by_node: dict[NodeKey, list[Any]] = {}
        for request, acc in accumulators.items():
            by_node.setdefault(request.node, []).append(acc)
        engine = self._engine
        engine.set_model(model)
        logger.info("Start computing statistics for %d tensors", len(by_node))
        if hasattr(engine, "collect_statistics"):
            engine.collect_statistics(by_node, sampler, print_progress=progress)
        else:  # a custom POT-style engine: statistics through predict's stats_layout
            layout = {
                node: {f"acc{i}": acc.update for i, acc in enumerate(accs)}
                for node, accs in by_node.items()
            }
            engine.predict(stats_layout=layout, sampler=sampler, print_progress=progress)
        self.passes += 1

    def get_statistics_for_algorithm(self, algo_name: str) -> dict[StatRequest, Any]:
        """``{request: value}`` computed for `algo_name`."""
        if algo_name not in self._results:
            raise KeyError(f"no statistics were collected for {algo_name}")
        return self._results[algo_name]


def _result(acc: Any, request: StatRequest) -> Any:
    try:
        return acc.result()
    except (RuntimeError, ValueError) as exc:
        raise RuntimeError(
            f"statistic {request.stat}/{request.how} of {request.node[0]!r} port "
            f"{request.node[1]}: {exc}"
        ) from None
