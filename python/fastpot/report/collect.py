"""``build_report``: what quantization did to a model, as a :class:`QuantizationReport`.

The report's content (``QuantizationReport.to_dict()``, also ``quantization_report.json``):

``model``
    Name, inputs and outputs.
``counts``
    FakeQuantize nodes of the quantized IR, split into activation and weight ones, the
    weights compressed to integers (counted apart: they are no FakeQuantize any more), all
    weight quantizers, the quantized layers.
``fake_quantizes``
    Every FakeQuantize by name: kind, levels, granularity, consuming layers, the four
    ranges (each ``{"shape", "min", "max", "values"}``: per-channel values summarised by
    their minimum and maximum, all of them in ``values``), and for activation ones the
    ``observed`` FP32 distribution (statistics, the fraction outside the input range, and a
    histogram).
``compressed_weights``
    Every weight stored as integers: storage type, inferred levels, granularity, scale and
    zero point, the per-channel range of the dequantized weights.
``layers``
    Every quantized layer: its activation FakeQuantizes and weight quantizers (one per
    quantized weight input: Convolution and MatMul have one, LSTM/GRU two), its bias
    change against the FP32 model (bias correction) and the SQNR of its output in dB.
``outputs``
    The SQNR of every model output in dB.
``algorithms``, ``accuracy_aware``
    As given to :func:`build_report` (the latter: AccuracyAwareQuantization's summary).
``notes``
    What the reader should know (samples used, limits).

SQNR values are ``10 log10(sum(fp32^2) / sum((fp32 - quantized)^2))`` over all samples; the
JSON holds the string ``"inf"`` where the outputs are identical (and ``"-inf"`` for an
all-zero FP32 output with an error), ``null`` where there was nothing to measure. No NaN is
ever written.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import openvino as ov

from fastpot.report.measure import Measurements, Observed, measure
from fastpot.report.model_facts import (
    CompressedWeight,
    FakeQuantizeFacts,
    LayerFacts,
    ModelFacts,
    bias_constant,
    original_name,
    read_model_facts,
)
from fastpot.report.report import FORMAT, FORMAT_VERSION, QuantizationReport, json_safe
from fastpot.report.samples import feeds_by_index, sample_list

__all__ = ["build_report"]


def _number(value: Any) -> float | str:
    """Return a float for JSON: 9 significant digits (exact for float32), non-finite as a string."""
    f = float(value)
    if not math.isfinite(f):
        return str(f)
    return float(f"{f:.9g}")


def _range_record(values: np.ndarray) -> dict[str, Any]:
    a = np.asarray(values, dtype=np.float64)
    return {
        "shape": [int(d) for d in a.shape],
        "min": _number(a.min()) if a.size else None,
        "max": _number(a.max()) if a.size else None,
        "values": [_number(v) for v in a.reshape(-1)],
    }


def _ov_model(model: Any, role: str) -> tuple[ov.Model, str | None]:
    """Return the ov.Model of `model` (an ov.Model or a one-model CompressedModel), its name."""
    from fastpot.graph.model import CompressedModel  # noqa: PLC0415 - light, avoids a cycle

    if isinstance(model, ov.Model):
        return model, None
    if isinstance(model, CompressedModel):
        if model.is_cascade:
            names = [entry["name"] for entry in model.models]
            raise ValueError(
                f"build_report: {role} is a cascade of {len(names)} sub-models {names}; the "
                "report covers one model: call build_report once per sub-model with "
                f"{role}.get_model(name) and that sub-model's own input samples"
            )
        return model.get_model(), model.name
    raise TypeError(
        f"build_report: {role} must be an openvino.Model or a CompressedModel, "
        f"got {type(model).__name__}"
    )


def _ports(ports: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": port.get_any_name()
            if port.get_names()
            else port.get_node().get_friendly_name(),
            "shape": str(port.get_partial_shape()),
            "type": port.get_element_type().get_type_name(),
        }
        for port in ports
    ]


def _observed_record(observed: Observed | None) -> dict[str, Any] | None:
    if observed is None:
        return None
    return {
        "min": _number(observed.minimum),
        "max": _number(observed.maximum),
        "mean": _number(observed.mean),
        "std": _number(observed.std),
        "values": observed.values,
        "below_range_fraction": _number(observed.below_range),
        "above_range_fraction": _number(observed.above_range),
        "histogram": {
            "edges": [_number(e) for e in observed.histogram_edges],
            "counts": [int(c) for c in observed.histogram_counts],
            "sampled_values": observed.histogram_values,
        },
    }


def _fake_quantize_record(fq: FakeQuantizeFacts, observed: Observed | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": fq.name,
        "kind": fq.kind,
        "levels": fq.levels,
        "granularity": fq.granularity,
        "layers": list(fq.layers),
        "input_low": _range_record(fq.input_low),
        "input_high": _range_record(fq.input_high),
        "output_low": _range_record(fq.output_low),
        "output_high": _range_record(fq.output_high),
    }
    if fq.kind == "activation":
        record["observed"] = _observed_record(observed)
    return record


def _compressed_record(weight: CompressedWeight) -> dict[str, Any]:
    return {
        "name": weight.name,
        "node": weight.node_name,
        "storage_type": weight.storage_type,
        "levels": weight.levels,
        "granularity": weight.granularity,
        "layers": list(weight.layers),
        "scale": _range_record(weight.scale),
        "zero_point": None if weight.zero_point is None else _range_record(weight.zero_point),
        "integer_range": [weight.integer_low, weight.integer_high],
        "weight_low": _range_record(weight.weight_low),
        "weight_high": _range_record(weight.weight_high),
    }


def _original_node(by_name: Mapping[str, Any], name: str) -> Any | None:
    node = by_name.get(name)
    return by_name.get(original_name(name)) if node is None else node


def _bias_record(layer: LayerFacts, original: Any | None) -> dict[str, Any]:
    """How the bias after `layer` differs from the FP32 model's (bias correction's change)."""
    _, q_const = bias_constant(layer.node)
    _, o_const = bias_constant(original) if original is not None else (None, None)
    quantized = None if q_const is None else np.asarray(q_const.get_data(), np.float64)
    reference = None if o_const is None else np.asarray(o_const.get_data(), np.float64)
    if quantized is None and reference is None:
        return {"status": "none", "max_abs_change": None, "max_relative_change": None}
    if reference is None:
        assert quantized is not None
        largest = float(np.max(np.abs(quantized))) if quantized.size else 0.0
        return {"status": "added", "max_abs_change": _number(largest), "max_relative_change": None}
    if quantized is None:
        return {"status": "removed", "max_abs_change": None, "max_relative_change": None}
    if quantized.size == reference.size:
        quantized = quantized.reshape(reference.shape)
    try:
        diff = np.abs(quantized - reference)
    except ValueError:
        return {"status": "reshaped", "max_abs_change": None, "max_relative_change": None}
    change = float(diff.max()) if diff.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return {
        "status": "changed" if change > 0.0 else "unchanged",
        "max_abs_change": _number(change),
        "max_relative_change": _number(change / scale) if scale > 0.0 else None,
    }


def _weight_summary(
    name: str,
    kind: str,
    fqs: Mapping[str, FakeQuantizeFacts],
    compressed: Mapping[str, CompressedWeight],
) -> dict[str, Any]:
    if kind == "compressed":
        weight = compressed[name]
        return {
            "name": name,
            "kind": "compressed",
            "storage_type": weight.storage_type,
            "levels": weight.levels,
            "granularity": weight.granularity,
            "low": _number(weight.weight_low.min()) if weight.weight_low.size else None,
            "high": _number(weight.weight_high.max()) if weight.weight_high.size else None,
        }
    fq = fqs[name]
    return {
        "name": name,
        "kind": "fake_quantize",
        "levels": fq.levels,
        "granularity": fq.granularity,
        "low": _number(fq.output_low.min()),
        "high": _number(fq.output_high.max()),
    }


def _layer_record(
    layer: LayerFacts,
    facts: ModelFacts,
    original_by_name: Mapping[str, Any],
    measurements: Measurements | None,
) -> dict[str, Any]:
    fqs = {fq.name: fq for fq in facts.fake_quantizes}
    compressed = {c.name: c for c in facts.compressed_weights}
    activations = [
        {
            "name": name,
            "levels": fqs[name].levels,
            "granularity": fqs[name].granularity,
            "low": _number(fqs[name].input_low.min()),
            "high": _number(fqs[name].input_high.max()),
        }
        for name in layer.activation_fake_quantizes
    ]
    sqnr = None if measurements is None else measurements.layer_sqnr.get(layer.name)
    return {
        "name": layer.name,
        "type": layer.type,
        "activation_fake_quantizes": activations,
        "weight_quantizers": [
            _weight_summary(name, kind, fqs, compressed) for name, kind in layer.weight_quantizers
        ],
        "bias": _bias_record(layer, _original_node(original_by_name, layer.name)),
        "sqnr_db": None if sqnr is None else _number(sqnr),
    }


def build_report(
    original: Any,
    quantized: Any,
    samples: Any,
    *,
    algorithms: list[dict[str, Any]] | None = None,
    accuracy_aware: dict[str, Any] | None = None,
    num_samples: int = 8,
    device: str = "CPU",
    model_name: str | None = None,
) -> QuantizationReport:
    """Describe what quantization did to a model (see the module docstring for the content).

    Parameters
    ----------
    original : openvino.Model or CompressedModel
        The FP32 model.
    quantized : openvino.Model or CompressedModel
        The quantized model: with weight FakeQuantizes (after ``Pipeline.run``) or with
        compressed weights (after ``compress_model_weights``). Node names must be those of
        `original` (fastpot keeps them).
    samples : sequence of mapping or numpy.ndarray
        Model inputs for the error and distribution measurements: feed dicts keyed by input
        name (tensor or Parameter name) or index, or plain arrays for a single-input model.
        Empty: the report has no SQNR and no histograms.
    algorithms : list of dict, optional
        The algorithms run, ``[{"name": ..., "params": {...}}]`` (shown in the summary).
    accuracy_aware : dict, optional
        AccuracyAwareQuantization's summary (``AccuracyAwareQuantization.summary`` after a
        run, or the ``accuracy_aware_summary.json`` it wrote).
    num_samples : int
        How many of `samples` to use (the first ones).
    device : str
        OpenVINO device running both models (in f32 precision on CPU).
    model_name : str, optional
        Shown as the model's name (default: the CompressedModel's or the model's name).

    Returns
    -------
    QuantizationReport

    Raises
    ------
    ValueError
        A cascade (report each sub-model separately: its samples are its own), a negative
        `num_samples`, samples that do not fit the model.
    TypeError
        Models or samples of the wrong type.

    Notes
    -----
    Neither model is modified: each is cloned, given extra outputs on the layer outputs and
    the activation FakeQuantizes' inputs, compiled and run once over the samples.
    """
    original_model, original_name = _ov_model(original, "original")
    quantized_model, quantized_name = _ov_model(quantized, "quantized")
    if num_samples < 0:
        raise ValueError(f"build_report: num_samples must be >= 0, got {num_samples}")
    given = sample_list(samples)
    original_feeds = feeds_by_index(original_model, given[:num_samples])
    quantized_feeds = feeds_by_index(quantized_model, given[:num_samples])

    facts = read_model_facts(quantized_model)
    measurements = (
        measure(original_model, quantized_model, facts, original_feeds, quantized_feeds, device)
        if original_feeds
        else None
    )
    original_by_name = {op.get_friendly_name(): op for op in original_model.get_ops()}
    observed = {} if measurements is None else measurements.observed

    name = model_name or quantized_name or original_name or original_model.get_friendly_name() or ""
    weight_fqs = [fq for fq in facts.fake_quantizes if fq.kind == "weight"]
    notes = [
        f"{len(original_feeds)} sample(s) of the {len(given)} given "
        f"measured on {device}"
        + (" (f32 inference precision)" if device.upper().startswith("CPU") else ""),
        (
            "SQNR = 10 log10(sum(fp32^2) / sum((fp32 - quantized)^2)) in dB over all samples; "
            "'inf' means identical outputs"
        ),
    ]
    if measurements is not None:
        notes += measurements.notes
    from fastpot import __version__  # noqa: PLC0415 - the package's own version

    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "fastpot_version": __version__,
        "openvino_version": ov.get_version(),
        "model": {
            "name": name,
            "inputs": _ports(quantized_model.inputs),
            "outputs": _ports(quantized_model.outputs),
        },
        "device": device,
        "samples": len(original_feeds),
        "counts": {
            "fake_quantize_nodes": len(facts.fake_quantizes),
            "activation_fake_quantizes": len(facts.activation_fake_quantizes),
            "weight_fake_quantizes": len(weight_fqs),
            "compressed_weights": len(facts.compressed_weights),
            "weight_quantizers": len(weight_fqs) + len(facts.compressed_weights),
            "quantized_layers": len(facts.layers),
        },
        "algorithms": json_safe(algorithms or []),
        "outputs": []
        if measurements is None
        else [
            {"name": out_name, "sqnr_db": _number(value)}
            for out_name, value in measurements.outputs
        ],
        "layers": [
            _layer_record(layer, facts, original_by_name, measurements) for layer in facts.layers
        ],
        "fake_quantizes": [
            _fake_quantize_record(fq, observed.get(fq.name)) for fq in facts.fake_quantizes
        ],
        "compressed_weights": [_compressed_record(c) for c in facts.compressed_weights],
        "accuracy_aware": None if accuracy_aware is None else json_safe(dict(accuracy_aware)),
        "notes": notes,
    }
    return QuantizationReport(data)
