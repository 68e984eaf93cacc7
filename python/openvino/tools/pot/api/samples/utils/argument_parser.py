"""POT's ``api.samples.utils.argument_parser``: ``get_common_argparser`` (fastpot.samples)."""

from __future__ import annotations

from fastpot.samples.argument_parser import get_common_argparser

__all__ = ["get_common_argparser"]
