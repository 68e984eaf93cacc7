"""POT's ``openvino.tools.pot.samplers.batch_sampler``: ``BatchSampler`` (fastpot.samplers)."""

from __future__ import annotations

from fastpot.samplers import BatchSampler

__all__ = ["BatchSampler"]
