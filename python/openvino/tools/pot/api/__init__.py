"""POT's ``openvino.tools.pot.api``: ``DataLoader``, ``Engine``, ``Metric`` (from fastpot.api)."""

from __future__ import annotations

from fastpot.api import DataLoader, Engine, Metric

__all__ = ["DataLoader", "Engine", "Metric"]
