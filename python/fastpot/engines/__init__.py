"""Inference engines."""

from __future__ import annotations

from fastpot.engines.ie_engine import IEEngine

__all__ = ["IEEngine"]
