"""``ActivationChannelAlignment``: equalise channel ranges of linear conv pairs.

For a producer layer feeding a 1x1-style consumer Convolution with nothing but its bias in
between, the producer's per-channel output range is centred (bias shift, compensated in the
consumer's bias) and scaled to a common width (producer weights and bias divided, consumer
weights multiplied per input channel), so that per-tensor activation quantization loses less.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino.opset13 as ops

from fastpot.algorithms._common import Stage, stages, stat_sampler
from fastpot.algorithms.algorithm import Algorithm
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.graph.layers import Layer, find_layers, replace_constant
from fastpot.graph.model import CompressedModel
from fastpot.statistics.collector import StatisticsCollector, StatRequest

__all__ = ["ActivationChannelAlignment"]

logger = logging.getLogger("fastpot.algorithms.channel_alignment")

_QUANTILE = 1e-4
# POT's IR reader made every GroupConvolution a "Convolution" with a group attribute, so its
# channel alignment takes depthwise/grouped producers too (the consumer must be plain).
_PRODUCERS = ("Convolution", "GroupConvolution", "MatMul")
_CONVOLUTIONS = ("Convolution", "GroupConvolution")
_SCALE_CLIP = (0.01, 100.0)


@dataclass
class _Pair:
    producer: Layer
    consumer: Layer

    @property
    def tensor(self) -> tuple[str, int]:
        out = self.producer.output()
        return str(out.get_node().get_friendly_name()), int(out.get_index())


def _is_plain_conv(node: Any) -> bool:
    attrs = node.get_attributes()
    return (
        node.get_type_name() == "Convolution"
        and all(p == 0 for p in list(attrs.get("pads_begin", [])) + list(attrs.get("pads_end", [])))
        and all(s == 1 for s in attrs.get("strides", []))
        and all(d == 1 for d in attrs.get("dilations", []))
    )


def find_pairs(model: Any) -> list[_Pair]:
    """Find the producer -> consumer pairs ACA realigns, in consumer-name order."""
    layers = find_layers(model)
    by_node = {layer.node.get_friendly_name(): layer for layer in layers}
    pairs = []
    for consumer in layers:
        if not _is_plain_conv(consumer.node):
            continue
        src = consumer.node.input_value(0)
        node = src.get_node()
        producer = None
        if node.get_type_name() == "Add":  # the producer's bias Add
            for layer in layers:
                if (
                    layer.bias_add is not None
                    and layer.bias_add.get_friendly_name() == node.get_friendly_name()
                ):
                    producer = layer
        elif node.get_type_name() in _PRODUCERS:
            producer = by_node.get(node.get_friendly_name())
        if producer is None or producer.type not in _PRODUCERS:
            continue
        if len(producer.output().get_target_inputs()) != 1:
            continue
        pairs.append(_Pair(producer, consumer))
    return sorted(pairs, key=lambda p: p.consumer.name)


def _requests(pair: _Pair, stage: Stage) -> tuple[StatRequest, StatRequest]:
    node = stage.node(pair.tensor)
    return (
        StatRequest(node, "quantile", "median", channel_axis=1, q=_QUANTILE),
        StatRequest(node, "quantile", "median", channel_axis=1, q=1 - _QUANTILE),
    )


@COMPRESSION_ALGORITHMS.register()
class ActivationChannelAlignment(Algorithm):
    """Realign channel ranges of producer -> consumer convolution pairs (POT's ACA)."""

    name = "ActivationChannelAlignment"

    def __init__(self, config: Any, engine: Any) -> None:
        super().__init__(config, engine)
        #: Consumers realigned by the last run; they get the saturation fix.
        self.realigned: set[str] = set()

    def compute_total_exec_steps(self, model: CompressedModel | None = None) -> int:
        """Estimate the progress units: one statistics pass over the subset."""
        self.total_exec_steps = len(stat_sampler(self._engine, self._config))
        return self.total_exec_steps

    def register_statistics(self, model: CompressedModel, collector: StatisticsCollector) -> None:
        """Per-channel tail quantiles of every producer's output."""
        super().register_statistics(model, collector)
        requests = [
            r
            for stage in stages(model, self.name)
            for p in find_pairs(stage.model)
            for r in _requests(p, stage)
        ]
        collector.register(self.name, requests, stat_sampler(self._engine, self._config))

    def run(self, model: CompressedModel) -> CompressedModel:
        """Rewrite the pairs' weights and biases in place; returns `model`."""
        todo = [s for s in stages(model, self.name) if find_pairs(s.model)]
        if not todo:
            return model
        if self._algo_collector is None:
            raise RuntimeError(f"{self.name}: statistics were not collected (use a Pipeline)")
        stats = self._algo_collector.get_statistics_for_algorithm(self.name)
        for stage in todo:
            ov_model = stage.model
            pairs = find_pairs(ov_model)
            # Requests as registered: a zero bias added below renames a producer's output.
            requests = [_requests(p, stage) for p in pairs]
            for i in range(len(pairs)):
                pair = find_pairs(ov_model)[i]  # fresh: an earlier pair may have replaced them
                low_req, high_req = requests[i]
                self._align(pair, np.asarray(stats[low_req]), np.asarray(stats[high_req]))
                self.realigned.add(stage.prefix + pair.consumer.name)
            ov_model.validate_nodes_and_infer_types()
            logger.info("%s: realigned %d layer pair(s)", self.name, len(pairs))
        return model

    @staticmethod
    def _align(pair: _Pair, low: np.ndarray, high: np.ndarray) -> None:
        producer, consumer = pair.producer, pair.consumer
        # POT gave every bias-free convolution a zero bias Add at load (<conv>/add_): the
        # mean shift and its compensation go there.
        for layer in (producer, consumer):
            _ensure_bias(layer)
        w_in = np.asarray(producer.weights.get_data(), dtype=np.float64)
        w_shape = w_in.shape
        if producer.type == "GroupConvolution":  # [G, O/G, I/G, k...] -> [G*O/G, I/G, k...]
            w_in = w_in.reshape((w_shape[0] * w_shape[1], *w_shape[2:]))
        w_out = np.asarray(consumer.weights.get_data(), dtype=np.float64)
        b_in = None if producer.bias is None else np.asarray(producer.bias.get_data(), np.float64)
        b_out = None if consumer.bias is None else np.asarray(consumer.bias.get_data(), np.float64)
        mean = (low.astype(np.float64) + high) / 2
        width = high.astype(np.float64) - low
        channels = mean.size
        if b_in is not None and b_out is not None and b_in.size == channels:
            b_in = b_in - mean.reshape(b_in.shape)
            summed = w_out.reshape(w_out.shape[0], w_out.shape[1], -1).sum(axis=2)
            b_out = b_out + (summed @ mean).reshape(b_out.shape)
        positive = width > 0
        if positive.any():
            f = np.where(positive, width / np.median(width[positive]), np.float32(1))
            f = np.clip(f, *_SCALE_CLIP)
            if w_in.shape[0] == f.size and w_out.shape[1] == f.size:
                w_in = w_in / f.reshape([-1] + [1] * (w_in.ndim - 1))
                if b_in is not None:
                    b_in = b_in / f.reshape(b_in.shape)
                w_out = w_out * f.reshape([1, -1] + [1] * (w_out.ndim - 2))
        replace_constant(producer.weights, w_in.reshape(w_shape))
        replace_constant(consumer.weights, w_out)
        if b_in is not None:
            assert producer.bias is not None
            replace_constant(producer.bias, b_in)
        if b_out is not None:
            assert consumer.bias is not None
            replace_constant(consumer.bias, b_out)


def _ensure_bias(layer: Layer) -> None:
    """Give a bias-free convolution a zero bias Add ``<name>/add_``, as POT had one."""
    if layer.bias is not None or layer.type not in _CONVOLUTIONS:
        return
    out = layer.node.output(0)
    shape = out.get_partial_shape()
    if not shape.rank.is_static or not shape[1].is_static:
        return
    bias_shape = [1] * shape.rank.get_length()
    bias_shape[1] = shape[1].get_length()
    targets = list(out.get_target_inputs())
    dtype = out.get_element_type().to_dtype()
    bias = ops.constant(np.zeros(bias_shape, dtype), name=f"{layer.name}/add_/bias")
    add = ops.add(out, bias, name=f"{layer.name}/add_")
    for target in targets:
        target.replace_source_output(add.output(0))
    layer.bias_add, layer.bias = add, bias
