"""POT's ``api.samples.speech.data_loader``: ``ArkDataLoader`` (fastpot.samples.kaldi_ark)."""

from __future__ import annotations

from fastpot.samples.kaldi_ark import ArkDataLoader

__all__ = ["ArkDataLoader"]
