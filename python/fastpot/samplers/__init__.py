"""Samplers: which loader items an engine runs, in which order and batch size."""

from __future__ import annotations

from fastpot.samplers.sampler import BatchSampler, IndexSampler, Sampler, create_sampler

__all__ = ["BatchSampler", "IndexSampler", "Sampler", "create_sampler"]
