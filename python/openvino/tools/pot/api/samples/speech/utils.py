"""POT's ``api.samples.speech.utils``: ``ArkEngine`` (fastpot.samples.ark_engine)."""

from __future__ import annotations

from fastpot.samples.ark_engine import ArkEngine

__all__ = ["ArkEngine"]
