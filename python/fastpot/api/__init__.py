"""POT's user-facing base classes: DataLoader, Metric, Engine."""

from __future__ import annotations

from fastpot.api.data_loader import DataLoader
from fastpot.api.engine import Engine
from fastpot.api.metric import Metric

__all__ = ["DataLoader", "Engine", "Metric"]
