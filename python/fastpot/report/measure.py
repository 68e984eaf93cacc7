"""The report's inference pass: quantization error per layer and observed activations.

One pass over the samples runs a clone of the FP32 model and a clone of the quantized model
side by side, each with extra outputs (the caller's models are never changed):

* the output of every quantized layer (after its bias) in both models, for the layer's
  signal-to-quantization-noise ratio ``SQNR = 10 log10(sum(fp32^2) / sum((fp32 - q)^2))``
  in dB, summed over all samples (``inf`` where the outputs are identical);
* the same for every model output;
* in the FP32 model, the tensor every activation FakeQuantize quantizes: its minimum,
  maximum, mean, standard deviation, the fraction of values outside the FakeQuantize's
  input range, and a histogram over a strided subsample of at most
  :data:`HISTOGRAM_VALUES` values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openvino as ov

from fastpot.report.model_facts import FakeQuantizeFacts, LayerFacts, ModelFacts, original_name

__all__ = ["HISTOGRAM_BINS", "HISTOGRAM_VALUES", "Measurements", "Observed", "measure", "sqnr_db"]

HISTOGRAM_BINS = 64
HISTOGRAM_VALUES = 200_000

NodeKey = tuple[str, int]  # (friendly name, output port)


def sqnr_db(signal_energy: float, noise_energy: float) -> float:
    """``10 log10(signal / noise)``; ``inf`` without noise, ``-inf`` without signal."""
    if noise_energy == 0.0:
        return math.inf
    if signal_energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_energy / noise_energy)


@dataclass
class _Energy:
    signal: float = 0.0
    noise: float = 0.0

    def add(self, reference: np.ndarray, other: np.ndarray) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        diff = ref - np.asarray(other, dtype=np.float64)
        self.signal += float(np.sum(ref * ref))
        self.noise += float(np.sum(diff * diff))

    @property
    def sqnr(self) -> float:
        return sqnr_db(self.signal, self.noise)


@dataclass
class Observed:
    """The FP32 distribution of the tensor an activation FakeQuantize quantizes."""

    minimum: float
    maximum: float
    mean: float
    std: float
    values: int  # every value seen (all samples)
    below_range: float  # fraction of values < input_low
    above_range: float  # fraction of values > input_high
    histogram_edges: np.ndarray
    histogram_counts: np.ndarray
    histogram_values: int  # values in the subsample the histogram counts


@dataclass
class _Activation:
    """Running statistics of one FakeQuantize's input."""

    low: np.ndarray
    high: np.ndarray
    per_sample: int
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    squares: float = 0.0
    count: int = 0
    below: int = 0
    above: int = 0
    kept: list[np.ndarray] = field(default_factory=list)

    def add(self, tensor: np.ndarray) -> None:
        x = np.asarray(tensor, dtype=np.float32)
        if x.size == 0:
            return
        finite = np.isfinite(x)
        values = x if finite.all() else x[finite]
        if values.size == 0:
            return
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))
        as64 = values.astype(np.float64)
        self.total += float(as64.sum())
        self.squares += float(np.dot(as64.reshape(-1), as64.reshape(-1)))
        self.count += int(values.size)
        try:  # per-channel ranges broadcast against the tensor; others are scalars
            self.below += int(np.count_nonzero(x < self.low))
            self.above += int(np.count_nonzero(x > self.high))
        except ValueError:
            self.below += int(np.count_nonzero(values < self.low.min()))
            self.above += int(np.count_nonzero(values > self.high.max()))
        flat = values.reshape(-1)
        step = max(1, math.ceil(flat.size / self.per_sample))
        self.kept.append(flat[::step].copy())

    def result(self) -> Observed | None:
        if self.count == 0:
            return None
        mean = self.total / self.count
        variance = max(self.squares / self.count - mean * mean, 0.0)
        lo = min(self.minimum, float(self.low.min()))
        hi = max(self.maximum, float(self.high.max()))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        sample = np.concatenate(self.kept)
        counts, edges = np.histogram(sample, bins=HISTOGRAM_BINS, range=(lo, hi))
        return Observed(
            minimum=self.minimum,
            maximum=self.maximum,
            mean=mean,
            std=math.sqrt(variance),
            values=self.count,
            below_range=self.below / self.count,
            above_range=self.above / self.count,
            histogram_edges=edges.astype(np.float64),
            histogram_counts=counts.astype(np.int64),
            histogram_values=int(sample.size),
        )


@dataclass
class Measurements:
    """What :func:`measure` found."""

    samples: int
    layer_sqnr: dict[str, float]  # by layer name; layers missing from the FP32 model absent
    outputs: list[tuple[str, float]]  # (output name, SQNR dB), in model output order
    observed: dict[str, Observed]  # by activation FakeQuantize name
    notes: list[str] = field(default_factory=list)


def _node_key(output: Any) -> NodeKey:
    return output.get_node().get_friendly_name(), output.get_index()


class _Probe:
    """A clone of a model with extra outputs, compiled; reads them per inference."""

    def __init__(self, model: ov.Model, wanted: Sequence[NodeKey], core: ov.Core, device: str):
        self.model = model.clone()
        by_name = {op.get_friendly_name(): op for op in self.model.get_ops()}
        extra = []
        self.missing: set[NodeKey] = set()
        for name, port in wanted:
            node = by_name.get(name)
            if node is None or port >= node.get_output_size():
                self.missing.add((name, port))
                continue
            extra.append(node.output(port))
        if extra:
            self.model.add_outputs(extra)
        self.index: dict[NodeKey, int] = {}
        for i, result in enumerate(self.model.get_results()):
            self.index.setdefault(_node_key(result.input_value(0)), i)
        config = {"INFERENCE_PRECISION_HINT": "f32"} if device.upper().startswith("CPU") else {}
        self.request = core.compile_model(self.model, device, config).create_infer_request()
        self.outputs = len(model.outputs)

    def infer(self, feed: dict[int, np.ndarray]) -> None:
        self.request.infer(feed)

    def read(self, key: NodeKey) -> np.ndarray | None:
        i = self.index.get(key)
        return None if i is None else np.asarray(self.request.get_output_tensor(i).data)

    def model_output(self, i: int) -> np.ndarray:
        return np.asarray(self.request.get_output_tensor(i).data)


def _layer_outputs(layer: LayerFacts, original_names: set[str]) -> tuple[NodeKey, NodeKey]:
    """(key in the quantized model, key in the FP32 model) of the layer's compared output."""
    quantized = _node_key(layer.output())
    original = (original_name(quantized[0]), quantized[1])
    if original[0] not in original_names:  # e.g. a bias Add that bias correction added
        quantized = _node_key(layer.node.output(0))
        original = (original_name(quantized[0]), quantized[1])
    return quantized, original


def _output_name(output: Any) -> str:
    names = sorted(output.get_names())
    return names[0] if names else str(output.get_node().get_friendly_name())


def measure(
    original: ov.Model,
    quantized: ov.Model,
    facts: ModelFacts,
    original_feeds: Sequence[dict[int, np.ndarray]],
    quantized_feeds: Sequence[dict[int, np.ndarray]],
    device: str = "CPU",
) -> Measurements:
    """Run both models once over the feeds; see the module docstring.

    Parameters
    ----------
    original, quantized : openvino.Model
        The FP32 and the quantized model (not modified: clones are compiled).
    facts : ModelFacts
        The quantized model's facts (:func:`~fastpot.report.model_facts.read_model_facts`).
    original_feeds, quantized_feeds : sequence of dict
        The same samples as ``{input index: array}`` for each model.
    device : str
        OpenVINO device; on CPU both models run in f32 precision.

    Returns
    -------
    Measurements
    """
    names = {op.get_friendly_name() for op in original.get_ops()}
    layer_keys = {layer.name: _layer_outputs(layer, names) for layer in facts.layers}
    activations: dict[str, tuple[FakeQuantizeFacts, NodeKey]] = {}
    for fq in facts.activation_fake_quantizes:
        key = _node_key(fq.source)
        activations[fq.name] = (fq, (original_name(key[0]), key[1]))

    core = ov.Core()
    wanted_fp32 = [o for _, o in layer_keys.values()] + [k for _, k in activations.values()]
    fp32 = _Probe(original, wanted_fp32, core, device)
    int8 = _Probe(quantized, [q for q, _ in layer_keys.values()], core, device)

    count = len(original_feeds)
    layer_energy = {name: _Energy() for name in layer_keys}
    output_energy = [_Energy() for _ in range(min(fp32.outputs, int8.outputs))]
    per_sample = max(1, HISTOGRAM_VALUES // max(count, 1))
    running = {
        name: _Activation(fq.input_low, fq.input_high, per_sample)
        for name, (fq, _) in activations.items()
    }
    skipped: set[str] = set()
    for feed_fp32, feed_int8 in zip(original_feeds, quantized_feeds, strict=True):
        fp32.infer(feed_fp32)
        for name, (_, key) in activations.items():
            tensor = fp32.read(key)
            if tensor is not None:
                running[name].add(tensor)
        int8.infer(feed_int8)
        for name, (q_key, o_key) in layer_keys.items():
            reference, value = fp32.read(o_key), int8.read(q_key)
            if reference is None or value is None or reference.shape != value.shape:
                skipped.add(name)
                continue
            layer_energy[name].add(reference, value)
        for i, energy in enumerate(output_energy):
            reference, value = fp32.model_output(i), int8.model_output(i)
            if reference.shape == value.shape:
                energy.add(reference, value)

    notes = []
    if skipped:
        notes.append(
            f"no SQNR for {len(skipped)} layer(s) without a matching FP32 output: "
            + ", ".join(sorted(skipped)[:10])
        )
    observed = {}
    for name, stats in running.items():
        result = stats.result()
        if result is not None:
            observed[name] = result
    return Measurements(
        samples=count,
        layer_sqnr={
            name: energy.sqnr
            for name, energy in layer_energy.items()
            if count and name not in skipped
        },
        outputs=[
            (_output_name(quantized.outputs[i]), energy.sqnr)
            for i, energy in enumerate(output_energy)
            if count
        ],
        observed=observed,
        notes=notes,
    )
