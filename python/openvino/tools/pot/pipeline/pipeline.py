"""POT's ``openvino.tools.pot.pipeline.pipeline``: ``Pipeline``."""

from __future__ import annotations

from fastpot.pipeline.pipeline import Pipeline

__all__ = ["Pipeline"]
