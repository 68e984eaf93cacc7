"""POT's ``openvino.tools.pot.statistics.functions`` (fastpot.statistics.functions)."""

from __future__ import annotations

from fastpot.statistics.functions import ACTIVATIONS_STATS_FN, AGGREGATION_FN, WEIGHTS_STATS_FN

__all__ = ["ACTIVATIONS_STATS_FN", "AGGREGATION_FN", "WEIGHTS_STATS_FN"]
