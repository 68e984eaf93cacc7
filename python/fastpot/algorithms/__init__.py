"""Compression algorithms with POT's names, parameters and defaults."""

from __future__ import annotations

from fastpot.algorithms.accuracy_aware import AccuracyAwareQuantization
from fastpot.algorithms.algorithm import Algorithm, UnsupportedParameterError
from fastpot.algorithms.bias_correction import BiasCorrection
from fastpot.algorithms.channel_alignment import ActivationChannelAlignment
from fastpot.algorithms.default import DefaultQuantization
from fastpot.algorithms.fast_bias_correction import FastBiasCorrection
from fastpot.algorithms.min_max import MinMaxQuantization
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS, Registry

__all__ = [
    "COMPRESSION_ALGORITHMS",
    "AccuracyAwareQuantization",
    "ActivationChannelAlignment",
    "Algorithm",
    "BiasCorrection",
    "DefaultQuantization",
    "FastBiasCorrection",
    "MinMaxQuantization",
    "Registry",
    "UnsupportedParameterError",
]
