"""POT's ``openvino.tools.pot.samplers.creator``: ``create_sampler`` (fastpot.samplers)."""

from __future__ import annotations

from fastpot.samplers import create_sampler

__all__ = ["create_sampler"]
