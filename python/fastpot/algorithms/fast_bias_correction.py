"""``FastBiasCorrection``: compensate the mean shift weight quantization causes.

For each quantized layer with a bias, POT fed a one-layer copy (quantized weights, no bias,
no input FakeQuantize) a constant input whose channel ``c`` holds the FP32 input mean
``x̄_c``, and set ``bias = ȳ - mean(output)``. For Convolution, GroupConvolution and MatMul
that output mean is a closed form of the quantized weights: a tap of the kernel contributes
in proportion to the fraction of output positions where it lands inside the (zero-padded)
input. fastpot computes it so, without compiling a model per layer; other layer types fall
back to compiling the one-layer model.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fastpot.algorithms._bias import (
    BiasTarget,
    bias_targets,
    channel_shaped,
    fake_quantize,
    propose_bias,
)
from fastpot.algorithms._common import Stage, stage_params, stages, stat_sampler
from fastpot.algorithms.algorithm import Algorithm
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.graph.layers import Layer, find_layers, replace_constant, source_constant
from fastpot.graph.model import CompressedModel
from fastpot.statistics.collector import StatisticsCollector, StatRequest

__all__ = ["FastBiasCorrection", "quantized_weights"]

logger = logging.getLogger("fastpot.algorithms.fast_bias_correction")


def quantized_weights(layer: Layer) -> np.ndarray:
    """Return the weights as the layer computes with them (weights FQ applied), float32."""
    fq = layer.weights_fq()
    if fq is None:
        w = np.asarray(layer.weights.get_data(), dtype=np.float32)
    else:
        data = source_constant(fq.input_value(0))
        assert data is not None
        sources = [source_constant(fq.input_value(i)) for i in range(1, 5)]
        consts = [c for c in sources if c is not None]
        if len(consts) < len(sources):
            raise RuntimeError(f"{fq.get_friendly_name()}: FakeQuantize ranges are not constants")
        il, ih, ol, oh = (np.asarray(c.get_data(), dtype=np.float32) for c in consts)
        w = fake_quantize(data.get_data(), il, ih, ol, oh, int(fq.get_attributes()["levels"]))
    shape = layer.node.get_input_partial_shape(1)
    return w.reshape(shape.to_shape()) if shape.is_static else w


def _tap_fractions(
    in_size: int, out_size: int, k: int, stride: int, dil: int, pad: int
) -> np.ndarray:
    """For each kernel tap, the fraction of output positions where it reads real input."""
    o = np.arange(out_size)
    pos = o[None, :] * stride - pad + np.arange(k)[:, None] * dil
    fractions: np.ndarray = ((pos >= 0) & (pos < in_size)).mean(axis=1)
    return fractions


def _conv_output_mean(
    node: Any, w: np.ndarray, x_mean: np.ndarray, in_shape: tuple[int, ...]
) -> np.ndarray | None:
    attrs = node.get_attributes()
    out_shape = node.get_output_partial_shape(0)
    if not out_shape.is_static:
        return None
    out = out_shape.to_shape()
    grouped = node.get_type_name() == "GroupConvolution"
    kernel = w.shape[3:] if grouped else w.shape[2:]
    weights = np.ones(kernel, dtype=np.float64)
    for d, k in enumerate(kernel):
        frac = _tap_fractions(
            in_shape[2 + d],
            out[2 + d],
            k,
            attrs["strides"][d],
            attrs["dilations"][d],
            attrs["pads_begin"][d],
        )
        weights = weights * frac.reshape([-1 if i == d else 1 for i in range(len(kernel))])
    w64 = w.astype(np.float64)
    if grouped:
        groups, cin_g = w.shape[0], w.shape[2]
        per_tap = (w64 * weights).reshape(*w.shape[:3], -1).sum(axis=3)  # [G, Cout/G, Cin/G]
        x = x_mean.astype(np.float64).reshape(groups, cin_g)
        grouped_mean: np.ndarray = np.einsum("goi,gi->go", per_tap, x).reshape(-1)
        return grouped_mean
    per_tap = (w64 * weights).reshape(*w.shape[:2], -1).sum(axis=2)  # [Cout, Cin]
    mean: np.ndarray = per_tap @ x_mean.astype(np.float64)
    return mean


def _matmul_output_mean(node: Any, w: np.ndarray, x_mean: np.ndarray) -> np.ndarray | None:
    attrs = node.get_attributes()
    if attrs.get("transpose_a") or w.ndim != 2:
        return None
    w2 = w.T if attrs.get("transpose_b") else w  # [K, N]
    mean: np.ndarray = x_mean.astype(np.float64) @ w2.astype(np.float64)
    return mean


def _compiled_output_mean(
    model: ov.Model,
    name: str,
    w: np.ndarray,
    x_mean: np.ndarray,
    in_shape: tuple[int, ...],
    axis: int,
) -> np.ndarray:
    """Fallback: run the one-layer model (quantized weights, no bias) on the mean input."""
    clone = model.clone()
    layer = next(op for op in clone.get_ops() if op.get_friendly_name() == name)
    param = ops.parameter(list(in_shape), np.float32)
    layer.input(0).replace_source_output(param.output(0))
    layer.input(1).replace_source_output(ops.constant(w).output(0))
    model = ov.Model([ops.result(layer)], [param])
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = np.broadcast_to(channel_shaped(x_mean, len(in_shape), axis), in_shape).astype(np.float32)
    y = compiled(x)[0]
    out_axis = axis if axis < y.ndim else y.ndim - 1
    mean: np.ndarray = np.moveaxis(y, out_axis, 0).reshape(y.shape[out_axis], -1).mean(axis=1)
    return mean


def layer_output_mean(
    model: ov.Model, layer: Layer, x_mean: np.ndarray, in_shape: tuple[int, ...]
) -> np.ndarray:
    """Per-channel mean output of the quantized layer (no bias) for a constant mean input."""
    w = quantized_weights(layer)
    mean = None
    if layer.type in ("Convolution", "GroupConvolution"):
        mean = _conv_output_mean(layer.node, w, x_mean, in_shape)
    elif layer.type == "MatMul":
        mean = _matmul_output_mean(layer.node, w, x_mean)
    if mean is None:
        axis = layer.channel_axis if layer.channel_axis > 0 else len(in_shape) - 1
        mean = _compiled_output_mean(model, layer.name, w, x_mean, in_shape, axis)
    return np.asarray(mean, dtype=np.float32)


@COMPRESSION_ALGORITHMS.register()
class FastBiasCorrection(Algorithm):
    """Correct biases of quantized layers from FP32 input/output means (POT's FBC).

    Parameters: ``threshold`` (default 2.0), ``apply_for_all_nodes`` (False), and the
    sampling keys ``stat_subset_size``, ``stat_batch_size``, ``shuffle_data``, ``seed``.
    """

    name = "FastBiasCorrection"
    default_threshold = 2.0

    def __init__(self, config: Any, engine: Any) -> None:
        super().__init__(config, engine)
        #: (stage, target with its statistics names) per candidate layer.
        self._targets: list[tuple[Stage, BiasTarget]] = []
        self._shapes: dict[tuple[str | None, str], StatRequest] = {}
        #: ``{layer: original bias}`` of the biases the last run replaced (for reverting).
        self.original_biases: dict[str, np.ndarray] = {}

    def compute_total_exec_steps(self, model: CompressedModel | None = None) -> int:
        """Estimate the progress units: one statistics pass over the subset."""
        self.total_exec_steps = len(stat_sampler(self._engine, self._config))
        return self.total_exec_steps

    def register_statistics(self, model: CompressedModel, collector: StatisticsCollector) -> None:
        """Per-channel FP32 means of each target's input and output (and input shapes)."""
        super().register_statistics(model, collector)
        self._targets, self._shapes = [], {}
        requests = []
        for stage in stages(model, self.name, self._config):
            ov_model = stage.model
            ops_by_name = {op.get_friendly_name(): op for op in ov_model.get_ops()}
            for plain in bias_targets(ov_model, stage_params(self._config, stage)):
                t = plain.on(stage)
                self._targets.append((stage, t))
                requests += [t.input_mean(), t.output_mean()]
                shape = ops_by_name[plain.input[0]].get_output_partial_shape(plain.input[1])
                if not shape.is_static:
                    self._shapes[stage.name, t.layer] = StatRequest(t.input, "shape")
                    requests.append(self._shapes[stage.name, t.layer])
        collector.register(self.name, requests, stat_sampler(self._engine, self._config))

    def _input_shape(
        self, stage: Stage, t: BiasTarget, layer: Layer, stats: dict[StatRequest, Any]
    ) -> tuple[int, ...]:
        if (stage.name, t.layer) in self._shapes:
            shape = list(stats[self._shapes[stage.name, t.layer]])
        else:
            shape = list(layer.node.get_input_partial_shape(0).to_shape())
        shape[0] = 1
        return tuple(int(d) for d in shape)

    def run(self, model: CompressedModel) -> CompressedModel:
        """Replace biases where the correction is small enough; returns `model`."""
        if self._algo_collector is None:
            raise RuntimeError(f"{self.name}: statistics were not collected (use a Pipeline)")
        stats = self._algo_collector.get_statistics_for_algorithm(self.name)
        threshold = float(self._config.get("threshold") or self.default_threshold)
        live = {s.name: s for s in stages(model, self.name)}
        layers_of: dict[str | None, dict[str, Layer]] = {}
        changed = 0
        for registered, t in self._targets:
            stage = live[registered.name]
            ov_model = stage.model
            if stage.name not in layers_of:
                layers_of[stage.name] = {layer.name: layer for layer in find_layers(ov_model)}
            layer = layers_of[stage.name].get(t.layer)
            if layer is None or layer.bias is None:
                continue
            if layer.weights_fq() is None and not self._config.get("apply_for_all_nodes"):
                continue
            x_mean = np.asarray(stats[t.input_mean()], dtype=np.float32).reshape(-1)
            y_mean = np.asarray(stats[t.output_mean()], dtype=np.float32).reshape(-1)
            q_mean = layer_output_mean(
                ov_model, layer, x_mean, self._input_shape(stage, t, layer, stats)
            )
            proposal = channel_shaped(y_mean - q_mean, t.output_rank, t.output_channel_axis)
            new, magnitude = propose_bias(layer, proposal, threshold)
            if new is None:
                logger.debug("%s: bias kept (magnitude %.3g)", t.layer, magnitude)
                continue
            self.original_biases[stage.prefix + t.layer] = np.asarray(layer.bias.get_data()).copy()
            replace_constant(layer.bias, new)
            changed += 1
        logger.info("%s: corrected %d of %d biases", self.name, changed, len(self._targets))
        return model
