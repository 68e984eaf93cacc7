"""``MinMaxQuantization``: FakeQuantize placement and ranges from min/max statistics."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import openvino.opset13 as ops

from fastpot.algorithms._common import Stage, stage_params, stages, stat_sampler
from fastpot.algorithms.algorithm import Algorithm, UnsupportedParameterError
from fastpot.algorithms.range_estimator import Estimator, activation_estimators, weight_estimators
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.graph.fq_insertion import (
    FQPlan,
    Placement,
    insert_fake_quantize,
    plan_fake_quantize,
    weight_channels,
)
from fastpot.graph.hardware import QuantConfig
from fastpot.graph.model import CompressedModel
from fastpot.graph.value_range import nonnegative_outputs
from fastpot.kernels import fq_params, reduce_per_sample
from fastpot.statistics.collector import StatisticsCollector, StatRequest

__all__ = ["MinMaxQuantization"]

logger = logging.getLogger("fastpot.algorithms.min_max")


@COMPRESSION_ALGORITHMS.register()
class MinMaxQuantization(Algorithm):
    """Insert FakeQuantize nodes and set their ranges from activation statistics.

    Parameters (POT's): ``target_device``, ``preset``, ``stat_subset_size``,
    ``stat_batch_size``, ``shuffle_data``, ``seed``, ``range_estimator``, ``weights``,
    ``activations``, ``saturation_fix``, ``ignored``, ``model_type``, ``inplace_statistics``,
    ``dump_intermediate_model``.
    """

    name = "MinMaxQuantization"

    def __init__(self, config: Any, engine: Any) -> None:
        super().__init__(config, engine)
        if "target_device" not in self._config:
            # POT crashed with "unhashable type: 'Dict'"; say what is missing instead.
            raise ValueError(f"{self.name}: 'target_device' is required in the params")
        weights_estimator = (self._config.get("weights") or {}).get("range_estimator") or {}
        for end in ("min", "max"):
            if (weights_estimator.get(end) or {}).get("clipping_value") is not None:
                raise UnsupportedParameterError(
                    f"{self.name}: weights.range_estimator.{end}.clipping_value is not "
                    "supported by fastpot (clipping applies to activation ranges only)"
                )
        #: Layers realigned by channel alignment: they get the saturation fix too.
        self.saturate_also: set[str] = set()
        #: Placement of the last run (of its last sub-model), and per sub-model name.
        self.placement: Placement | None = None
        self.placements: dict[str | None, Placement] = {}
        self._plans: dict[str, tuple[FQPlan, dict[str, StatRequest]]] = {}

    @property
    def change_original_model(self) -> bool:
        """MinMax only quantizes: later statistics still see the FP32 model (POT)."""
        return False

    # ---- statistics --------------------------------------------------------------------------

    def _requests(self, placement: Placement, stage: Stage) -> dict[str, dict[str, StatRequest]]:
        g = placement.graph
        nonnegative = nonnegative_outputs(g)
        out = {}
        for plan in placement.plans:
            if plan.group != "activations":
                continue
            assert plan.config is not None
            node = stage.node((g.name(plan.source[0]), plan.source[1]))
            estimators = activation_estimators(
                self._config, plan.config.mode, plan.config.granularity
            )
            ends = {
                end: _request(node, est, end, plan.config.granularity)
                for end, est in estimators.items()
            }
            if plan.config.mode == "symmetric" and plan.source in nonnegative:
                # Its minimum would only tell the sign, known here: not measured.
                del ends["min"]
            out[plan.name] = ends
        return out

    def compute_total_exec_steps(self, model: CompressedModel | None = None) -> int:
        """Estimate the progress units: one statistics pass over the subset."""
        self.total_exec_steps = len(stat_sampler(self._engine, self._config))
        return self.total_exec_steps

    def register_statistics(self, model: CompressedModel, collector: StatisticsCollector) -> None:
        """Register per-FQ activation statistics on the producer of each quantized tensor."""
        super().register_statistics(model, collector)
        requests = []
        for stage in stages(model, self.name, self._config):
            placement = plan_fake_quantize(stage.model, stage_params(self._config, stage))
            requests += [
                r for ends in self._requests(placement, stage).values() for r in ends.values()
            ]
        collector.register(self.name, requests, stat_sampler(self._engine, self._config))

    # ---- quantization ------------------------------------------------------------------------

    def run(self, model: CompressedModel) -> CompressedModel:
        """Insert FQs into `model` (in place) and fill their ranges; returns `model`."""
        if self._algo_collector is None:
            raise RuntimeError(f"{self.name}: statistics were not collected (use a Pipeline)")
        stats = self._algo_collector.get_statistics_for_algorithm(self.name)
        self.placements = {}
        counts = {"activations": 0, "weights": 0}
        for stage in stages(model, self.name, self._config):
            self.placement = self._quantize_stage(stage, stats)
            self.placements[stage.name] = self.placement
            for plan in self.placement.plans:
                counts["weights" if plan.group == "weights" else "activations"] += 1
        if self._config.get("dump_intermediate_model"):
            if not self._config.get("exec_log_dir"):
                logger.warning(
                    "%s: dump_intermediate_model needs exec_log_dir (the pot command line "
                    "sets it); nothing dumped",
                    self.name,
                )
            else:
                from fastpot.graph.io import save_model  # noqa: PLC0415

                save_model(model, f"{self._config.exec_log_dir}/optimized")
        # Weight FQs do not stay FQs in a saved IR: compress_model_weights (run by `pot`
        # unless --keep-uncompressed-weights) folds them into int8 constants with a scale.
        logger.info(
            "%s: %d FakeQuantize nodes (%d on activations, %d on weights; the weight "
            "FakeQuantizes become int8 constants with a scale when the weights are compressed)",
            self.name,
            counts["activations"] + counts["weights"],
            counts["activations"],
            counts["weights"],
        )
        return model

    def _quantize_stage(self, stage: Stage, stats: dict[StatRequest, Any]) -> Placement:
        """Insert and fill the FQs of one (sub-)model; returns its placement."""
        ov_model = stage.model
        placement = plan_fake_quantize(ov_model, stage_params(self._config, stage))
        requests = self._requests(placement, stage)
        nodes = insert_fake_quantize(
            ov_model,
            placement,
            weight_statistics=self._weight_statistics_fn(),
            # ACA names the layers it realigned with the stage prefix (none: a single model)
            saturate_also={
                n[len(stage.prefix) :] for n in self.saturate_also if n.startswith(stage.prefix)
            },
        )
        ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for plan in placement.plans:
            if plan.group != "activations":
                continue
            assert plan.config is not None
            ends = requests[plan.name]
            missing = [r for r in ends.values() if r not in stats]
            if missing:
                raise RuntimeError(
                    f"{self.name}: no statistics for {plan.name} ({missing[0].node[0]!r}); "
                    "the model changed after statistics were collected"
                )
            rank = _rank(nodes[plan.name])
            ranges[plan.name] = _activation_range(
                plan.config,
                activation_estimators(self._config, plan.config.mode, plan.config.granularity),
                {end: stats[r] for end, r in ends.items()},
                rank,
            )
        for group in placement.unified_groups:  # a unified group shares its widest range
            members = [n for n in group if n in ranges]
            if len(members) < 2:
                continue
            low = np.minimum.reduce(np.broadcast_arrays(*(ranges[n][0] for n in members)))
            high = np.maximum.reduce(np.broadcast_arrays(*(ranges[n][1] for n in members)))
            for n in members:
                ranges[n] = (low, high)
        for name, (low, high) in ranges.items():
            _set_ranges(nodes[name], low, high, low, high)
        ov_model.validate_nodes_and_infer_types()
        return placement

    def _weight_statistics_fn(self) -> Any:
        params = self._config

        def compute(
            w: np.ndarray, axes: tuple[int, ...], config: QuantConfig
        ) -> tuple[np.ndarray | None, np.ndarray]:
            estimators = weight_estimators(params, config.mode)
            flat, shape = weight_channels(w, axes)
            values = {}
            for end, est in estimators.items():
                if config.mode == "symmetric" and end == "min":
                    continue
                v = reduce_per_sample(flat, est.type, q=est.quantile_level(end))
                values[end] = np.asarray(v, dtype=np.float32).reshape(shape)
            return values.get("min"), values["max"]

        return compute


def _request(node: tuple[str, int], est: Estimator, end: str, granularity: str) -> StatRequest:
    per_channel = (est.granularity or granularity) == "perchannel"
    assert est.aggregator is not None
    return StatRequest(
        node=node,
        stat=est.type,
        how=est.aggregator,
        channel_axis=1 if per_channel else None,
        q=est.quantile_level(end),
    )


def _rank(fq: Any) -> int:
    shape = fq.input(0).get_partial_shape()
    return shape.rank.get_length() if shape.rank.is_static else 0


def _activation_range(
    config: QuantConfig,
    estimators: dict[str, Estimator],
    values: dict[str, Any],
    rank: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Input range of an activation FQ from aggregated statistics."""

    def shaped(v: Any) -> np.ndarray:
        a = np.asarray(v, dtype=np.float32)
        if a.ndim == 1 and rank >= 2:  # per channel: [1, C, 1, ...]
            return a.reshape([1, a.size] + [1] * (rank - 2))
        return a

    low = shaped(values.get("min", 0.0))  # absent: a tensor >= 0 by construction
    high = shaped(values["max"])
    fq = fq_params(
        low,
        high,
        mode=config.mode,
        kind="activations",
        bits=config.bits,
        level_low=config.level_low,
        level_high=config.level_high,
    )
    il, ih = fq.input_low, fq.input_high
    if config.mode == "asymmetric" and il.ndim == 0 and rank:
        il, ih = il.reshape([1] * rank), ih.reshape([1] * rank)  # POT's per-tensor shape
    clip_low = estimators["min"].clipping_value if "min" in estimators else None
    clip_high = estimators["max"].clipping_value
    if clip_high is not None:
        ih = np.minimum(ih, np.float32(clip_high))
    if clip_low is not None:
        il = np.maximum(il, np.float32(clip_low))
    return il, ih


def _set_ranges(fq: Any, il: np.ndarray, ih: np.ndarray, ol: np.ndarray, oh: np.ndarray) -> None:
    for port, value in enumerate((il, ih, ol, oh), start=1):
        const = ops.constant(np.asarray(value, dtype=np.float32))
        fq.input(port).replace_source_output(const.output(0))
