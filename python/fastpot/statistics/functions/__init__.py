"""POT's statistic functions, as thin wrappers over :mod:`fastpot.kernels`.

* :mod:`.activations` — per-batch activation statistics, per tensor (``[N]``) or per channel
  (``[N, C]``);
* :mod:`.weights` — weight statistics, per tensor or per filter (output channel);
* :mod:`.aggregation` — aggregators reducing the per-batch statistics to one value (or one
  per channel).
"""

from __future__ import annotations

from fastpot.statistics.functions.activations import ACTIVATIONS_STATS_FN
from fastpot.statistics.functions.aggregation import AGGREGATION_FN
from fastpot.statistics.functions.weights import WEIGHTS_STATS_FN

__all__ = ["ACTIVATIONS_STATS_FN", "AGGREGATION_FN", "WEIGHTS_STATS_FN"]
