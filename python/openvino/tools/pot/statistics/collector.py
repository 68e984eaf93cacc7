"""POT's ``openvino.tools.pot.statistics.collector``: ``StatisticsCollector``, ``collect_statistics``.

:class:`StatisticsCollector` is fastpot's collector (:class:`fastpot.statistics.collector.
StatisticsCollector`, which fastpot's algorithms register :class:`StatRequest` lists with)
that also takes POT's registrations: ``register(algo_name, stats_layout, sampler,
layers_mapping=None)`` with a layout ``{node_name: {stat_name: fn}}``, where ``fn`` is any
callable applied to the node's output of each batch (POT's ``TensorStatistic`` objects are
such callables). After ``compute_statistics(model)``, ``get_statistics_for_algorithm(name)``
gives POT's ``{node_name: {stat_name: [value per batch]}}``. As in POT:

* algorithms whose samplers have the same class and ``num_samples`` share one inference
  pass, and a function registered by several of them (equal objects) runs once;
* a second ``register`` for the same algorithm adds the statistics it did not have;
* every ``compute_statistics`` call runs all POT-style registrations again and appends
  the new per-batch values (POT's accumulation);
* ``layers_mapping`` (``{current_name: original_name}``) collects on the original node name
  and reports under the current one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastpot.statistics.collector import StatisticsCollector as _FastpotCollector

__all__ = ["StatisticsCollector", "collect_statistics"]

Layout = dict[Any, dict[str, Callable[..., Any]]]


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an odd __eq__ just means "not the same function"
        return False


class StatisticsCollector(_FastpotCollector):
    """fastpot's statistics collector with POT's ``stats_layout`` registrations as well.

    Parameters
    ----------
    engine : Engine
        The engine whose ``predict(stats_layout, sampler)`` computes POT-style layouts
        (fastpot's :class:`~fastpot.engines.IEEngine` or a POT-style engine).
    """

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._pot_engine = engine
        self._layout_by_algo: dict[str, Layout] = {}
        self._samplers: dict[str, Any] = {}
        self._names_map_by_algo: dict[str, dict[Any, Any]] = {}
        self._accumulated_stats_by_algo: dict[str, dict[Any, dict[str, list[Any]]]] = {}

    @property
    def accumulated_stats_by_algo(self) -> dict[str, dict[Any, dict[str, list[Any]]]]:
        """``{algo_name: {node_name: {stat_name: [values]}}}`` of the POT-style registrations."""
        return self._accumulated_stats_by_algo

    def register(
        self,
        algo_name: str,
        stats_layout: Any,
        sampler: Any,
        layers_mapping: Mapping[Any, Any] | None = None,
    ) -> None:
        """Register statistics for `algo_name`: a POT layout or a list of fastpot requests.

        Parameters
        ----------
        algo_name : str
            The algorithm's name (the key of :meth:`get_statistics_for_algorithm`).
        stats_layout : dict or list
            POT's ``{node_name: {stat_name: fn}}``, or fastpot's list of ``StatRequest``.
        sampler : Sampler
            The samples to run.
        layers_mapping : dict, optional
            ``{current_node_name: original_node_name}`` (POT layouts only).
        """
        if not isinstance(stats_layout, Mapping):
            if layers_mapping:
                raise TypeError(
                    "StatisticsCollector.register: layers_mapping applies to POT-style "
                    "{node_name: {stat_name: fn}} layouts only"
                )
            super().register(algo_name, stats_layout, sampler)
            return
        mapping = dict(layers_mapping or {})
        self._names_map_by_algo[algo_name] = mapping
        layout: Layout = {}
        for node, stats in stats_layout.items():
            if not isinstance(stats, Mapping):
                raise TypeError(
                    f"StatisticsCollector.register: statistics of {node!r} must be a "
                    f"{{stat_name: fn}} mapping, got {type(stats).__name__}"
                )
            for name, fn in stats.items():
                if not callable(fn):
                    raise TypeError(f"statistic {name!r} of {node!r} is not callable")
            layout[mapping.get(node, node)] = dict(stats)
        existing = self._layout_by_algo.get(algo_name)
        if existing is None:
            self._layout_by_algo[algo_name] = layout
        else:
            for node, stats in layout.items():
                target = existing.setdefault(node, {})
                for name, fn in stats.items():
                    target.setdefault(name, fn)
        self._samplers[algo_name] = sampler

    def compute_statistics(self, model: Any, print_progress: bool = False) -> None:
        """Run the inference passes for every registration (fastpot's and POT's)."""
        super().compute_statistics(model, print_progress)
        if not self._layout_by_algo:
            return
        if not any(self._layout_by_algo.values()):
            for name in self._layout_by_algo:
                self._accumulated_stats_by_algo.setdefault(name, {})
            return
        self._pot_engine.set_model(model)
        for names, sampler in self._sampler_groups():
            merged: dict[Any, list[Callable[..., Any]]] = {}
            for name in names:
                for node, stats in self._layout_by_algo[name].items():
                    functions = merged.setdefault(node, [])
                    for fn in stats.values():
                        if not any(_same(fn, known) for known in functions):
                            functions.append(fn)
            layout = {
                node: {f"stat_{i}": fn for i, fn in enumerate(fns)} for node, fns in merged.items()
            }
            _, values = self._pot_engine.predict(
                stats_layout=layout, sampler=sampler, print_progress=print_progress
            )
            for name in names:
                self._accumulate(name, merged, values)

    def _sampler_groups(self) -> list[tuple[list[str], Any]]:
        """POT's grouping: same sampler class and the same (known) ``num_samples``."""
        groups: list[tuple[list[str], Any]] = []
        for name, sampler in self._samplers.items():
            size = getattr(sampler, "num_samples", None)
            for names, first in groups:
                if (
                    isinstance(sampler, type(first))
                    and size is not None
                    and size == getattr(first, "num_samples", None)
                ):
                    names.append(name)
                    break
            else:
                groups.append(([name], sampler))
        return groups

    def _accumulate(
        self,
        algo_name: str,
        merged: dict[Any, list[Callable[..., Any]]],
        values: dict[Any, dict[str, list[Any]]],
    ) -> None:
        reverse = {
            original: current for current, original in self._names_map_by_algo[algo_name].items()
        }
        stored = self._accumulated_stats_by_algo.setdefault(algo_name, {})
        for node, stats in self._layout_by_algo[algo_name].items():
            per_node = stored.setdefault(reverse.get(node, node), {})
            for stat_name, fn in stats.items():
                position = next(i for i, known in enumerate(merged[node]) if _same(fn, known))
                per_node.setdefault(stat_name, []).extend(values[node][f"stat_{position}"])

    def get_statistics_for_algorithm(self, algo_name: str) -> Any:
        """Return the statistics collected for `algo_name`.

        Returns
        -------
        dict
            POT layouts: ``{node_name: {stat_name: [value per batch]}}``; fastpot
            requests: ``{StatRequest: value}``.

        Raises
        ------
        KeyError
            Nothing was registered for `algo_name`.
        RuntimeError
            Registered, but ``compute_statistics`` has not run since.
        """
        if algo_name in self._layout_by_algo:
            if algo_name not in self._accumulated_stats_by_algo:
                raise RuntimeError(
                    f"statistics of {algo_name} are registered but not computed: run "
                    "compute_statistics(model) first"
                )
            return self._accumulated_stats_by_algo[algo_name]
        return super().get_statistics_for_algorithm(algo_name)


def collect_statistics(engine: Any, model: Any, algo_seq: Any) -> None:
    """Register the statistics of every algorithm of `algo_seq`, then compute them (POT's).

    Each algorithm's ``register_statistics(model, collector)`` runs with one shared
    :class:`StatisticsCollector`, so the algorithms afterwards find their statistics.
    """
    algorithms = list(algo_seq or [])
    if not algorithms:
        return
    collector = StatisticsCollector(engine)
    for algorithm in algorithms:
        algorithm.register_statistics(model, collector)
    collector.compute_statistics(model)
