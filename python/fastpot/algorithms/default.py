"""``DefaultQuantization``: ACA -> MinMax -> FastBiasCorrection / BiasCorrection."""

from __future__ import annotations

import logging
from typing import Any

from fastpot.algorithms.algorithm import Algorithm, UnsupportedParameterError
from fastpot.algorithms.bias_correction import BiasCorrection
from fastpot.algorithms.channel_alignment import ActivationChannelAlignment, find_pairs
from fastpot.algorithms.fast_bias_correction import FastBiasCorrection
from fastpot.algorithms.min_max import MinMaxQuantization
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.graph.model import CompressedModel
from fastpot.statistics.collector import StatisticsCollector

__all__ = ["DefaultQuantization"]

logger = logging.getLogger("fastpot.algorithms.default")

_LAYERWISE_KEYS = frozenset(
    {
        "num_samples_for_tuning",
        "batch_size",
        "calibration_indices_pool",
        "calculate_grads_on_loss_increase_only",
        "update_every_batch",
        "use_ranking_subset",
        "tuning_ignored_scope",
        "optimizer",
        "loss",
        "seed",
        "weight_tuning_params",
        "bias_tuning_params",
        "fq_tuning_params",
    }
)
_GNA = ("GNA", "GNA3", "GNA3.5")


@COMPRESSION_ALGORITHMS.register()
class DefaultQuantization(Algorithm):
    """POT's default 8-bit quantization.

    ActivationChannelAlignment (its own statistics pass on the FP32 model, skipped when the
    model has no pair to align), then MinMaxQuantization and FastBiasCorrection (one merged
    statistics pass on the aligned FP32 model), or BiasCorrection with ``use_fast_bias:
    false`` (its statistics, on a smaller subset, take a pass of their own). All receive the
    same parameters.
    """

    name = "DefaultQuantization"
    extra_params = _LAYERWISE_KEYS

    def __init__(self, config: Any, engine: Any) -> None:
        super().__init__(config, engine)
        if self._config.get("use_layerwise_tuning"):
            raise UnsupportedParameterError(
                f"{self.name}: use_layerwise_tuning (torch-based layerwise fine-tuning) is not "
                "supported by fastpot; remove it or set it to false"
            )
        if str(self._config.get("target_device", "")).upper() in _GNA:
            raise UnsupportedParameterError(
                f"{self.name}: target_device {self._config.target_device!r} (GNA's 16-bit "
                "scheme and OverflowCorrection) is not supported by fastpot"
            )
        use_fast = self._config.get("use_fast_bias", True)
        bias_cls = FastBiasCorrection if use_fast in (True, {}) else BiasCorrection
        self.channel_alignment = ActivationChannelAlignment(
            self._params_for(ActivationChannelAlignment), engine
        )
        self.min_max = MinMaxQuantization(self._params_for(MinMaxQuantization), engine)
        self.bias_correction: FastBiasCorrection | BiasCorrection = bias_cls(
            self._params_for(bias_cls), engine
        )

    def _params_for(self, cls: type[Algorithm]) -> dict[str, Any]:
        # Every sub-algorithm gets the same params; keys only the chain knows stay here.
        known = cls.known_params()
        return {k: v for k, v in self._config.items() if k in known}

    @property
    def change_original_model(self) -> bool:
        """False: the chain runs its own statistics passes (as in POT)."""
        return False

    @property
    def algorithms(self) -> list[Algorithm]:
        """The sub-algorithms, in order."""
        return [self.channel_alignment, self.min_max, self.bias_correction]

    def compute_total_exec_steps(self, model: CompressedModel | None = None) -> int:
        """Estimate the inferred samples: ACA's pass (if any), the merged pass, BC's passes."""
        steps = self.min_max.compute_total_exec_steps(model)
        if model is not None and _has_pairs(model):
            steps += self.channel_alignment.compute_total_exec_steps(model)
        if isinstance(self.bias_correction, BiasCorrection):
            steps += self.bias_correction.compute_total_exec_steps(model)
        self.total_exec_steps = steps
        return steps

    def register_statistics(self, model: CompressedModel, collector: StatisticsCollector) -> None:
        """Nothing up front: the chain collects on the model each step leaves."""
        super().register_statistics(model, collector)

    def run(self, model: CompressedModel) -> CompressedModel:
        """Quantize `model` in place; returns it."""
        collector = self._algo_collector or StatisticsCollector(self._engine)
        if _has_pairs(model):
            self.channel_alignment.register_statistics(model, collector)
            collector.compute_statistics(model)
            model = self.channel_alignment.run(model)
            self.min_max.saturate_also = set(self.channel_alignment.realigned)
        self.min_max.register_statistics(model, collector)
        self.bias_correction.register_statistics(model, collector)
        collector.compute_statistics(model)
        model = self.min_max.run(model)
        model = self.bias_correction.run(model)
        return model

    def statistics(self) -> dict[str, Any]:
        """Return the merged statistics of the sub-algorithms."""
        merged: dict[str, Any] = {}
        for algo in self.algorithms:
            merged.update(algo.statistics())
        return merged


def _has_pairs(model: CompressedModel) -> bool:
    """Whether channel alignment has anything to do in any (sub-)model."""
    return any(find_pairs(entry["model"]) for entry in model.models)
