"""POT's ``openvino.tools.pot.statistics.statistics``: statistic objects of a stats_layout.

``TensorStatistic(fn, *args, **kwargs)`` computes ``fn(tensor, *args, **kwargs)``;
``compute_statistic`` applies one to a tensor or to ``(outputs, key)`` (fastpot.compat).
"""

from __future__ import annotations

from fastpot.compat.pot_engine import Statistic, TensorStatistic, compute_statistic

__all__ = ["Statistic", "TensorStatistic", "compute_statistic"]
