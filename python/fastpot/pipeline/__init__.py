"""Pipelines of compression algorithms."""

from __future__ import annotations

from fastpot.pipeline.initializer import create_pipeline
from fastpot.pipeline.pipeline import Pipeline

__all__ = ["Pipeline", "create_pipeline"]
