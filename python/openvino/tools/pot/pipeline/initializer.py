"""POT's ``openvino.tools.pot.pipeline.initializer``: ``create_pipeline``."""

from __future__ import annotations

from fastpot.pipeline.initializer import create_pipeline

__all__ = ["create_pipeline"]
