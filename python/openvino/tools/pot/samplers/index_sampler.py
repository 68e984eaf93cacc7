"""POT's ``openvino.tools.pot.samplers.index_sampler``: ``IndexSampler`` (fastpot.samplers)."""

from __future__ import annotations

from fastpot.samplers import IndexSampler

__all__ = ["IndexSampler"]
