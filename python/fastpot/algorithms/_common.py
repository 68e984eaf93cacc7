"""Small helpers the algorithms share: the statistics sampler and the model they edit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openvino as ov

from fastpot.graph.model import CompressedModel
from fastpot.samplers import create_sampler

__all__ = ["single_model", "stat_sampler", "subset_size"]


def subset_size(engine: Any, params: Mapping[str, Any]) -> int:
    """``stat_subset_size`` clipped to the loader (default: the whole loader)."""
    loader = engine.data_loader
    if loader is None:
        raise ValueError("engine: an engine with a data loader is needed to collect statistics")
    n = len(loader)
    size = params.get("stat_subset_size")
    if size in (None, {}):
        return n
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"stat_subset_size: {size!r} is not a positive integer")
    return min(size, n)


def stat_sampler(engine: Any, params: Mapping[str, Any], samples: int | None = None) -> Any:
    """Build the sampler statistics are collected with (spec 1.6, 3)."""
    n = subset_size(engine, params) if samples is None else samples
    batch = params.get("stat_batch_size") or 1
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"stat_batch_size: {batch!r} is not a positive integer")
    return create_sampler(
        engine,
        n,
        shuffle_data=bool(params.get("shuffle_data", False)),
        seed=int(params.get("seed", 0) or 0),
        batch_size=min(batch, n),
    )


def single_model(model: CompressedModel, algorithm: str) -> ov.Model:
    """Return the OpenVINO model an algorithm edits (cascades are refused)."""
    if not isinstance(model, CompressedModel):
        raise TypeError(f"{algorithm}: expected a CompressedModel (from load_model)")
    if model.is_cascade:
        raise NotImplementedError(
            f"{algorithm}: cascades are not supported by fastpot's algorithms yet; "
            "quantize each sub-model separately"
        )
    return model.get_model()
