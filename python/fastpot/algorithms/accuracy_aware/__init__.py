"""AccuracyAwareQuantization: quantize, then revert the most harmful layers."""

from __future__ import annotations

from fastpot.algorithms.accuracy_aware.algorithm import AccuracyAwareQuantization
from fastpot.algorithms.accuracy_aware.statistics_cache import CachingStatisticsCollector

__all__ = ["AccuracyAwareQuantization", "CachingStatisticsCollector"]
