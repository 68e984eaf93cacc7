"""Model layer: CompressedModel, load/save, FakeQuantize placement, weight compression."""

from __future__ import annotations

from fastpot.graph.compression import compress_model_weights
from fastpot.graph.fq_insertion import (
    FQPlan,
    QuantizationScheme,
    insert_fake_quantize,
    plan_fake_quantize,
)
from fastpot.graph.io import WeightsMismatchError, load_model, save_model
from fastpot.graph.model import CompressedModel

__all__ = [
    "CompressedModel",
    "FQPlan",
    "QuantizationScheme",
    "WeightsMismatchError",
    "compress_model_weights",
    "insert_fake_quantize",
    "load_model",
    "plan_fake_quantize",
    "save_model",
]
