"""POT's ``openvino.tools.pot.samplers`` (fastpot.samplers)."""

from __future__ import annotations

from fastpot.samplers import BatchSampler, IndexSampler, Sampler, create_sampler

__all__ = ["BatchSampler", "IndexSampler", "Sampler", "create_sampler"]
