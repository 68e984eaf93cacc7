"""Activation statistics: requests, the collector that serves several algorithms per pass."""

from __future__ import annotations

from fastpot.statistics.collector import StatisticsCollector, StatRequest

__all__ = ["StatRequest", "StatisticsCollector"]
