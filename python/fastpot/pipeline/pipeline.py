"""``Pipeline``: runs algorithms in order, collecting their statistics in shared passes."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import openvino as ov

from fastpot import __version__
from fastpot.algorithms.algorithm import Algorithm
from fastpot.graph.model import CompressedModel
from fastpot.statistics.collector import StatisticsCollector
from fastpot.utils.logger import progress_wanted
from fastpot.utils.progress import run_progress

__all__ = ["Pipeline"]

logger = logging.getLogger("fastpot.pipeline")


class Pipeline:
    """A sequence of algorithms applied to a model.

    Algorithms are grouped: whenever an algorithm that changes the FP32 model is appended,
    the statistics of the whole group are collected on the current model (one pass per
    sampler size) and the group runs in order.
    """

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._algo_seq: list[Algorithm] = []
        self.collector = StatisticsCollector(engine)

    @property
    def algo_seq(self) -> list[Algorithm]:
        """The algorithms, in order."""
        return self._algo_seq

    def add_algo(self, algo: Algorithm) -> None:
        """Append an algorithm (an :class:`~fastpot.algorithms.Algorithm` instance)."""
        if isinstance(algo, type) or not callable(getattr(algo, "run", None)):
            what = f"the class {algo.__name__}" if isinstance(algo, type) else type(algo).__name__
            raise TypeError(
                f"add_algo: expected an Algorithm instance, e.g. MinMaxQuantization(params, "
                f"engine), got {what}"
            )
        self._algo_seq.append(algo)

    def run(self, model: CompressedModel) -> CompressedModel:
        """Apply every algorithm to `model` and return the result.

        `model` is edited in place, as POT's algorithms did; pass ``model.copy()`` to keep
        the original.
        """
        if not isinstance(model, CompressedModel):
            raise TypeError("model: expected a CompressedModel (from fastpot.load_model)")
        logger.info("fastpot %s, OpenVINO %s", __version__, ov.get_version())
        start = time.perf_counter()
        total = sum(algo.compute_total_exec_steps(model) for algo in self._algo_seq)
        with run_progress(total, "quantization", enabled=progress_wanted()):
            group: list[Algorithm] = []
            for algo in self._algo_seq:
                group.append(algo)
                if algo.change_original_model:
                    model = self._run_group(model, group)
                    group = []
            if group:
                model = self._run_group(model, group)
        logger.info("Pipeline finished in %.2f s", time.perf_counter() - start)
        return model

    def _run_group(self, model: CompressedModel, group: list[Algorithm]) -> CompressedModel:
        for algo in group:
            algo.register_statistics(model, self.collector)
        self.collector.compute_statistics(model)
        for algo in group:
            logger.info("Start algorithm: %s", algo.name)
            algo.algo_collector = self.collector
            model = algo.run(model)
            logger.info("Finished: %s", algo.name)
        return model

    def evaluate(self, model: CompressedModel) -> Any:
        """Metrics of `model` on the engine's whole data set (None without a metric)."""
        self._engine.calculate_metrics = True
        self._engine.set_model(model)
        metrics, _ = self._engine.predict(print_progress=progress_wanted())
        if metrics is not None and not isinstance(metrics, Mapping):
            metric = getattr(self._engine, "metric", None)
            owner = f"metric {type(metric).__name__}" if metric is not None else "the engine"
            raise TypeError(
                f"evaluate: {owner} reported {type(metrics).__name__} {metrics!r:.60}; "
                "avg_value must be {name: float} (one average per metric)"
            )
        return metrics
