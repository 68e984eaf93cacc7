"""POT's ``openvino.tools.pot.engines.ie_engine``: ``IEEngine`` (fastpot.engines.ie_engine)."""

from __future__ import annotations

from fastpot.engines.ie_engine import IEEngine

__all__ = ["IEEngine"]
