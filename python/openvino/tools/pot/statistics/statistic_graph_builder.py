"""POT's ``openvino.tools.pot.statistics.statistic_graph_builder``: ``StatisticGraphBuilder``.

``insert_statistic(model, stats_layout, stat_aliases)`` names the tensors a statistics pass
exports, per sub-model (fastpot.compat.pot_engine; no in-graph reductions are inserted).
"""

from __future__ import annotations

from fastpot.compat.pot_engine import StatisticGraphBuilder

__all__ = ["StatisticGraphBuilder"]
