"""``BiasCorrection``: layer-by-layer bias correction with cumulative effects.

POT cut a sub-graph per layer from the tensors already known (model inputs, or outputs it
had recorded for earlier layers) and ran it per sample. The numbers are those of the
weight-quantized model (activation FakeQuantizes removed) with every earlier correction in
place; fastpot gets them from that model directly and corrects, per inference pass, every
pending layer with no pending layer upstream of it: one pass per dependency level instead of
one sub-graph per layer.
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
from fastpot.algorithms._common import Stage, stage_params, stages, stat_sampler, subset_size
from fastpot.algorithms.algorithm import Algorithm
from fastpot.algorithms.fast_bias_correction import quantized_weights
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.graph.fq_removal import activation_fake_quantizes, remove_fake_quantize
from fastpot.graph.layers import find_layers, replace_constant, source_constant
from fastpot.graph.model import CompressedModel
from fastpot.statistics.collector import StatisticsCollector

__all__ = ["BiasCorrection"]

logger = logging.getLogger("fastpot.algorithms.bias_correction")


def _ancestors(model: Any, names: set[str]) -> dict[str, set[str]]:
    """For each node in `names`, the members of `names` upstream of it."""
    memo: dict[str, set[str]] = {}
    for node in model.get_ordered_ops():  # topological: inputs are done before their users
        up: set[str] = set()
        for value in node.input_values():
            src = value.get_node()
            sname = src.get_friendly_name()
            up |= memo.get(sname, set())
            if sname in names:
                up.add(sname)
        memo[node.get_friendly_name()] = up
    return {n: memo.get(n, set()) for n in names}


_RECURRENT = ("LSTMSequence", "GRUSequence", "RNNSequence", "LSTMCell", "GRUCell", "RNNCell")


def _fold_recurrent_weights(model: Any) -> None:
    """Replace weight FakeQuantizes that feed recurrent ops by their constant output.

    OpenVINO's CPU plugin needs Constants on a recurrent op's weight ports; with the
    activation FQs gone (the weight-quantized model bias correction measures) nothing
    folds them, so they are folded here: the same numbers, as a Constant.
    """
    for fq in [op for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize"]:
        targets = list(fq.output(0).get_target_inputs())
        if not targets or any(t.get_node().get_type_name() not in _RECURRENT for t in targets):
            continue
        sources = [source_constant(fq.input_value(i)) for i in range(5)]
        values = [v for v in sources if v is not None]
        if len(values) < len(sources):
            continue
        data, il, ih, ol, oh = (np.asarray(v.get_data(), np.float32) for v in values)
        folded = fake_quantize(data, il, ih, ol, oh, int(fq.get_attributes()["levels"]))
        const = ops.constant(folded.astype(np.float32), name=fq.get_friendly_name())
        for target in targets:
            target.replace_source_output(const.output(0))
    model.validate_nodes_and_infer_types()


def _after_parameters(model: Any) -> set[str]:
    """Convolution/MatMul layers reached from a Parameter through no other of them."""
    found: set[str] = set()
    stack = list(model.get_parameters())
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        for output in node.outputs():
            for target in output.get_target_inputs():
                child = target.get_node()
                name = child.get_friendly_name()
                if name in seen:
                    continue
                seen.add(name)
                if child.get_type_name() in ("Convolution", "MatMul"):
                    found.add(name)
                else:
                    stack.append(child)
    return found


def _behind_fake_quantize(model: Any) -> set[str]:
    """Operations downstream of a weight-quantized operation (their input is not FP32)."""
    quantized: set[str] = set()
    behind: set[str] = set()
    for node in model.get_ordered_ops():
        producers = [v.get_node() for v in node.input_values()]
        if any(p.get_type_name() == "FakeQuantize" for p in producers):
            quantized.add(node.get_friendly_name())
        if any(p.get_friendly_name() in quantized | behind for p in producers):
            behind.add(node.get_friendly_name())
    return behind


def _output_mean_on(model: Any, layer: Any, x_mean: np.ndarray, t: BiasTarget) -> np.ndarray:
    """Per-channel mean output (bias included) of the weight-quantized layer on `x_mean`.

    Convolution and MatMul are affine, so the mean of the outputs over the samples is the
    output of the mean sample: one inference of the one-layer model gives it exactly.
    """
    w = quantized_weights(layer)
    param = ops.parameter(list(x_mean.shape), np.float32)
    copy = next(op for op in model.clone().get_ops() if op.get_friendly_name() == layer.name)
    copy.input(0).replace_source_output(param.output(0))
    copy.input(1).replace_source_output(ops.constant(w).output(0))
    out = copy.output(0)
    if layer.bias is not None:
        bias = np.asarray(layer.bias.get_data(), np.float32)
        out = ops.add(out, ops.constant(bias)).output(0)
    model = ov.Model([ops.result(out)], [param])
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    y = np.asarray(compiled(x_mean.astype(np.float32))[0], np.float64)
    axis = t.output_channel_axis
    mean: np.ndarray = np.moveaxis(y, axis, 0).reshape(y.shape[axis], -1).mean(axis=1)
    return mean.astype(np.float32)


def _batch_one(model: Any, targets: list[BiasTarget]) -> list[BiasTarget]:
    """Keep the targets whose layer input has a static batch of 1 (POT corrects no others)."""
    layers = {layer.name: layer for layer in find_layers(model)}
    kept = []
    for t in targets:
        shape = layers[t.layer].node.get_input_partial_shape(0)
        if shape.rank.is_static and shape.rank.get_length() > 0:
            batch = shape[0]
            if batch.is_static and batch.get_length() == 1:
                kept.append(t)
    return kept


@COMPRESSION_ALGORITHMS.register()
class BiasCorrection(Algorithm):
    """POT's BiasCorrection (``use_fast_bias: false``).

    Parameters: ``threshold`` (default 1000), ``apply_for_all_nodes``, and the sampling
    keys; it uses ``max(int(0.2 * stat_subset_size), 1)`` samples. On a cascade (as in POT)
    it uses the whole ``stat_subset_size`` and measures through the engine, which runs the
    whole cascade: the sub-models are corrected in cascade order, so that a later stage's
    inputs (crops, say) come from the earlier stages as already corrected.
    """

    name = "BiasCorrection"
    default_threshold = 1000.0

    def __init__(self, config: Any, engine: Any) -> None:
        super().__init__(config, engine)
        #: (stage, target with its statistics names) per candidate layer.
        self._targets: list[tuple[Stage, BiasTarget]] = []
        self._sampler: Any = None
        #: ``{layer: original bias}`` of the biases the last run replaced (for reverting).
        self.original_biases: dict[str, np.ndarray] = {}
        #: Inference passes the last run spent on the quantized model.
        self.passes = 0
        self._fp32_fed: set[tuple[str | None, str]] = set()

    def _subset(self, model: CompressedModel | None) -> int:
        n = subset_size(self._engine, self._config)
        if model is not None and model.is_cascade:
            return n  # POT: the whole subset, through the engine
        return max(int(0.2 * n), 1)

    def register_statistics(self, model: CompressedModel, collector: StatisticsCollector) -> None:
        """FP32 per-channel means of every target's output, on the smaller subset."""
        super().register_statistics(model, collector)
        self._targets = [
            (stage, t.on(stage))
            for stage in stages(model, self.name, self._config)
            for t in _batch_one(
                stage.model, bias_targets(stage.model, stage_params(self._config, stage))
            )
        ]
        self._sampler = stat_sampler(self._engine, self._config, self._subset(model))
        requests = [t.output_mean() for _, t in self._targets]
        # POT fed the layers reached from a model input through no Convolution/MatMul with
        # their FP32 input (statistics it collected), not with the quantized upstream.
        self._fp32_fed = set()
        if not model.is_cascade:
            for stage, t in self._targets:
                if t.layer in _after_parameters(stage.model):
                    self._fp32_fed.add((stage.name, t.layer))
                    requests.append(t.input_tensor_mean())
        collector.register(self.name, requests, self._sampler)

    def compute_total_exec_steps(self, model: CompressedModel | None = None) -> int:
        """Estimate the samples inferred: the FP32 pass plus one pass per dependency level."""
        n = self._subset(model)
        levels = 1
        if model is not None:
            levels = 0
            for stage in stages(model, self.name):
                targets = _batch_one(
                    stage.model, bias_targets(stage.model, stage_params(self._config, stage))
                )
                up = _ancestors(stage.model, {t.layer for t in targets})
                depth: dict[str, int] = {}
                for t in targets:  # topological order
                    depth[t.layer] = 1 + max(
                        (depth[u] for u in up[t.layer] if u in depth), default=0
                    )
                levels += max(depth.values(), default=0)
        self.total_exec_steps = n * (1 + levels)
        return self.total_exec_steps

    def run(self, model: CompressedModel) -> CompressedModel:
        """Correct biases in place, layer by layer; returns `model`."""
        if self._algo_collector is None:
            raise RuntimeError(f"{self.name}: statistics were not collected (use a Pipeline)")
        fp32 = self._algo_collector.get_statistics_for_algorithm(self.name)
        threshold = float(self._config.get("threshold") or self.default_threshold)
        all_nodes = bool(self._config.get("apply_for_all_nodes"))
        work = model.copy()
        behind_fq: dict[str | None, set[str]] = {}
        for entry in work.models:
            remove_fake_quantize(entry["model"], activation_fake_quantizes(entry["model"]))
            behind_fq[entry.get("name") if work.is_cascade else None] = _behind_fake_quantize(
                entry["model"]
            )
            _fold_recurrent_weights(entry["model"])
        work_stages = {s.name: s for s in stages(work, self.name)}
        collector = StatisticsCollector(self._engine)
        self.passes = 0
        corrected = 0
        # Progress: each pass is an engine loop over the subset, counted into the run's bar.
        for target_stage in stages(model, self.name):
            live = {layer.name: layer for layer in find_layers(target_stage.model)}
            pending = [
                t
                for stage, t in self._targets
                if stage.name == target_stage.name
                and t.layer in live
                and live[t.layer].bias is not None
                and (all_nodes or live[t.layer].weights_fq() is not None)
            ]
            work_model = work_stages[target_stage.name].model
            upstream = _ancestors(work_model, {t.layer for t in pending})
            done: set[str] = set()
            while pending:
                names = {t.layer for t in pending}
                ready = [t for t in pending if not (upstream[t.layer] & names)]
                work_layers = {layer.name: layer for layer in find_layers(work_model)}
                quantized: dict[Any, Any] = {}
                measured = []
                for t in ready:
                    x_mean = fp32.get(t.input_tensor_mean())
                    if (
                        (target_stage.name, t.layer) in self._fp32_fed
                        and t.layer in behind_fq[target_stage.name]
                        and x_mean is not None
                    ):
                        quantized[t.output_mean()] = _output_mean_on(
                            work_model, work_layers[t.layer], x_mean, t
                        )
                    else:
                        measured.append(t)
                if measured:
                    requests = [t.output_mean() for t in measured]
                    collector.register(self.name, requests, self._sampler)
                    collector.compute_statistics(work)
                    self.passes += 1
                    quantized.update(collector.get_statistics_for_algorithm(self.name))
                for t in ready:
                    corrected += self._correct(
                        t, fp32, quantized, work_layers, target_stage, threshold
                    )
                    done.add(t.layer)
                pending = [t for t in pending if t.layer not in done]
        logger.info(
            "%s: corrected %d of %d biases in %d passes",
            self.name,
            corrected,
            len(self._targets),
            self.passes,
        )
        return model

    def _correct(
        self,
        t: BiasTarget,
        fp32: dict[Any, Any],
        quantized: dict[Any, Any],
        work_layers: dict[str, Any],
        target_stage: Stage,
        threshold: float,
    ) -> bool:
        layer = work_layers[t.layer]
        old = np.asarray(layer.bias.get_data(), dtype=np.float32)
        shift = np.asarray(fp32[t.output_mean()], np.float32) - np.asarray(
            quantized[t.output_mean()], np.float32
        )
        shift = channel_shaped(shift, t.output_rank, t.output_channel_axis)
        new, magnitude = propose_bias(layer, old + shift, threshold)
        if new is None:
            logger.debug("%s: bias kept (magnitude %.3g)", t.layer, magnitude)
            return False
        replace_constant(layer.bias, new)
        target = {lay.name: lay for lay in find_layers(target_stage.model)}[t.layer]
        assert target.bias is not None  # the same layer as `layer`, which has a bias
        self.original_biases[target_stage.prefix + t.layer] = np.asarray(
            target.bias.get_data()
        ).copy()
        replace_constant(target.bias, new)
        return True
