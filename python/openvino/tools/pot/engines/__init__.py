"""POT's ``openvino.tools.pot.engines`` (the Accuracy Checker engine is out of scope)."""

from __future__ import annotations

from fastpot.engines import IEEngine

__all__ = ["IEEngine"]
