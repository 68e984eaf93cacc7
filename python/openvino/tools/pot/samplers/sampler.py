"""POT's ``openvino.tools.pot.samplers.sampler``: ``Sampler`` (fastpot.samplers)."""

from __future__ import annotations

from fastpot.samplers import Sampler

__all__ = ["Sampler"]
