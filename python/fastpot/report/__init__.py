"""What quantization did to a model: :func:`build_report` and :class:`QuantizationReport`.

``build_report(original, quantized, samples)`` lists every FakeQuantize of the quantized IR
(activation and weight ones counted apart, weights compressed to integers counted apart
again), every quantized layer with its quantizers, its bias change and the SQNR of its
output, the observed FP32 distribution of every quantized activation, and, when given,
AccuracyAwareQuantization's steps. ``report.save(folder)`` writes
``quantization_report.json`` and a self-contained ``quantization_report.html``.

Cascades are refused: build one report per sub-model, with that sub-model's own samples.
"""

from __future__ import annotations

from fastpot.report.collect import build_report
from fastpot.report.report import HTML_FILE, JSON_FILE, QuantizationReport
from fastpot.report.samples import samples_from_engine

__all__ = ["HTML_FILE", "JSON_FILE", "QuantizationReport", "build_report", "samples_from_engine"]
